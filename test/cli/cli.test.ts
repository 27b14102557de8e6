// The operator CLI (src/cli) as operators run it: the compiled main.js in a child process, with a
// clean environment, against
//   - a real keybridge from startServer() (SoftHSM2, SQLite, SigV4), for keys, errors and the
//     whole custom-key-store flow on the example cluster of hsm-config/clusters, and
//   - a recording fake KMS endpoint, to see exactly where and how the CLI signs (endpoint,
//     region, access key) and to script responses (pagination, wait outcomes).

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  CreateKeyCommand, DecryptCommand, EncryptCommand, type KMSClient, ScheduleKeyDeletionCommand,
} from '@aws-sdk/client-kms';
import { sdkClient } from '../support/kms-client.js';
import { startServer, type TestServer } from '../support/server.js';
import { REPO_ROOT } from '../support/repo-root.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

const ROOT = REPO_ROOT;

const SANDBOX = mkdtempSync(join(tmpdir(), 'keybridge-cli-test-'));
const HOME = join(SANDBOX, 'home');
mkdirSync(HOME);

interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Every output of every run, to check that no secret ever appears in one. */
const transcript: string[] = [];

/**
 * Runs `node main.js …` with only PATH and HOME from this process: no AWS_* or KEYBRIDGE_* of the
 * developer's shell leaks in. Asynchronous, so the in-process server keeps answering.
 */
function cli(args: readonly string[], opts: { env?: Record<string, string>; cwd?: string; command?: string[] } = {}): Promise<CliRun> {
  const [cmd, ...pre] = opts.command ?? [process.execPath, MAIN];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd!, [...pre, ...args], {
      cwd: opts.cwd ?? SANDBOX,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      transcript.push(stdout, stderr);
      resolve({ code: code ?? (signal ? 128 : -1), stdout, stderr });
    });
  });
}

function show(r: CliRun): string {
  return `exit ${r.code}\n--- stdout\n${r.stdout}--- stderr\n${r.stderr}`;
}

function ok(r: CliRun): CliRun {
  assert.equal(r.code, 0, show(r));
  assert.equal(r.stderr, '', show(r));
  return r;
}

/** A service error: exit 1 and exactly `keybridge: <name>: <message>` on stderr. */
function serviceError(r: CliRun, name: string): void {
  assert.equal(r.code, 1, show(r));
  assert.match(r.stderr, new RegExp(`^keybridge: ${name}: \\S.*\\n$`), show(r));
  assert.equal(r.stdout, '', show(r));
}

/** A usage error: exit 2, the problem, then one hint line naming --help; nothing on stdout. */
function usageError(r: CliRun, problem: RegExp, helpCommand = 'keybridge'): void {
  assert.equal(r.code, 2, show(r));
  assert.equal(r.stdout, '', show(r));
  const lines = r.stderr.split('\n');
  assert.equal(lines.length, 3, show(r));
  assert.match(lines[0]!, /^keybridge: /, show(r));
  assert.match(lines[0]!, problem, show(r));
  assert.equal(lines[1], `Run '${helpCommand} --help' for usage.`, show(r));
}

/** Splits an aligned table into rows of cells (cells are separated by two or more spaces). */
function table(stdout: string): string[][] {
  return stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => l.split(/ {2,}/));
}

function rowOf(rows: string[][], first: string): string[] {
  const row = rows.find((r) => r[0] === first);
  assert.ok(row, `no row for ${first} in ${JSON.stringify(rows)}`);
  return row;
}

function writeCredentials(path: string, profiles: Record<string, [string, string]>): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(
    path,
    Object.entries(profiles)
      .map(([p, [id, secret]]) => `[${p}]\naws_access_key_id = ${id}\naws_secret_access_key = ${secret}\n`)
      .join('\n'),
    { mode: 0o600 },
  );
}

// ---------------------------------------------------------------------------------------------
// A fake KMS endpoint: records each request and answers from a script.

interface Recorded {
  readonly target: string;
  readonly body: Record<string, unknown>;
  readonly host: string;
  readonly accessKeyId: string;
  readonly region: string;
}

type Answer = { status?: number; body: unknown };

class FakeKms {
  readonly requests: Recorded[] = [];
  answer: (target: string, body: Record<string, unknown>) => Answer = (target) =>
    target === 'ListKeys' ? { body: { Keys: [], Truncated: false } } : { body: {} };

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static start(port = 0): Promise<FakeKms> {
    return new Promise((resolve, reject) => {
      let fake: FakeKms;
      const server = createServer((req, res) => {
        let raw = '';
        req.on('data', (d: Buffer) => (raw += d.toString()));
        req.on('end', () => {
          const target = String(req.headers['x-amz-target'] ?? '').replace(/^TrentService\./, '');
          const body = raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
          const scope = /Credential=([^/]+)\/\d{8}\/([^/]+)\/kms\/aws4_request/.exec(String(req.headers.authorization ?? ''));
          fake.requests.push({ target, body, host: String(req.headers.host), accessKeyId: scope?.[1] ?? '', region: scope?.[2] ?? '' });
          const { status, body: out } = fake.answer(target, body);
          res.writeHead(status ?? 200, { 'content-type': 'application/x-amz-json-1.1' });
          res.end(JSON.stringify(out));
        });
      });
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        fake = new FakeKms(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
        resolve(fake);
      });
    });
  }

  reset(): void {
    this.requests.length = 0;
    this.answer = (target) => (target === 'ListKeys' ? { body: { Keys: [], Truncated: false } } : { body: {} });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.closeAllConnections();
      this.server.close(() => resolve());
    });
  }
}

/** A port nothing listens on. */
async function deadUrl(): Promise<string> {
  const fake = await FakeKms.start();
  await fake.close();
  return fake.url;
}

// ---------------------------------------------------------------------------------------------

let server: TestServer;
let kms: KMSClient;
let fake: FakeKms;
/** Points the CLI at the real server with its data directory. */
let real: string[];

