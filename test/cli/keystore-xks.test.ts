// `keybridge keystore create|update|describe` for both custom key store types: AWS_CLOUDHSM and
// EXTERNAL_KEY_STORE (docs/xks.md "Face 2"). The CLI runs as operators run it (compiled main.js in a
// child process):
//   - usage errors per type exit 2 before any request (the endpoint is dead: a request would exit 1);
//   - on a recording endpoint, the XksProxy* members are sent exactly, the secret read from a file;
//   - against a real keybridge whose proxy port is closed, create reaches the service, which answers
//     XksProxyUriUnreachableException after trying the proxy: the members arrived.
// No run ever prints the proxy's secret.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type CliRun, runCli, runCliAgainst } from '../support/cli.js';
import { freePort } from '../support/free-port.js';
import { startServer, type TestServer } from '../support/server.js';

const SANDBOX = mkdtempSync(join(tmpdir(), 'keybridge-keystore-xks-'));
const ACCESS_KEY_ID = 'AKXKSCLITEST234567ABCDEFGH';
const SECRET = 'XksCliTestSecret/+0123456789abcdefghijklmnop';
const URI_PATH = '/site-a/kms/xks/v1';
const ENDPOINT = 'https://localhost';
const CONFIG_FILE = join(SANDBOX, 'xks-proxy.json');
const SECRET_FILE = join(SANDBOX, 'xks-secret');

/** Every output of every run, checked at the end for the secret. */
const transcript: string[] = [];

async function cli(args: readonly string[], env?: Record<string, string>): Promise<CliRun> {
  const r = await runCli(args, { home: SANDBOX, ...(env === undefined ? {} : { env }) });
  transcript.push(r.stdout, r.stderr);
  return r;
}

function show(r: CliRun): string {
  return `exit ${r.code}\n--- stdout\n${r.stdout}--- stderr\n${r.stderr}`;
}

function ok(r: CliRun): CliRun {
  assert.equal(r.code, 0, show(r));
  assert.equal(r.stderr, '', show(r));
  return r;
}

/** Exit 2, the problem on one line, the hint on the next, nothing on stdout. */
function usageError(r: CliRun, problem: RegExp, helpCommand: string): void {
  assert.equal(r.code, 2, show(r));
  assert.equal(r.stdout, '', show(r));
  const lines = r.stderr.split('\n');
  assert.equal(lines.length, 3, show(r));
  assert.match(lines[0]!, /^keybridge: /, show(r));
  assert.match(lines[0]!, problem, show(r));
  assert.equal(lines[1], `Run '${helpCommand} --help' for usage.`, show(r));
}

function table(stdout: string): string[][] {
  return stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => l.split(/ {2,}/));
}

// A recording KMS endpoint: what the CLI sends, answered from a script.
interface Recorded {
  readonly target: string;
  readonly body: Record<string, unknown>;
}

let recorder: Server;
let recorderUrl: string;
const requests: Recorded[] = [];
let answer: (target: string, body: Record<string, unknown>) => unknown = () => ({});

function startRecorder(): Promise<void> {
  return new Promise((resolve, reject) => {
    recorder = createServer((req, res) => {
      let raw = '';
      req.on('data', (d: Buffer) => (raw += d.toString()));
      req.on('end', () => {
        const target = String(req.headers['x-amz-target'] ?? '').replace(/^TrentService\./, '');
        const body = raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
        requests.push({ target, body });
        res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
        res.end(JSON.stringify(answer(target, body)));
      });
    });
    recorder.once('error', reject);
    recorder.listen(0, '127.0.0.1', () => {
      recorderUrl = `http://127.0.0.1:${(recorder.address() as AddressInfo).port}`;
      resolve();
    });
  });
}

const RECORDER_ENV = { AWS_ACCESS_KEY_ID: 'AKIASCRIPTED00000000', AWS_SECRET_ACCESS_KEY: 's', AWS_REGION: 'us-east-1' };

let dead: string;

before(async () => {
  writeFileSync(
    CONFIG_FILE,
    `${JSON.stringify({ XksProxyUriPath: URI_PATH, XksProxyAuthenticationCredential: { AccessKeyId: ACCESS_KEY_ID, RawSecretAccessKey: SECRET } }, null, 2)}\n`,
    { mode: 0o600 },
  );
  writeFileSync(SECRET_FILE, `${SECRET}\n`, { mode: 0o600 });
  dead = `http://127.0.0.1:${await freePort()}`;
  await startRecorder();
});

