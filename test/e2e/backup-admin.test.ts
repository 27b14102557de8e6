// KeybridgeAdmin.CreateBackup (issue #21): the running service writes a backup of its own data
// directory under its backup directory, in a thread of its own while requests go on; the caller
// names the backup, never a path. `keybridge backup create --on-server` is its CLI.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { CreateKeyCommand, DecryptCommand, EncryptCommand, type KMSClient } from '@aws-sdk/client-kms';

import { runCli, runCliAgainst } from '../support/cli.js';
import { sdkClient } from '../support/kms-client.js';
import { runLoops } from '../support/loops.js';
import { startServer, type TestServer } from '../support/server.js';

let server: TestServer;
let kms: KMSClient;

before(async () => {
  server = await startServer();
  kms = sdkClient(server);
});

after(async () => {
  await server?.stop();
});

test('CreateBackup writes a verifiable backup under the backup directory while Encrypt/Decrypt go on; names are checked and never reused', { timeout: 120_000 }, async () => {
  const keys: string[] = [];
  for (let i = 0; i < 20; i++) keys.push((await kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!);
  const sealed = await kms.send(new EncryptCommand({ KeyId: keys[0], Plaintext: Buffer.from('before the backup') }));

  const work = runLoops(3, async (loop, round) => {
    const text = Buffer.from(`during the backup ${loop}/${round}`);
    const blob = (await kms.send(new EncryptCommand({ KeyId: keys[(loop + round) % keys.length], Plaintext: text }))).CiphertextBlob!;
    assert.deepEqual(Buffer.from((await kms.send(new DecryptCommand({ CiphertextBlob: blob }))).Plaintext!), text);
  });
  let made;
  try {
    made = await runCliAgainst(server, ['--output', 'json', 'backup', 'create', '--on-server', '--name', 'nightly-1']);
  } finally {
    await work.stop();
  }
  assert.equal(made.code, 0, made.stdout + made.stderr);
  assert.deepEqual(work.failures, [], `requests failed during the backup: ${work.failures.slice(0, 3).join(' | ')}`);
  const result = JSON.parse(made.stdout) as { Name: string; Directory: string; Keys: number; Files: number; Bytes: number; AuditRecords: number; NotIncluded: string[] };
  const directory = join(server.dataDir, 'backups', 'nightly-1');
  assert.equal(result.Directory, directory);
  assert.equal(result.Keys, keys.length);
  assert.ok(result.AuditRecords > keys.length, `only ${result.AuditRecords} audit records`);
  assert.ok(result.NotIncluded.some((line) => line.startsWith('pins/')), 'the PINs are named as not included');
  assert.ok(!existsSync(join(directory, 'pins')), 'no PINs in a backup');
  assert.ok(!existsSync(join(directory, 'credentials')), 'no credentials in a backup');

  // The backup verifies on its own: manifest hashes, trail chain and signed digest, token files.
  const verified = await runCli(['backup', 'verify', '--from', directory]);
  assert.equal(verified.code, 0, verified.stdout + verified.stderr);

  // The same name again is refused, and nothing is overwritten.
  const again = await runCliAgainst(server, ['backup', 'create', '--on-server', '--name', 'nightly-1']);
  assert.notEqual(again.code, 0);
  assert.match(again.stderr, /AlreadyExistsException.*nightly-1/u);
  // A name that is a path is refused before anything is written.
  for (const bad of ['../outside', 'a/b', '.hidden', '']) {
    const refused = await runCliAgainst(server, ['backup', 'create', '--on-server', '--name', bad]);
    assert.notEqual(refused.code, 0, `name ${JSON.stringify(bad)} was accepted`);
    assert.match(refused.stderr, /ValidationException.*at 'name'/u, `name ${JSON.stringify(bad)}: ${refused.stderr}`);
  }
  assert.ok(!existsSync(join(server.dataDir, 'outside')));
  // Without a name, the time names it.
  const timed = await runCliAgainst(server, ['backup', 'create', '--on-server']);
  assert.equal(timed.code, 0, timed.stderr);
  assert.match(timed.stdout, /backups\/keybridge-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d-\d{3}Z/u);
  // The service still serves what it served before.
  assert.equal(Buffer.from((await kms.send(new DecryptCommand({ CiphertextBlob: sealed.CiphertextBlob! }))).Plaintext!).toString(), 'before the backup');
});