before(async () => {
  server = await startServer();
  kms = sdkClient(server);
  fake = await FakeKms.start();
  real = ['--endpoint-url', server.url, '--data-dir', server.dataDir];
});

after(async () => {
  kms?.destroy();
  await fake?.close();
  await server?.destroy();
  rmSync(SANDBOX, { recursive: true, force: true });
  // Last: every run of this file, whatever it printed, never showed the operator's secret key.
  if (server) {
    for (const text of transcript) assert.ok(!text.includes(server.credentials.secretAccessKey), 'the secret access key was printed');
  }
});

describe('the executable', () => {
  test('main.js starts with a node shebang; bin/keybridge is an executable POSIX wrapper that works', async () => {
    assert.ok(readFileSync(MAIN, 'utf8').startsWith('#!/usr/bin/env node\n'));
    const wrapper = join(ROOT, 'bin', 'keybridge');
    assert.ok(statSync(wrapper).mode & 0o111, 'bin/keybridge must be executable');
    const text = readFileSync(wrapper, 'utf8');
    assert.ok(text.startsWith('#!/bin/sh\n'), 'POSIX shell wrapper');
    assert.match(text, /exec node "\$\(dirname "\$0"\)\/\.\.\/dist\/src\/cli\/main\.js" "\$@"/);

    // The wrapper in a checkout-shaped folder whose dist/src/cli/main.js is this build's.
    const checkout = join(SANDBOX, 'checkout');
    mkdirSync(join(checkout, 'bin'), { recursive: true });
    mkdirSync(join(checkout, 'dist', 'src', 'cli'), { recursive: true });
    copyFileSync(wrapper, join(checkout, 'bin', 'keybridge'));
    chmodSync(join(checkout, 'bin', 'keybridge'), 0o755);
    symlinkSync(MAIN, join(checkout, 'dist', 'src', 'cli', 'main.js'));
    const r = ok(await cli(['keystore', '--help'], { command: [join(checkout, 'bin', 'keybridge')] }));
    assert.match(r.stdout, /^Usage: keybridge \[global options\] keystore <command>/);
    const bad = await cli(['nope'], { command: [join(checkout, 'bin', 'keybridge')] });
    assert.equal(bad.code, 2, 'the wrapper passes the exit status through');
  });
});