after(async () => {
  await new Promise<void>((resolve) => {
    recorder?.closeAllConnections();
    if (recorder) recorder.close(() => resolve());
    else resolve();
  });
  rmSync(SANDBOX, { recursive: true, force: true });
  for (const text of transcript) assert.ok(!text.includes(SECRET), `the proxy secret was printed:\n${text}`);
});

describe('keystore create/update: usage errors per type, exit 2 before any request', () => {
  const create = ['keystore', 'create', '--name', 'n'];
  const xks = [...create, '--type', 'EXTERNAL_KEY_STORE'];
  const cloudhsm = ['--cluster-id', 'cluster-kbExampleTwo', '--trust-anchor-certificate', 'PEM', '--key-store-password', 'Pin1234567'];
  const notJson = join(SANDBOX, 'not-json.json');
  const noCredential = join(SANDBOX, 'no-credential.json');
  const shortSecret = join(SANDBOX, 'short-secret.json');
  const missing = join(SANDBOX, 'no-such-file.json');

  before(() => {
    writeFileSync(notJson, `{"XksProxyUriPath": "${URI_PATH}", "RawSecretAccessKey": "${SECRET}"`);
    writeFileSync(noCredential, JSON.stringify({ XksProxyUriPath: URI_PATH }));
    writeFileSync(shortSecret, JSON.stringify({ XksProxyUriPath: URI_PATH, XksProxyAuthenticationCredential: { AccessKeyId: ACCESS_KEY_ID, RawSecretAccessKey: 'short' } }));
  });

  const cases: Array<[string, () => string[], RegExp, string]> = [
    ['an unknown type', () => [...create, '--type', 'CLOUDHSM'], /--type must be one of AWS_CLOUDHSM, EXTERNAL_KEY_STORE/, 'create'],
    ['AWS_CLOUDHSM (default) without the cluster options', () => create, /missing required options --cluster-id, --trust-anchor-certificate, --key-store-password$/, 'create'],
    ['AWS_CLOUDHSM explicitly, one cluster option missing', () => [...create, '--type', 'AWS_CLOUDHSM', ...cloudhsm.slice(0, 4)], /missing required option --key-store-password$/, 'create'],
    ['AWS_CLOUDHSM with a proxy option', () => [...create, ...cloudhsm, '--xks-proxy-uri-endpoint', ENDPOINT], /--xks-proxy-uri-endpoint is only for --type EXTERNAL_KEY_STORE/, 'create'],
    ['AWS_CLOUDHSM with proxy options', () => [...create, ...cloudhsm, '--xks-proxy-config-file', CONFIG_FILE, '--xks-proxy-connectivity', 'PUBLIC_ENDPOINT'], /--xks-proxy-config-file and --xks-proxy-connectivity are only for --type EXTERNAL_KEY_STORE/, 'create'],
    ['EXTERNAL_KEY_STORE with a cluster option', () => [...xks, '--xks-proxy-uri-endpoint', ENDPOINT, '--xks-proxy-config-file', CONFIG_FILE, '--cluster-id', 'cluster-kbExampleTwo'], /--cluster-id is only for --type AWS_CLOUDHSM/, 'create'],
    ['EXTERNAL_KEY_STORE with all cluster options', () => [...xks, '--xks-proxy-uri-endpoint', ENDPOINT, ...cloudhsm], /--cluster-id, --trust-anchor-certificate and --key-store-password are only for --type AWS_CLOUDHSM/, 'create'],
    ['EXTERNAL_KEY_STORE without the endpoint', () => [...xks, '--xks-proxy-config-file', CONFIG_FILE], /missing required option --xks-proxy-uri-endpoint \(for --type EXTERNAL_KEY_STORE\)/, 'create'],
    ['EXTERNAL_KEY_STORE with neither the file nor path and credential', () => [...xks, '--xks-proxy-uri-endpoint', ENDPOINT], /missing --xks-proxy-config-file, or --xks-proxy-uri-path with --xks-proxy-credential/, 'create'],
    ['EXTERNAL_KEY_STORE with a path but no credential', () => [...xks, '--xks-proxy-uri-endpoint', ENDPOINT, '--xks-proxy-uri-path', URI_PATH], /missing required option --xks-proxy-credential/, 'create'],
    ['EXTERNAL_KEY_STORE with a credential but no path', () => [...xks, '--xks-proxy-uri-endpoint', ENDPOINT, '--xks-proxy-credential', `${ACCESS_KEY_ID}:file://${SECRET_FILE}`], /missing required option --xks-proxy-uri-path/, 'create'],
    ['EXTERNAL_KEY_STORE with the file and a path', () => [...xks, '--xks-proxy-uri-endpoint', ENDPOINT, '--xks-proxy-config-file', CONFIG_FILE, '--xks-proxy-uri-path', URI_PATH], /give --xks-proxy-config-file or --xks-proxy-uri-path, not both/, 'create'],
    ['an endpoint with a port', () => [...xks, '--xks-proxy-uri-endpoint', 'https://localhost:8443', '--xks-proxy-config-file', CONFIG_FILE], /--xks-proxy-uri-endpoint must be https:\/\/HOST/, 'create'],
    ['an http endpoint', () => [...xks, '--xks-proxy-uri-endpoint', 'http://localhost', '--xks-proxy-config-file', CONFIG_FILE], /--xks-proxy-uri-endpoint must be https:\/\/HOST/, 'create'],
    ['an endpoint with a path', () => [...xks, '--xks-proxy-uri-endpoint', `${ENDPOINT}${URI_PATH}`, '--xks-proxy-config-file', CONFIG_FILE], /--xks-proxy-uri-endpoint must be https:\/\/HOST/, 'create'],
    ['a path that is no proxy path', () => [...xks, '--xks-proxy-uri-endpoint', ENDPOINT, '--xks-proxy-uri-path', '/site-a/kms', '--xks-proxy-credential', `${ACCESS_KEY_ID}:file://${SECRET_FILE}`], /--xks-proxy-uri-path must be \/kms\/xks\/v1 or/, 'create'],
    ['a credential without a colon', () => [...xks, '--xks-proxy-uri-endpoint', ENDPOINT, '--xks-proxy-uri-path', URI_PATH, '--xks-proxy-credential', SECRET], /--xks-proxy-credential must be ACCESS_KEY_ID:SECRET/, 'create'],
    ['a credential with a bad access key id', () => [...xks, '--xks-proxy-uri-endpoint', ENDPOINT, '--xks-proxy-uri-path', URI_PATH, '--xks-proxy-credential', `akid:${SECRET}`], /--xks-proxy-credential: the access key id must be/, 'create'],
    ['an inline secret of the wrong shape', () => [...xks, '--xks-proxy-uri-endpoint', ENDPOINT, '--xks-proxy-uri-path', URI_PATH, '--xks-proxy-credential', `${ACCESS_KEY_ID}:${SECRET}!`], /--xks-proxy-credential: the raw secret access key must be 43-64 characters/, 'create'],
    ['a secret file that cannot be read', () => [...xks, '--xks-proxy-uri-endpoint', ENDPOINT, '--xks-proxy-uri-path', URI_PATH, '--xks-proxy-credential', `${ACCESS_KEY_ID}:file://${missing}`], /--xks-proxy-credential: cannot read .*no-such-file\.json \(ENOENT\)/, 'create'],
    ['a configuration file that cannot be read', () => [...xks, '--xks-proxy-uri-endpoint', ENDPOINT, '--xks-proxy-config-file', missing], /--xks-proxy-config-file: cannot read .*no-such-file\.json \(ENOENT\)/, 'create'],
    ['a configuration file that is not JSON', () => [...xks, '--xks-proxy-uri-endpoint', ENDPOINT, '--xks-proxy-config-file', notJson], /--xks-proxy-config-file: .*not-json\.json is not JSON$/, 'create'],
    ['a configuration file without a credential', () => [...xks, '--xks-proxy-uri-endpoint', ENDPOINT, '--xks-proxy-config-file', noCredential], /has no XksProxyAuthenticationCredential object/, 'create'],
    ['a configuration file with a bad secret', () => [...xks, '--xks-proxy-uri-endpoint', ENDPOINT, '--xks-proxy-config-file', `file://${shortSecret}`], /short-secret\.json: the raw secret access key must be/, 'create'],
    ['VPC endpoint service connectivity', () => [...xks, '--xks-proxy-uri-endpoint', ENDPOINT, '--xks-proxy-config-file', CONFIG_FILE, '--xks-proxy-connectivity', 'VPC_ENDPOINT_SERVICE'], /--xks-proxy-connectivity must be one of PUBLIC_ENDPOINT$/, 'create'],
    ['update with nothing', () => ['keystore', 'update', '--id', 'cks-1'], /nothing to update: .*--xks-proxy-uri-endpoint/, 'update'],
    ['update mixing the types', () => ['keystore', 'update', '--id', 'cks-1', '--cluster-id', 'cluster-kbExampleTwo', '--xks-proxy-uri-path', URI_PATH], /--cluster-id \(AWS_CLOUDHSM\) and --xks-proxy-uri-path \(EXTERNAL_KEY_STORE\) cannot be combined/, 'update'],
    ['update with the file and a credential', () => ['keystore', 'update', '--id', 'cks-1', '--xks-proxy-config-file', CONFIG_FILE, '--xks-proxy-credential', `${ACCESS_KEY_ID}:${SECRET}`], /give --xks-proxy-config-file or --xks-proxy-credential, not both/, 'update'],
    ['update with a bad endpoint', () => ['keystore', 'update', '--id', 'cks-1', '--xks-proxy-uri-endpoint', 'https://localhost/'], /--xks-proxy-uri-endpoint must be https:\/\/HOST/, 'update'],
    ['update with a bad configuration file', () => ['keystore', 'update', '--id', 'cks-1', '--xks-proxy-config-file', noCredential], /has no XksProxyAuthenticationCredential object/, 'update'],
  ];
  for (const [what, args, problem, command] of cases) {
    test(`${command}: ${what}`, async () => {
      usageError(await cli(['--endpoint-url', dead, ...args()]), problem, `keybridge keystore ${command}`);
    });
  }
});

