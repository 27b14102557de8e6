// `keybridge xks …` against a real keybridge: the CLI manages the XKS proxy's keys and SigV4
// credentials through the admin API (on the KMS listener; the proxy listener itself is not needed).
// Credential secrets go to a 0600 proxy configuration file or, when asked, to standard output once.

import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runCliAgainst, type CliRun } from '../support/cli.js';
import { startServer, type TestServer } from '../support/server.js';

const PATH = '/cli-tests/kms/xks/v1';
const SECRET = /^[A-Za-z0-9/+=]{43,64}$/;
const ACCESS_KEY_ID = /^[A-Z2-7]{20,30}$/;

let server: TestServer;

function keybridge(args: readonly string[]): Promise<CliRun> {
  return runCliAgainst(server, args);
}

async function json(args: readonly string[]): Promise<any> {
  const run = await keybridge(['--output', 'json', ...args]);
  assert.equal(run.code, 0, `${args.join(' ')}: ${run.stderr}`);
  return JSON.parse(run.stdout);
}

before(async () => {
  server = await startServer();
});
after(async () => {
  await server?.destroy();
});

describe('keybridge xks', () => {
  test('help lists the commands', async () => {
    const help = await keybridge(['xks', '--help']);
    assert.equal(help.code, 0, help.stderr);
    for (const name of ['keys-create', 'keys-list', 'keys-describe', 'keys-enable', 'keys-disable', 'keys-delete', 'credentials-create', 'credentials-list', 'credentials-delete']) {
      assert.match(help.stdout, new RegExp(`^  ${name} `, 'm'), name);
    }
    const top = await keybridge(['--help']);
    assert.match(top.stdout, /^  xks keys-create /m);
    const create = await keybridge(['xks', 'credentials-create', '--help']);
    assert.match(create.stdout, /--config-file FILE/);
  });

  test('keys: create, list, describe, disable, enable, delete', async () => {
    const created = await json(['xks', 'keys-create', '--uri-path', PATH, '--xks-key-id', 'cli-key-1', '--description', 'first', '--key-usage', 'ENCRYPT']);
    assert.deepEqual(
      { ...created.XksKey, CreationDate: typeof created.XksKey.CreationDate },
      { XksKeyId: 'cli-key-1', UriPath: PATH, KeySpec: 'AES_256', KeyUsage: ['ENCRYPT'], KeyStatus: 'ENABLED', Description: 'first', CreationDate: 'number' },
    );
    const random = await keybridge(['xks', 'keys-create', '--uri-path', '/kms/xks/v1']);
    assert.equal(random.code, 0, random.stderr);
    assert.match(random.stdout, /^XKS KEY ID +URI PATH +STATUS +USAGE +STORE +CREATED +DESCRIPTION$/m);
    assert.match(random.stdout, /^[0-9a-f-]{36} +\/kms\/xks\/v1 +ENABLED +ENCRYPT,DECRYPT +\(default\) +\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ +-$/m);

    const dup = await keybridge(['xks', 'keys-create', '--uri-path', PATH, '--xks-key-id', 'cli-key-1']);
    assert.equal(dup.code, 1);
    assert.match(dup.stderr, /AlreadyExistsException/);

    const table = await keybridge(['xks', 'keys-list']);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^XKS KEY ID +URI PATH +STATUS +USAGE +STORE +CREATED$/m);
    assert.match(table.stdout, /^cli-key-1 +\/cli-tests\/kms\/xks\/v1 +ENABLED +ENCRYPT +\(default\) /m);
    assert.equal(table.stdout.trim().split('\n').length, 3);
    const filtered = await json(['xks', 'keys-list', '--uri-path', PATH]);
    assert.deepEqual(filtered.XksKeys.map((k: any) => k.XksKeyId), ['cli-key-1']);

    const described = await json(['xks', 'keys-describe', 'cli-key-1']);
    assert.deepEqual(described.XksKey, created.XksKey);
    const byOption = await json(['xks', 'keys-describe', '--id', 'cli-key-1']);
    assert.deepEqual(byOption.XksKey, created.XksKey);
    const missing = await keybridge(['xks', 'keys-describe', 'no-such-key']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /NotFoundException/);

    // Only a DISABLED key can be deleted.
    const refused = await keybridge(['xks', 'keys-delete', 'cli-key-1']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /KMSInvalidStateException/);
    assert.equal((await json(['xks', 'keys-disable', 'cli-key-1'])).XksKey.KeyStatus, 'DISABLED');
    assert.equal((await json(['xks', 'keys-describe', 'cli-key-1'])).XksKey.KeyStatus, 'DISABLED');
    assert.equal((await json(['xks', 'keys-enable', 'cli-key-1'])).XksKey.KeyStatus, 'ENABLED');
    const disabled = await keybridge(['xks', 'keys-disable', 'cli-key-1']);
    assert.equal(disabled.code, 0, disabled.stderr);
    assert.match(disabled.stdout, /^cli-key-1 +\S+ +DISABLED /m);

    const deleted = await keybridge(['xks', 'keys-delete', 'cli-key-1']);
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.equal(deleted.stdout, 'cli-key-1: deleted\n');
    const gone = await keybridge(['xks', 'keys-describe', 'cli-key-1']);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /NotFoundException/);
    assert.deepEqual((await json(['xks', 'keys-list', '--uri-path', PATH])).XksKeys, []);
  });

  test('credentials: create to a 0600 config file, print once, list without secrets, limit, delete', async () => {
    const file = join(server.dataDir, 'xks-proxy-config.json');
    const written = await keybridge(['xks', 'credentials-create', '--uri-path', PATH, '--config-file', file]);
    assert.equal(written.code, 0, written.stderr);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const config = JSON.parse(readFileSync(file, 'utf8'));
    assert.deepEqual(Object.keys(config), ['XksProxyUriPath', 'XksProxyAuthenticationCredential']);
    assert.equal(config.XksProxyUriPath, PATH);
    assert.deepEqual(Object.keys(config.XksProxyAuthenticationCredential), ['AccessKeyId', 'RawSecretAccessKey']);
    const first = config.XksProxyAuthenticationCredential;
    assert.match(first.AccessKeyId, ACCESS_KEY_ID);
    assert.match(first.RawSecretAccessKey, SECRET);
    assert.ok(!written.stdout.includes(first.RawSecretAccessKey) && !written.stderr.includes(first.RawSecretAccessKey), 'the secret was printed');
    assert.ok(written.stdout.includes(first.AccessKeyId));

    // An existing file is not overwritten, and no credential is created for it.
    writeFileSync(file, 'keep me');
    const exists = await keybridge(['xks', 'credentials-create', '--uri-path', PATH, '--config-file', file]);
    assert.equal(exists.code, 2);
    assert.match(exists.stderr, /already exists/);
    assert.equal(readFileSync(file, 'utf8'), 'keep me');

    // Without --config-file: the secret once, on standard output.
    const printed = await json(['xks', 'credentials-create', '--uri-path', PATH]);
    assert.deepEqual(Object.keys(printed).sort(), ['AccessKeyId', 'CreationDate', 'RawSecretAccessKey', 'UriPath']);
    assert.match(printed.AccessKeyId, ACCESS_KEY_ID);
    assert.match(printed.RawSecretAccessKey, SECRET);
    assert.equal(printed.UriPath, PATH);

    const listed = await keybridge(['xks', 'credentials-list', '--uri-path', PATH]);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /^ACCESS KEY ID +URI PATH +CREATED$/m);
    assert.ok(listed.stdout.includes(first.AccessKeyId) && listed.stdout.includes(printed.AccessKeyId));
    const listedJson = await keybridge(['--output', 'json', 'xks', 'credentials-list']);
    for (const run of [listed, listedJson]) {
      assert.ok(!run.stdout.includes(first.RawSecretAccessKey) && !run.stdout.includes(printed.RawSecretAccessKey), 'a secret is listed');
    }
    assert.deepEqual(
      JSON.parse(listedJson.stdout).Credentials.map((c: any) => Object.keys(c).sort()),
      [['AccessKeyId', 'CreationDate', 'UriPath'], ['AccessKeyId', 'CreationDate', 'UriPath']],
    );

    // A third for the same path is refused; its config file is not left behind.
    const thirdFile = join(server.dataDir, 'third.json');
    const third = await keybridge(['xks', 'credentials-create', '--uri-path', PATH, '--config-file', thirdFile]);
    assert.notEqual(third.code, 0);
    assert.equal(third.code, 1);
    assert.match(third.stderr, /LimitExceededException/);
    assert.throws(() => statSync(thirdFile), { code: 'ENOENT' });

    const deleted = await keybridge(['xks', 'credentials-delete', first.AccessKeyId]);
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.equal(deleted.stdout, `${first.AccessKeyId}: deleted\n`);
    assert.deepEqual((await json(['xks', 'credentials-list', '--uri-path', PATH])).Credentials.map((c: any) => c.AccessKeyId), [printed.AccessKeyId]);
    const again = await keybridge(['xks', 'credentials-delete', '--access-key-id', first.AccessKeyId]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /NotFoundException/);
    // The freed slot can be used again.
    const reissued = await keybridge(['xks', 'credentials-create', '--uri-path', PATH]);
    assert.equal(reissued.code, 0, reissued.stderr);
    assert.match(reissued.stdout, /^AccessKeyId +[A-Z2-7]{20,30}$/m);
    assert.match(reissued.stdout, /^RawSecretAccessKey +[A-Za-z0-9/+=]{43,64}$/m);
    assert.match(reissued.stderr, /shown only this once/);
  });

  test('usage errors exit 2 before any request', async () => {
    const cases: [string[], RegExp][] = [
      [['xks', 'keys-create', '--uri-path', '/kms/xks/v2'], /--uri-path must be/],
      [['xks', 'keys-create', '--uri-path', 'kms/xks/v1'], /--uri-path must be/],
      [['xks', 'keys-create', '--uri-path', `/${'a'.repeat(120)}/kms/xks/v1`], /--uri-path must be/],
      [['xks', 'keys-create', '--uri-path', '/a b/kms/xks/v1'], /--uri-path must be/],
      [['xks', 'keys-create'], /missing required option --uri-path/],
      [['xks', 'keys-create', '--uri-path', PATH, '--key-usage', 'SIGN'], /--key-usage must be/],
      [['xks', 'keys-create', '--uri-path', PATH, '--key-usage', 'ENCRYPT,ENCRYPT'], /--key-usage names a usage more than once/],
      [['xks', 'keys-create', '--uri-path', PATH, '--key-usage', ''], /--key-usage must be/],
      [['xks', 'keys-create', '--uri-path', PATH, '--xks-key-id', 'bad id'], /--xks-key-id must be/],
      [['xks', 'keys-list', '--uri-path', '/nope'], /--uri-path must be/],
      [['xks', 'keys-describe'], /missing required option --id/],
      [['xks', 'keys-delete', 'a/b'], /--id must be/],
      [['xks', 'credentials-create', '--uri-path', '/x/kms/xks/v1/'], /--uri-path must be/],
      [['xks', 'credentials-list', '--uri-path', '/kms/xks'], /--uri-path must be/],
      [['xks', 'credentials-delete'], /missing required option --access-key-id/],
      [['xks', 'keys'], /unknown xks command "keys"/],
    ];
    // No server at this endpoint: a usage error must not need one.
    const offline = { url: 'http://127.0.0.1:9', dataDir: server.dataDir, region: server.region };
    for (const [args, message] of cases) {
      const run = await runCliAgainst(offline, args);
      assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
      assert.match(run.stderr, message, args.join(' '));
      assert.match(run.stderr, /--help' for usage/);
      assert.equal(run.stdout, '');
    }
    const file = join(server.dataDir, 'never.json');
    const bad = await runCliAgainst(offline, ['xks', 'credentials-create', '--uri-path', '/kms/xks', '--config-file', file]);
    assert.equal(bad.code, 2);
    assert.throws(() => statSync(file), { code: 'ENOENT' });
  });
});