describe('help', () => {
  const GLOBALS = ['--endpoint-url URL', '--profile NAME', '--region REGION', '--data-dir DIR', '--output table|json'];
  const COMMANDS: Record<string, Record<string, string[]>> = {
    keystore: {
      create: ['--name NAME', '--cluster-id CLUSTER_ID', '--trust-anchor-certificate CERT', '--key-store-password PASSWORD'],
      describe: ['--id ID', '--name NAME'],
      connect: ['--id ID'],
      disconnect: ['--id ID'],
      update: ['--id ID', '--new-name NAME', '--key-store-password PASSWORD', '--cluster-id CLUSTER_ID'],
      delete: ['--id ID'],
      wait: ['--id ID', '--state STATE', '--timeout SECONDS', '--interval MS'],
    },
    keys: { list: [] },
  };

  test('top level: --help, -h and help with other options; every group, command and global option', async () => {
    for (const args of [['--help'], ['-h'], ['--region', 'eu-west-1', '--help']]) {
      const r = ok(await cli(args));
      assert.match(r.stdout, /^Usage: keybridge \[global options\] <group> <command> \[options\]\n/);
      for (const o of [...GLOBALS, '-h, --help']) assert.ok(r.stdout.includes(o), `top help lacks ${o}`);
      for (const [group, commands] of Object.entries(COMMANDS)) {
        for (const command of Object.keys(commands)) assert.match(r.stdout, new RegExp(`\\n  ${group} ${command} +\\S`), `${group} ${command}`);
      }
      for (const env of ['AWS_ENDPOINT_URL_KMS', 'AWS_ENDPOINT_URL', 'AWS_PROFILE', 'AWS_REGION', 'AWS_DEFAULT_REGION', 'KEYBRIDGE_DATA_DIR', 'AWS_SHARED_CREDENTIALS_FILE', 'AWS_ACCESS_KEY_ID']) {
        assert.ok(r.stdout.includes(`$${env}`), `top help does not explain $${env}`);
      }
      assert.match(r.stdout, /Exit status: 0 success; 1 .*; 2 usage/s);
    }
  });

  test('group level lists its commands and the global options', async () => {
    for (const [group, commands] of Object.entries(COMMANDS)) {
      for (const flag of ['--help', '-h']) {
        const r = ok(await cli([group, flag]));
        assert.match(r.stdout, new RegExp(`^Usage: keybridge \\[global options\\] ${group} <command> \\[options\\]\\n`));
        for (const command of Object.keys(commands)) assert.match(r.stdout, new RegExp(`\\n  ${command} +\\S`), `${group} ${command}`);
        for (const o of GLOBALS) assert.ok(r.stdout.includes(o), `${group} help lacks ${o}`);
      }
    }
  });

  test('command level lists every option of the command and the global options, even with required ones missing', async () => {
    for (const [group, commands] of Object.entries(COMMANDS)) {
      for (const [command, options] of Object.entries(commands)) {
        const r = ok(await cli([group, command, '--help']));
        assert.match(r.stdout, new RegExp(`^Usage: keybridge \\[global options\\] ${group} ${command}`));
        for (const o of [...options, ...GLOBALS, '-h, --help']) assert.ok(r.stdout.includes(o), `${group} ${command} help lacks ${o}:\n${r.stdout}`);
        assert.deepEqual(ok(await cli(['--output', 'json', group, command, '-h'])).stdout, r.stdout);
      }
    }
    const create = ok(await cli(['keystore', 'create', '--help'])).stdout;
    assert.match(create, /--name NAME +\(required\)/);
    assert.match(create, /file:\/\//);
  });
});

describe('usage errors exit 2 with a hint, before any network call', () => {
  // No endpoint, no credentials: a usage error must not need either.
  const cases: Array<[string[], RegExp, string?]> = [
    [[], /missing command group/],
    [['frobnicate'], /unknown command group "frobnicate"/],
    [['keystore'], /missing keystore command/, 'keybridge keystore'],
    [['keystore', 'explode'], /unknown keystore command "explode"/, 'keybridge keystore'],
    [['keys', 'list', '--bogus'], /unknown option --bogus/, 'keybridge keys list'],
    [['keys', 'list', '--bogus=1'], /unknown option --bogus$/, 'keybridge keys list'],
    [['keys', 'list', '-x'], /unknown option -x/, 'keybridge keys list'],
    [['keys', 'list', 'extra'], /unexpected argument "extra"/, 'keybridge keys list'],
    [['--output', 'yaml', 'keys', 'list'], /--output must be one of table, json/, 'keybridge keys list'],
    [['keys', 'list', '--region'], /--region needs a value/, 'keybridge keys list'],
    [['keys', 'list', '--region', '--output', 'json'], /--region needs a value/, 'keybridge keys list'],
    [['--region', 'a', '--region', 'b', 'keys', 'list'], /--region is given more than once/, 'keybridge keys list'],
    [['keystore', '--id', 'cks-1', 'connect'], /unknown option --id/, 'keybridge keystore connect'],
    [['keystore', 'connect'], /missing required option --id$/, 'keybridge keystore connect'],
    [['keystore', 'create', '--name', 'n'], /missing required options --cluster-id, --trust-anchor-certificate, --key-store-password/, 'keybridge keystore create'],
    [['keystore', 'describe', '--id', 'cks-1', '--name', 'n'], /--id or --name, not both/, 'keybridge keystore describe'],
    [['keystore', 'update', '--id', 'cks-1'], /nothing to update/, 'keybridge keystore update'],
    [['keystore', 'wait', '--id', 'cks-1', '--state', 'GONE'], /--state must be one of CONNECTED, DISCONNECTED, FAILED/, 'keybridge keystore wait'],
    [['keystore', 'wait', '--id', 'cks-1', '--state', 'CONNECTED', '--timeout', '-5'], /--timeout needs a value|--timeout must be a positive number/, 'keybridge keystore wait'],
    [['keystore', 'wait', '--id', 'cks-1', '--state', 'CONNECTED', '--timeout=-5'], /--timeout must be a positive number/, 'keybridge keystore wait'],
    [['keystore', 'wait', '--id', 'cks-1', '--state', 'CONNECTED', '--interval', '1.5'], /--interval must be a positive integer/, 'keybridge keystore wait'],
    [['keys', 'list', '--help=yes'], /option --help takes no value/, 'keybridge keys list'],
    [['keystore', 'health', '--id', 'cks-1', '--capabilities', '--replicas'], /--capabilities and --replicas cannot be used together/, 'keybridge keystore health'],
    [['backup', 'create'], /give either --out DIR or --on-server/, 'keybridge backup create'],
    [['backup', 'create', '--out', 'x', '--on-server'], /give either --out DIR or --on-server/, 'keybridge backup create'],
    [['backup', 'create', '--out', 'x', '--name', 'n'], /--name goes with --on-server/, 'keybridge backup create'],
    [['cluster', 'replace-member', '--cluster-id', 'cluster-kbExampleTwo'], /missing required option --member$/, 'keybridge cluster replace-member'],
    [['cluster', 'replace-member', '--cluster-id', 'cluster-kbExampleTwo', '--member', 'softhsm-b', '--timeout', '0'], /--timeout must be a whole number of seconds/, 'keybridge cluster replace-member'],
    [['cluster', 'replace-member', '--cluster-id', 'cluster-kbExampleTwo', '--member', 'softhsm-z'], /cluster cluster-kbExampleTwo has no member softhsm-z \(members: softhsm-a, softhsm-b\)/, 'keybridge cluster replace-member'],
  ];
  for (const [args, problem, help] of cases) {
    test(`keybridge ${args.join(' ')}`, async () => {
      usageError(await cli(args), problem, help);
    });
  }

  test('a file:// argument that cannot be read names the option and the path', async () => {
    const missing = join(SANDBOX, 'no-such-pin');
    const r = await cli([
      '--endpoint-url', fake.url, 'keystore', 'create', '--name', 'n', '--cluster-id', 'cluster-kbExampleTwo',
      '--trust-anchor-certificate', 'PEM', '--key-store-password', `file://${missing}`,
    ]);
    usageError(r, new RegExp(`--key-store-password: cannot read ${missing} \\(ENOENT\\)`), 'keybridge keystore create');
  });

  test('never echoes a password, even around a mistake', async () => {
    const secret = 'Sup3rSecretPin';
    const runs = [
      await cli(['keystore', 'create', '--name', 'n', '--cluster-id', 'c', '--trust-anchor-certificate', 'x', '--key-store-password', secret, 'Word2']),
      await cli(['keystore', 'create', `--key-store-pasword=${secret}`]),
      await cli(['keystore', 'update', '--id', 'cks-1', '--key-store-password', secret, '--key-store-password', secret]),
    ];
    for (const r of runs) {
      assert.equal(r.code, 2, show(r));
      assert.ok(!r.stderr.includes(secret) && !r.stdout.includes(secret), show(r));
      assert.ok(!r.stderr.includes('Word2'), show(r));
    }
  });
});

describe('keys list against a real server', () => {
  let one: string;
  let two: string;
  let gone: string;

  before(async () => {
    one = (await kms.send(new CreateKeyCommand({ Description: 'cli key one' }))).KeyMetadata!.KeyId!;
    two = (await kms.send(new CreateKeyCommand({ Description: 'line\nbreak' }))).KeyMetadata!.KeyId!;
    gone = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
    await kms.send(new ScheduleKeyDeletionCommand({ KeyId: gone, PendingWindowInDays: 7 }));
  });

  test('table: KeyId, Arn, KeyState, Description, CustomKeyStoreId; one line per key', async () => {
    const rows = table(ok(await cli([...real, 'keys', 'list'])).stdout);
    assert.deepEqual(rows[0], ['KeyId', 'Arn', 'KeyState', 'Description', 'CustomKeyStoreId']);
    const arn = (id: string) => `arn:aws:kms:${server.region}:${server.accountId}:key/${id}`;
    assert.deepEqual(rowOf(rows, one), [one, arn(one), 'Enabled', 'cli key one', '-']);
    assert.deepEqual(rowOf(rows, two), [two, arn(two), 'Enabled', 'line\\nbreak', '-']);
    assert.deepEqual(rowOf(rows, gone), [gone, arn(gone), 'PendingDeletion', '-', '-']);
    // Columns line up: every row's Arn starts where the header's does.
    const lines = ok(await cli([...real, 'keys', 'list'])).stdout.split('\n').filter(Boolean);
    const at = lines[0]!.indexOf('Arn');
    for (const line of lines.slice(1)) assert.equal(line.indexOf('arn:aws:kms:'), at, line);
  });

  test('--output json parses and carries the full KeyMetadata', async () => {
    const r = ok(await cli([...real, '--output', 'json', 'keys', 'list']));
    const doc = JSON.parse(r.stdout) as { Keys: Array<Record<string, unknown>> };
    const byId = new Map(doc.Keys.map((k) => [k.KeyId, k]));
    assert.equal(byId.get(one)?.KeyState, 'Enabled');
    assert.equal(byId.get(one)?.Description, 'cli key one');
    assert.equal(byId.get(two)?.Description, 'line\nbreak');
    assert.equal(byId.get(gone)?.KeyState, 'PendingDeletion');
    assert.match(String(byId.get(one)?.CreationDate), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    assert.ok(!('$metadata' in doc));
    // Global options may also come after the command.
    assert.deepEqual(JSON.parse(ok(await cli(['keys', 'list', '--output', 'json', ...real])).stdout), doc);
  });
});

describe('errors from the service exit 1 with the AWS error name', () => {
  test('keystore describe --id of a store that does not exist: CustomKeyStoreNotFoundException', async () => {
    serviceError(await cli([...real, 'keystore', 'describe', '--id', 'cks-00000000000000000']), 'CustomKeyStoreNotFoundException');
    serviceError(await cli([...real, '--output', 'json', 'keystore', 'connect', '--id', 'cks-00000000000000000']), 'CustomKeyStoreNotFoundException');
  });

  test('an unknown access key: UnrecognizedClientException; a wrong secret: InvalidSignatureException', async () => {
    serviceError(
      await cli(['--endpoint-url', server.url, 'keys', 'list'], { env: { AWS_ACCESS_KEY_ID: 'AKIAUNKNOWNUNKNOWN00', AWS_SECRET_ACCESS_KEY: 'x'.repeat(40) } }),
      'UnrecognizedClientException',
    );
    serviceError(
      await cli(['--endpoint-url', server.url, 'keys', 'list'], {
        env: { AWS_ACCESS_KEY_ID: server.credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: `${server.credentials.secretAccessKey}x` },
      }),
      'InvalidSignatureException',
    );
  });

  test('a region the server does not serve is refused by the server', async () => {
    serviceError(await cli([...real, '--region', 'eu-west-3', 'keys', 'list']), 'InvalidSignatureException');
  });

  test('an endpoint nobody listens on: exit 1 naming the endpoint', async () => {
    const url = await deadUrl();
    const r = await cli(['--endpoint-url', url, '--data-dir', server.dataDir, 'keys', 'list']);
    assert.equal(r.code, 1, show(r));
    assert.match(r.stderr, new RegExp(`^keybridge: request to ${url.replace(/[.]/g, '\\.')} failed: .*ECONNREFUSED.*\\n$`), show(r));
  });
});

describe('configuration resolution', () => {
  let creds: string;
  const ENV_KEY = 'AKIAENVIRONMENTKEY00';

  before(() => {
    creds = join(SANDBOX, 'shared', 'credentials');
    writeCredentials(creds, { keybridge: ['AKIASHAREDKEYBRIDGE0', 's1'], ops: ['AKIASHAREDOPS0000000', 's2'] });
  });

  async function seen(args: string[], env: Record<string, string> = {}, cwd?: string): Promise<Recorded> {
    fake.reset();
    ok(await cli([...args, 'keys', 'list'], { env, ...(cwd ? { cwd } : {}) }));
    assert.equal(fake.requests.length, 1);
    assert.equal(fake.requests[0]!.target, 'ListKeys');
    return fake.requests[0]!;
  }

  test('endpoint: --endpoint-url, else AWS_ENDPOINT_URL_KMS, else AWS_ENDPOINT_URL', async () => {
    const dead = await deadUrl();
    const env = { AWS_SHARED_CREDENTIALS_FILE: creds };
    await seen(['--endpoint-url', fake.url], { ...env, AWS_ENDPOINT_URL_KMS: dead, AWS_ENDPOINT_URL: dead });
    await seen([], { ...env, AWS_ENDPOINT_URL_KMS: fake.url, AWS_ENDPOINT_URL: dead });
    await seen([], { ...env, AWS_ENDPOINT_URL: fake.url });
    const r = await cli(['keys', 'list'], { env: { ...env, AWS_ENDPOINT_URL_KMS: dead, AWS_ENDPOINT_URL: fake.url } });
    assert.equal(r.code, 1, 'AWS_ENDPOINT_URL_KMS wins over AWS_ENDPOINT_URL');
    const bad = await cli(['--endpoint-url', 'ftp://x', 'keys', 'list'], { env });
    assert.equal(bad.code, 2, show(bad));
    assert.match(bad.stderr, /^keybridge: --endpoint-url must be an http:\/\/ or https:\/\/ URL\nRun 'keybridge --help' for how/, show(bad));
    const badEnv = await cli(['keys', 'list'], { env: { ...env, AWS_ENDPOINT_URL_KMS: 'not a url' } });
    assert.equal(badEnv.code, 2, show(badEnv));
    assert.match(badEnv.stderr, /^keybridge: \$AWS_ENDPOINT_URL_KMS is not a URL\n/, show(badEnv));
  });

  test('endpoint default: http://127.0.0.1:4599 (also when AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true)', async (t) => {
    let fixed: FakeKms;
    try {
      fixed = await FakeKms.start(4599);
    } catch (err) {
      t.skip(`port 4599 is busy (${(err as NodeJS.ErrnoException).code}); cannot observe the default endpoint`);
      return;
    }
    try {
      ok(await cli(['keys', 'list'], { env: { AWS_SHARED_CREDENTIALS_FILE: creds } }));
      ok(await cli(['keys', 'list'], { env: { AWS_SHARED_CREDENTIALS_FILE: creds, AWS_ENDPOINT_URL: fake.url, AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: 'true' } }));
      assert.equal(fixed.requests.length, 2);
      assert.equal(fixed.requests[0]!.host, '127.0.0.1:4599');
    } finally {
      await fixed.close();
    }
  });

  test('region: --region, else AWS_REGION, else AWS_DEFAULT_REGION, else us-east-1', async () => {
    const base = ['--endpoint-url', fake.url];
    const env = { AWS_SHARED_CREDENTIALS_FILE: creds };
    assert.equal((await seen([...base, '--region', 'eu-west-1'], { ...env, AWS_REGION: 'eu-west-2', AWS_DEFAULT_REGION: 'eu-west-3' })).region, 'eu-west-1');
    assert.equal((await seen(base, { ...env, AWS_REGION: 'eu-west-2', AWS_DEFAULT_REGION: 'eu-west-3' })).region, 'eu-west-2');
    assert.equal((await seen(base, { ...env, AWS_DEFAULT_REGION: 'eu-west-3' })).region, 'eu-west-3');
    assert.equal((await seen(base, env)).region, 'us-east-1');
  });

  test('credentials: environment keys, unless --profile is given; profile from --profile, AWS_PROFILE or keybridge', async () => {
    const base = ['--endpoint-url', fake.url];
    const file = { AWS_SHARED_CREDENTIALS_FILE: creds };
    const envKeys = { AWS_ACCESS_KEY_ID: ENV_KEY, AWS_SECRET_ACCESS_KEY: 'env-secret' };
    assert.equal((await seen(base, { ...file, ...envKeys })).accessKeyId, ENV_KEY);
    assert.equal((await seen(base, { ...file, ...envKeys, AWS_PROFILE: 'ops' })).accessKeyId, ENV_KEY, 'AWS_PROFILE does not beat environment keys');
    assert.equal((await seen([...base, '--profile', 'ops'], { ...file, ...envKeys })).accessKeyId, 'AKIASHAREDOPS0000000', '--profile beats environment keys');
    assert.equal((await seen(base, file)).accessKeyId, 'AKIASHAREDKEYBRIDGE0', 'default profile: keybridge');
    assert.equal((await seen(base, { ...file, AWS_PROFILE: 'ops' })).accessKeyId, 'AKIASHAREDOPS0000000');
    assert.equal((await seen([...base, '--profile', 'keybridge'], { ...file, AWS_PROFILE: 'ops' })).accessKeyId, 'AKIASHAREDKEYBRIDGE0');

    const nope = await cli([...base, '--profile', 'nope', 'keys', 'list'], { env: file });
    assert.equal(nope.code, 2, show(nope));
    assert.match(nope.stderr, new RegExp(`^keybridge: profile "nope" not found in ${creds}\\n.*--help`), show(nope));
    const half = await cli([...base, 'keys', 'list'], { env: { ...file, AWS_ACCESS_KEY_ID: ENV_KEY } });
    assert.equal(half.code, 2, show(half));
    assert.match(half.stderr, /AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not/);
  });

  test('credentials file: --data-dir, else AWS_SHARED_CREDENTIALS_FILE, else KEYBRIDGE_DATA_DIR, else ./data', async () => {
    const base = ['--endpoint-url', fake.url];
    const flagDir = join(SANDBOX, 'flag-dir');
    const envDir = join(SANDBOX, 'env-dir');
    const cwd = join(SANDBOX, 'cwd');
    writeCredentials(join(flagDir, 'credentials'), { keybridge: ['AKIAFLAGDATADIR00000', 's'] });
    writeCredentials(join(envDir, 'credentials'), { keybridge: ['AKIAENVDATADIR000000', 's'] });
    writeCredentials(join(cwd, 'data', 'credentials'), { keybridge: ['AKIACWDDATADIR000000', 's'] });
    const all = { AWS_SHARED_CREDENTIALS_FILE: creds, KEYBRIDGE_DATA_DIR: envDir };
    assert.equal((await seen([...base, '--data-dir', flagDir], all, cwd)).accessKeyId, 'AKIAFLAGDATADIR00000');
    assert.equal((await seen(base, all, cwd)).accessKeyId, 'AKIASHAREDKEYBRIDGE0');
    assert.equal((await seen(base, { KEYBRIDGE_DATA_DIR: envDir }, cwd)).accessKeyId, 'AKIAENVDATADIR000000');
    assert.equal((await seen(base, {}, cwd)).accessKeyId, 'AKIACWDDATADIR000000');
    // Relative --data-dir is relative to the working directory.
    assert.equal((await seen([...base, '--data-dir', 'data'], {}, cwd)).accessKeyId, 'AKIACWDDATADIR000000');

    const r = await cli([...base, 'keys', 'list'], { cwd: SANDBOX });
    assert.equal(r.code, 2, show(r));
    assert.match(r.stderr, new RegExp(`^keybridge: no credentials: ${join(SANDBOX, 'data', 'credentials')} does not exist`), show(r));
    assert.match(r.stderr, /\nRun 'keybridge --help' for how the endpoint, region and credentials are found\.\n$/);
  });

  test('end to end: the data directory written by the server signs real requests (flag and environment)', async () => {
    assert.equal(server.credentialsFile, join(server.dataDir, 'credentials'));
    ok(await cli(['--endpoint-url', server.url, '--data-dir', server.dataDir, 'keys', 'list']));
    ok(await cli(['keys', 'list'], { env: { AWS_ENDPOINT_URL_KMS: server.url, KEYBRIDGE_DATA_DIR: server.dataDir } }));
    ok(await cli(['keys', 'list'], { env: { AWS_ENDPOINT_URL: server.url, AWS_SHARED_CREDENTIALS_FILE: server.credentialsFile, AWS_PROFILE: 'keybridge' } }));
    ok(await cli(['--endpoint-url', server.url, 'keys', 'list'], { env: { AWS_ACCESS_KEY_ID: server.credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: server.credentials.secretAccessKey } }));
  });
});

describe('requests and outputs, on a scripted endpoint', () => {
  const at = (n: number) => new Date(Date.UTC(2025, 0, n, 12, 0, 0)).getTime() / 1000;
  const entry = (id: string, state: string, extra: Record<string, unknown> = {}) => ({
    CustomKeyStoreId: id,
    CustomKeyStoreName: `name-${id.slice(-2)}`,
    CloudHsmClusterId: 'cluster-kbExampleTwo',
    TrustAnchorCertificate: 'PEM',
    ConnectionState: state,
    CreationDate: at(2),
    CustomKeyStoreType: 'AWS_CLOUDHSM',
    ...extra,
  });
  let base: string[];
  let env: Record<string, string>;

  before(() => {
    base = ['--endpoint-url', fake.url];
    env = { AWS_ACCESS_KEY_ID: 'AKIASCRIPTED00000000', AWS_SECRET_ACCESS_KEY: 's' };
  });

  test('create sends the file contents (password without its trailing newline) and prints only the id', async () => {
    fake.reset();
    fake.answer = () => ({ body: { CustomKeyStoreId: 'cks-0123456789abcdef0' } });
    const pem = '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n';
    writeFileSync(join(SANDBOX, 'ca.pem'), pem);
    writeFileSync(join(SANDBOX, 'pin'), 'Pin1234567\n', { mode: 0o600 });
    const args = ['keystore', 'create', '--name', 'ops store', '--cluster-id', 'cluster-kbExampleTwo', '--trust-anchor-certificate', `file://${join(SANDBOX, 'ca.pem')}`];
    const r = ok(await cli([...base, ...args, '--key-store-password', `file://${join(SANDBOX, 'pin')}`], { env }));
    assert.equal(r.stdout, 'cks-0123456789abcdef0\n');
    assert.deepEqual(fake.requests.map((q) => [q.target, q.body]), [
      ['CreateCustomKeyStore', { CustomKeyStoreName: 'ops store', CloudHsmClusterId: 'cluster-kbExampleTwo', TrustAnchorCertificate: pem, KeyStorePassword: 'Pin1234567' }],
    ]);
    // Inline values are sent as they are; json output is one document.
    fake.requests.length = 0;
    const j = ok(await cli([...base, '--output', 'json', ...args.slice(0, -1), 'PEM TEXT', '--key-store-password', 'Inline99'], { env }));
    assert.deepEqual(JSON.parse(j.stdout), { CustomKeyStoreId: 'cks-0123456789abcdef0' });
    assert.equal(fake.requests[0]!.body.TrustAnchorCertificate, 'PEM TEXT');
    assert.equal(fake.requests[0]!.body.KeyStorePassword, 'Inline99');
    assert.ok(!transcript.some((t) => t.includes('Pin1234567') || t.includes('Inline99')), 'a password was printed');
  });

  test('connect, disconnect, delete and update send one request each', async () => {
    fake.reset();
    const id = 'cks-0123456789abcdef0';
    assert.equal(ok(await cli([...base, 'keystore', 'connect', '--id', id], { env })).stdout, `${id}: connecting\n`);
    assert.deepEqual(JSON.parse(ok(await cli([...base, '--output', 'json', 'keystore', 'disconnect', '--id', id], { env })).stdout), {});
    ok(await cli([...base, 'keystore', 'delete', '--id', id], { env }));
    writeFileSync(join(SANDBOX, 'pin2'), 'NewPin7654\r\n');
    ok(await cli([...base, 'keystore', 'update', '--id', id, '--new-name', 'renamed', '--key-store-password', `file://${join(SANDBOX, 'pin2')}`, '--cluster-id', 'cluster-kbOtherOne'], { env }));
    ok(await cli([...base, 'keystore', 'update', '--id', id, '--new-name', 'only-name'], { env }));
    assert.deepEqual(fake.requests.map((q) => [q.target, q.body]), [
      ['ConnectCustomKeyStore', { CustomKeyStoreId: id }],
      ['DisconnectCustomKeyStore', { CustomKeyStoreId: id }],
      ['DeleteCustomKeyStore', { CustomKeyStoreId: id }],
      ['UpdateCustomKeyStore', { CustomKeyStoreId: id, NewCustomKeyStoreName: 'renamed', KeyStorePassword: 'NewPin7654', CloudHsmClusterId: 'cluster-kbOtherOne' }],
      ['UpdateCustomKeyStore', { CustomKeyStoreId: id, NewCustomKeyStoreName: 'only-name' }],
    ]);
    assert.ok(!transcript.some((t) => t.includes('NewPin7654')));
  });

  test('describe follows NextMarker through every page and shows the seven columns', async () => {
    fake.reset();
    const pages: Record<string, unknown> = {
      '': { CustomKeyStores: [entry('cks-000000000000000a1', 'CONNECTED')], NextMarker: 'm1', Truncated: true },
      m1: { CustomKeyStores: [entry('cks-000000000000000a2', 'FAILED', { ConnectionErrorCode: 'USER_LOGGED_IN' })], NextMarker: 'm2', Truncated: true },
      m2: { CustomKeyStores: [entry('cks-000000000000000a3', 'DISCONNECTED')], Truncated: false },
    };
    fake.answer = (_t, body) => ({ body: pages[String(body.Marker ?? '')] });
    const rows = table(ok(await cli([...base, 'keystore', 'describe'], { env })).stdout);
    assert.deepEqual(rows, [
      ['Id', 'Name', 'Type', 'Target', 'ConnectionState', 'ConnectionErrorCode', 'CreationDate'],
      ['cks-000000000000000a1', 'name-a1', 'AWS_CLOUDHSM', 'cluster-kbExampleTwo', 'CONNECTED', '-', '2025-01-02T12:00:00Z'],
      ['cks-000000000000000a2', 'name-a2', 'AWS_CLOUDHSM', 'cluster-kbExampleTwo', 'FAILED', 'USER_LOGGED_IN', '2025-01-02T12:00:00Z'],
      ['cks-000000000000000a3', 'name-a3', 'AWS_CLOUDHSM', 'cluster-kbExampleTwo', 'DISCONNECTED', '-', '2025-01-02T12:00:00Z'],
    ]);
    assert.deepEqual(fake.requests.map((q) => q.body.Marker), [undefined, 'm1', 'm2']);
    fake.requests.length = 0;
    const doc = JSON.parse(ok(await cli([...base, '--output', 'json', 'keystore', 'describe', '--name', 'name-a1'], { env })).stdout);
    assert.equal(doc.CustomKeyStores.length, 3);
    assert.equal(doc.CustomKeyStores[1].ConnectionErrorCode, 'USER_LOGGED_IN');
    assert.equal(doc.CustomKeyStores[0].CreationDate, '2025-01-02T12:00:00.000Z');
    assert.equal(fake.requests[0]!.body.CustomKeyStoreName, 'name-a1');
  });

  test('keys list follows ListKeys pages and describes every key', async () => {
    fake.reset();
    const ids = ['1', '2', '3'].map((n) => `0000000${n}-0000-4000-8000-000000000000`);
    fake.answer = (target, body) => {
      if (target === 'ListKeys') {
        return body.Marker === 'next'
          ? { body: { Keys: [{ KeyId: ids[2] }], Truncated: false } }
          : { body: { Keys: [{ KeyId: ids[0] }, { KeyId: ids[1] }], NextMarker: 'next', Truncated: true } };
      }
      if (body.KeyId === ids[1]) return { status: 400, body: { __type: 'NotFoundException', message: 'deleted meanwhile' } };
      return { body: { KeyMetadata: { KeyId: body.KeyId, Arn: `arn:aws:kms:us-east-1:111122223333:key/${String(body.KeyId)}`, KeyState: 'Unavailable', CustomKeyStoreId: 'cks-000000000000000a1' } } };
    };
    const rows = table(ok(await cli([...base, 'keys', 'list'], { env })).stdout);
    assert.deepEqual(rows.map((r) => [r[0], r[2], r[3], r[4]]), [
      ['KeyId', 'KeyState', 'Description', 'CustomKeyStoreId'],
      [ids[0], 'Unavailable', '-', 'cks-000000000000000a1'],
      [ids[2], 'Unavailable', '-', 'cks-000000000000000a1'],
    ]);
    assert.deepEqual(fake.requests.filter((q) => q.target === 'ListKeys').map((q) => q.body.Marker), [undefined, 'next']);
    assert.equal(fake.requests.filter((q) => q.target === 'DescribeKey').length, 3);
  });

  test('wait polls until the state, then shows the store', async () => {
    fake.reset();
    const states = ['CONNECTING', 'CONNECTING', 'CONNECTED'];
    fake.answer = () => ({ body: { CustomKeyStores: [entry('cks-000000000000000a1', states.shift() ?? 'CONNECTED')], Truncated: false } });
    const r = ok(await cli([...base, 'keystore', 'wait', '--id', 'cks-000000000000000a1', '--state', 'CONNECTED', '--interval', '20'], { env }));
    assert.equal(rowOf(table(r.stdout), 'cks-000000000000000a1')[4], 'CONNECTED');
    assert.equal(fake.requests.length, 3);
    assert.ok(fake.requests.every((q) => q.target === 'DescribeCustomKeyStores' && q.body.CustomKeyStoreId === 'cks-000000000000000a1'));
  });

  test('wait for CONNECTED stops with exit 1 and the ConnectionErrorCode when the store FAILS', async () => {
    fake.reset();
    const states = ['CONNECTING', 'FAILED'];
    fake.answer = () => {
      const s = states.shift() ?? 'FAILED';
      return { body: { CustomKeyStores: [entry('cks-000000000000000a1', s, s === 'FAILED' ? { ConnectionErrorCode: 'INVALID_CREDENTIALS' } : {})], Truncated: false } };
    };
    const r = await cli([...base, 'keystore', 'wait', '--id', 'cks-000000000000000a1', '--state', 'CONNECTED', '--interval', '20'], { env });
    assert.equal(r.code, 1, show(r));
    assert.equal(r.stderr, 'keybridge: custom key store cks-000000000000000a1 is FAILED (ConnectionErrorCode: INVALID_CREDENTIALS)\n');
    assert.equal(fake.requests.length, 2);
    // Waiting for FAILED itself succeeds.
    ok(await cli([...base, 'keystore', 'wait', '--id', 'cks-000000000000000a1', '--state', 'FAILED', '--interval', '20'], { env }));
  });

  test('wait gives up after --timeout with exit 1 and the last state', async () => {
    fake.reset();
    fake.answer = () => ({ body: { CustomKeyStores: [entry('cks-000000000000000a1', 'CONNECTING')], Truncated: false } });
    const started = Date.now();
    const r = await cli([...base, 'keystore', 'wait', '--id', 'cks-000000000000000a1', '--state', 'CONNECTED', '--timeout', '0.5', '--interval', '100'], { env });
    const took = Date.now() - started;
    assert.equal(r.code, 1, show(r));
    assert.match(r.stderr, /^keybridge: timed out after 0\.5 s waiting for cks-000000000000000a1 to be CONNECTED \(it is CONNECTING\)\n$/);
    assert.ok(fake.requests.length >= 3 && fake.requests.length <= 8, `${fake.requests.length} polls`);
    assert.ok(took >= 500 && took < 10_000, `took ${took} ms`);
  });

  test('an error while waiting exits 1 with its AWS name', async () => {
    fake.reset();
    fake.answer = () => ({ status: 400, body: { __type: 'CustomKeyStoreNotFoundException', message: 'no such store' } });
    const r = await cli([...base, 'keystore', 'wait', '--id', 'cks-000000000000000a9', '--state', 'CONNECTED'], { env });
    assert.equal(r.code, 1, show(r));
    assert.equal(r.stderr, 'keybridge: CustomKeyStoreNotFoundException: no such store\n');
  });
});

describe('the whole custom key store flow on the example cluster', () => {
  const clustersDir = join(ROOT, 'hsm-config', 'clusters');
  const definition = JSON.parse(readFileSync(join(clustersDir, 'example-softhsm.json'), 'utf8')) as { clusterId: string; trustAnchorCertificateFile: string };

  test('create, connect, wait, describe, key in the store, disconnect, wait, delete refused while the key exists', async () => {
    const clusterId = definition.clusterId;
    const caFile = join(clustersDir, definition.trustAnchorCertificateFile);
    const pinFile = join(server.dataDir, 'pins', `${clusterId}.pin`);
    assert.ok(existsSync(pinFile), `the server should have written the example cluster's PIN file ${pinFile}`);
    const pin = readFileSync(pinFile, 'utf8').trim();
    const at = (args: string[]) => cli([...real, ...args]);

    // create → prints the id only
    const created = ok(await at(['keystore', 'create', '--name', 'cli-flow', '--cluster-id', clusterId, '--trust-anchor-certificate', `file://${caFile}`, '--key-store-password', `file://${pinFile}`]));
    assert.match(created.stdout, /^cks-[0-9a-f]{17}\n$/);
    const id = created.stdout.trim();

    let row = rowOf(table(ok(await at(['keystore', 'describe', '--id', id])).stdout), id);
    assert.deepEqual(row.slice(0, 6), [id, 'cli-flow', 'AWS_CLOUDHSM', clusterId, 'DISCONNECTED', '-']);
    assert.match(row[6]!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

    // connect → wait CONNECTED → describe shows CONNECTED
    assert.equal(ok(await at(['keystore', 'connect', '--id', id])).stdout, `${id}: connecting\n`);
    const waited = ok(await at(['keystore', 'wait', '--id', id, '--state', 'CONNECTED', '--timeout', '60', '--interval', '100']));
    assert.equal(rowOf(table(waited.stdout), id)[4], 'CONNECTED');
    row = rowOf(table(ok(await at(['keystore', 'describe', '--name', 'cli-flow'])).stdout), id);
    assert.equal(row[4], 'CONNECTED');
    const all = JSON.parse(ok(await at(['--output', 'json', 'keystore', 'describe'])).stdout) as { CustomKeyStores: Array<Record<string, unknown>> };
    const mine = all.CustomKeyStores.find((s) => s.CustomKeyStoreId === id);
    assert.equal(mine?.ConnectionState, 'CONNECTED');
    assert.equal(mine?.CloudHsmClusterId, clusterId);

    // a key in the store, used through the SDK
    const { KeyMetadata } = await kms.send(new CreateKeyCommand({ CustomKeyStoreId: id, Origin: 'AWS_CLOUDHSM', Description: 'cli flow key' }));
    const keyId = KeyMetadata!.KeyId!;
    const plaintext = Buffer.from('through the cluster');
    const { CiphertextBlob } = await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: plaintext }));
    const { Plaintext } = await kms.send(new DecryptCommand({ CiphertextBlob }));
    assert.deepEqual(Buffer.from(Plaintext!), plaintext);
    assert.deepEqual(rowOf(table(ok(await at(['keys', 'list'])).stdout), keyId).slice(2), ['Enabled', 'cli flow key', id]);

    // rename while connected
    ok(await at(['keystore', 'update', '--id', id, '--new-name', 'cli-flow-renamed']));
    assert.equal(rowOf(table(ok(await at(['keystore', 'describe', '--name', 'cli-flow-renamed'])).stdout), id)[1], 'cli-flow-renamed');

    // disconnect → wait DISCONNECTED; the key is Unavailable
    assert.equal(ok(await at(['keystore', 'disconnect', '--id', id])).stdout, `${id}: disconnecting\n`);
    assert.equal(rowOf(table(ok(await at(['keystore', 'wait', '--id', id, '--state', 'DISCONNECTED', '--timeout', '60', '--interval', '100'])).stdout), id)[4], 'DISCONNECTED');
    assert.equal(rowOf(table(ok(await at(['keys', 'list'])).stdout), keyId)[2], 'Unavailable');

    // delete is refused while the store holds a key
    serviceError(await at(['keystore', 'delete', '--id', id]), 'CustomKeyStoreHasCMKsException');
    // the password can be given again while disconnected
    ok(await at(['keystore', 'update', '--id', id, '--key-store-password', `file://${pinFile}`]));
    // waiting for a state that does not come times out
    const late = await at(['keystore', 'wait', '--id', id, '--state', 'CONNECTED', '--timeout', '0.3', '--interval', '100']);
    assert.equal(late.code, 1, show(late));
    assert.match(late.stderr, /timed out after 0\.3 s .* \(it is DISCONNECTED\)/);

    assert.ok(!transcript.some((t) => t.includes(pin)), 'the key store password was printed');
  });
});