describe('keystore help says which options belong to which type', () => {
  test('create', async () => {
    const help = ok(await cli(['keystore', 'create', '--help'])).stdout;
    for (const o of ['--type TYPE', '--xks-proxy-uri-endpoint URL', '--xks-proxy-config-file FILE', '--xks-proxy-uri-path PATH', '--xks-proxy-credential ACCESS_KEY_ID:SECRET', '--xks-proxy-connectivity CONNECTIVITY']) {
      assert.ok(help.includes(o), `create help lacks ${o}:\n${help}`);
    }
    assert.match(help, /--name NAME +\(required\)/);
    assert.match(help, /--cluster-id CLUSTER_ID +AWS_CLOUDHSM: \(required\)/);
    assert.match(help, /--xks-proxy-uri-endpoint URL +EXTERNAL_KEY_STORE: \(required\)/);
    assert.match(help, /--xks-proxy-credential ACCESS_KEY_ID:SECRET +EXTERNAL_KEY_STORE:/);
    assert.match(help, /AWS_CLOUDHSM \(the default/);
  });

  test('update and describe', async () => {
    const update = ok(await cli(['keystore', 'update', '--help'])).stdout;
    for (const o of ['--key-store-password PASSWORD', '--cluster-id CLUSTER_ID', '--xks-proxy-uri-endpoint URL', '--xks-proxy-config-file FILE', '--xks-proxy-uri-path PATH', '--xks-proxy-credential ACCESS_KEY_ID:SECRET']) {
      assert.ok(update.includes(o), `update help lacks ${o}:\n${update}`);
    }
    assert.match(update, /--cluster-id CLUSTER_ID +AWS_CLOUDHSM:/);
    assert.match(update, /--xks-proxy-uri-path PATH +EXTERNAL_KEY_STORE:/);
    assert.match(ok(await cli(['keystore', 'describe', '--help'])).stdout, /EXTERNAL_KEY_STORE/);
  });
});

describe('keystore create/update/describe for external key stores, on a recording endpoint', () => {
  const base = () => ['--endpoint-url', recorderUrl];

  test('create sends the XksProxy* members: from the configuration file, or from the path and a credential with file://', async () => {
    requests.length = 0;
    answer = () => ({ CustomKeyStoreId: 'cks-0123456789abcdef0' });
    const fromFile = ok(await cli([...base(), 'keystore', 'create', '--name', 'site-b', '--type', 'EXTERNAL_KEY_STORE', '--xks-proxy-uri-endpoint', ENDPOINT, '--xks-proxy-config-file', CONFIG_FILE], RECORDER_ENV));
    assert.equal(fromFile.stdout, 'cks-0123456789abcdef0\n');
    const fromOptions = ok(
      await cli(
        [
          ...base(), '--output', 'json', 'keystore', 'create', '--name', 'site-c', '--type', 'EXTERNAL_KEY_STORE', '--xks-proxy-uri-endpoint', 'https://xks.site-c.example.com',
          '--xks-proxy-uri-path', '/kms/xks/v1', '--xks-proxy-credential', `${ACCESS_KEY_ID}:file://${SECRET_FILE}`, '--xks-proxy-connectivity', 'PUBLIC_ENDPOINT',
        ],
        RECORDER_ENV,
      ),
    );
    assert.deepEqual(JSON.parse(fromOptions.stdout), { CustomKeyStoreId: 'cks-0123456789abcdef0' });
    const credential = { AccessKeyId: ACCESS_KEY_ID, RawSecretAccessKey: SECRET };
    assert.deepEqual(requests, [
      {
        target: 'CreateCustomKeyStore',
        body: {
          CustomKeyStoreName: 'site-b', CustomKeyStoreType: 'EXTERNAL_KEY_STORE', XksProxyConnectivity: 'PUBLIC_ENDPOINT',
          XksProxyUriEndpoint: ENDPOINT, XksProxyUriPath: URI_PATH, XksProxyAuthenticationCredential: credential,
        },
      },
      {
        target: 'CreateCustomKeyStore',
        body: {
          CustomKeyStoreName: 'site-c', CustomKeyStoreType: 'EXTERNAL_KEY_STORE', XksProxyConnectivity: 'PUBLIC_ENDPOINT',
          XksProxyUriEndpoint: 'https://xks.site-c.example.com', XksProxyUriPath: '/kms/xks/v1', XksProxyAuthenticationCredential: credential,
        },
      },
    ]);
  });

  test('create of an AWS_CLOUDHSM store (explicit --type) sends no CustomKeyStoreType, as before', async () => {
    requests.length = 0;
    answer = () => ({ CustomKeyStoreId: 'cks-0123456789abcdef1' });
    ok(await cli([...base(), 'keystore', 'create', '--name', 'c', '--type', 'AWS_CLOUDHSM', '--cluster-id', 'cluster-kbExampleTwo', '--trust-anchor-certificate', 'PEM', '--key-store-password', 'Pin1234567'], RECORDER_ENV));
    assert.deepEqual(requests.map((q) => q.body), [{ CustomKeyStoreName: 'c', CloudHsmClusterId: 'cluster-kbExampleTwo', TrustAnchorCertificate: 'PEM', KeyStorePassword: 'Pin1234567' }]);
  });

  test('update sends the XksProxy* members it is given, one request each', async () => {
    requests.length = 0;
    answer = () => ({});
    const id = 'cks-0123456789abcdef0';
    ok(await cli([...base(), 'keystore', 'update', '--id', id, '--xks-proxy-config-file', CONFIG_FILE], RECORDER_ENV));
    ok(await cli([...base(), 'keystore', 'update', '--id', id, '--new-name', 'renamed', '--xks-proxy-uri-endpoint', 'https://xks2.example.com', '--xks-proxy-uri-path', '/kms/xks/v1'], RECORDER_ENV));
    const r = ok(await cli([...base(), 'keystore', 'update', '--id', id, '--xks-proxy-credential', `${ACCESS_KEY_ID}:file://${SECRET_FILE}`], RECORDER_ENV));
    assert.equal(r.stdout, `${id}: updated\n`);
    const credential = { AccessKeyId: ACCESS_KEY_ID, RawSecretAccessKey: SECRET };
    assert.deepEqual(requests, [
      { target: 'UpdateCustomKeyStore', body: { CustomKeyStoreId: id, XksProxyUriPath: URI_PATH, XksProxyAuthenticationCredential: credential } },
      { target: 'UpdateCustomKeyStore', body: { CustomKeyStoreId: id, NewCustomKeyStoreName: 'renamed', XksProxyUriEndpoint: 'https://xks2.example.com', XksProxyUriPath: '/kms/xks/v1' } },
      { target: 'UpdateCustomKeyStore', body: { CustomKeyStoreId: id, XksProxyAuthenticationCredential: credential } },
    ]);
  });

  test('describe: Type and Target (cluster id or proxy URI) per store; json unchanged', async () => {
    requests.length = 0;
    const created = Date.UTC(2025, 0, 2, 12, 0, 0) / 1000;
    const stores = [
      { CustomKeyStoreId: 'cks-000000000000000a1', CustomKeyStoreName: 'cluster-store', CustomKeyStoreType: 'AWS_CLOUDHSM', CloudHsmClusterId: 'cluster-kbExampleTwo', TrustAnchorCertificate: 'PEM', ConnectionState: 'CONNECTED', CreationDate: created },
      {
        CustomKeyStoreId: 'cks-000000000000000b1', CustomKeyStoreName: 'site-b', CustomKeyStoreType: 'EXTERNAL_KEY_STORE', ConnectionState: 'FAILED', ConnectionErrorCode: 'XKS_PROXY_NOT_REACHABLE', CreationDate: created,
        XksProxyConfiguration: { Connectivity: 'PUBLIC_ENDPOINT', AccessKeyId: ACCESS_KEY_ID, UriEndpoint: ENDPOINT, UriPath: URI_PATH },
      },
    ];
    answer = () => ({ CustomKeyStores: stores, Truncated: false });
    const rows = table(ok(await cli([...base(), 'keystore', 'describe'], RECORDER_ENV)).stdout);
    assert.deepEqual(rows, [
      ['Id', 'Name', 'Type', 'Target', 'ConnectionState', 'ConnectionErrorCode', 'CreationDate'],
      ['cks-000000000000000a1', 'cluster-store', 'AWS_CLOUDHSM', 'cluster-kbExampleTwo', 'CONNECTED', '-', '2025-01-02T12:00:00Z'],
      ['cks-000000000000000b1', 'site-b', 'EXTERNAL_KEY_STORE', `${ENDPOINT}${URI_PATH}`, 'FAILED', 'XKS_PROXY_NOT_REACHABLE', '2025-01-02T12:00:00Z'],
    ]);
    const doc = JSON.parse(ok(await cli([...base(), '--output', 'json', 'keystore', 'describe'], RECORDER_ENV)).stdout) as { CustomKeyStores: Array<Record<string, unknown>> };
    assert.deepEqual(doc.CustomKeyStores[1], { ...stores[1], CreationDate: '2025-01-02T12:00:00.000Z' });
    assert.equal(doc.CustomKeyStores[0]!.CloudHsmClusterId, 'cluster-kbExampleTwo');

    // keystore wait shows an external store the same way.
    answer = () => ({ CustomKeyStores: [stores[1]], Truncated: false });
    const waited = table(ok(await cli([...base(), 'keystore', 'wait', '--id', 'cks-000000000000000b1', '--state', 'FAILED'], RECORDER_ENV)).stdout);
    assert.deepEqual(waited[1]!.slice(2, 5), ['EXTERNAL_KEY_STORE', `${ENDPOINT}${URI_PATH}`, 'FAILED']);
  });
});

describe('keystore create --type EXTERNAL_KEY_STORE against a real keybridge', () => {
  let server: TestServer;

  before(async () => {
    // Nothing listens on the proxy port: every proxy call fails to connect.
    server = await startServer({ settings: { externalKeyStores: { proxyPort: await freePort(), proxyTimeoutMs: 500 } } });
  });
  after(async () => {
    await server?.destroy();
  });

  test('reaches the service, which tries the proxy and answers XksProxyUriUnreachableException (exit 1); nothing is saved', async () => {
    const at = async (args: string[]) => {
      const r = await runCliAgainst(server, args);
      transcript.push(r.stdout, r.stderr);
      return r;
    };
    const r = await at(['keystore', 'create', '--name', 'site-b', '--type', 'EXTERNAL_KEY_STORE', '--xks-proxy-config-file', CONFIG_FILE, '--xks-proxy-uri-endpoint', ENDPOINT]);
    assert.equal(r.code, 1, show(r));
    assert.equal(r.stdout, '', show(r));
    assert.match(r.stderr, /^keybridge: XksProxyUriUnreachableException: \S.*\n$/, show(r));

    // The same with the path and a credential file.
    const again = await at([
      'keystore', 'create', '--name', 'site-b', '--type', 'EXTERNAL_KEY_STORE', '--xks-proxy-uri-endpoint', ENDPOINT,
      '--xks-proxy-uri-path', URI_PATH, '--xks-proxy-credential', `${ACCESS_KEY_ID}:file://${SECRET_FILE}`,
    ]);
    assert.equal(again.code, 1, show(again));
    assert.match(again.stderr, /^keybridge: XksProxyUriUnreachableException: /, show(again));

    const listed = await at(['--output', 'json', 'keystore', 'describe']);
    assert.equal(listed.code, 0, show(listed));
    const names = (JSON.parse(listed.stdout) as { CustomKeyStores: Array<{ CustomKeyStoreName?: string }> }).CustomKeyStores.map((s) => s.CustomKeyStoreName);
    assert.ok(!names.includes('site-b'), `the store was saved: ${listed.stdout}`);
  });
});
