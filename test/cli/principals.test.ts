// `keybridge principals …` against a real keybridge: the CLI creates users and roles through the
// admin API and writes their profiles into <data-dir>/credentials, and the AWS CLI then signs
// with those profiles. Authorization is not enforced yet, so who the caller is shows through the
// admin API's AccessDeniedException (it names the caller) and through SigV4 outcomes.

import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { readCredentialsFile, writeCredentialsProfile } from '../../src/auth/credentials-file.js';
import { awsCliMissing, awsKms } from '../support/kms-client.js';
import { startServer, type TestServer } from '../support/server.js';
import { runCliAgainst, type CliRun } from '../support/cli.js';


let server: TestServer;


/** `keybridge --endpoint-url … --data-dir … <args>` with a clean environment. */
function keybridge(args: readonly string[], extra: readonly string[] = []): Promise<CliRun> {
  return runCliAgainst(server, [...extra, ...args]);
}

function profiles(): Map<string, { accessKeyId: string; secretAccessKey: string }> {
  return readCredentialsFile(server.credentialsFile);
}

/** Every byte keybridge wrote into its data directory's database and log files. */
function storedBytes(): Buffer {
  const files = readdirSync(server.dataDir).filter((f) => /\.(db|db-wal|db-shm|log)$/.test(f));
  assert.ok(files.some((f) => f.endsWith('.db')));
  return Buffer.concat(files.map((f) => readFileSync(join(server.dataDir, f))));
}

const ALICE = 'arn:aws:iam::111122223333:user/alice';
// Alice has no identity policy allowing kms:ListKeys: a denial that names her proves the signature
// was accepted as hers (a wrong or unknown key fails SigV4 instead).
const AUTHENTICATED_AS_ALICE = new RegExp(`AccessDeniedException.*User: ${ALICE} is not authorized to perform: kms:ListKeys because no identity-based policy allows`);

before(async () => {
  server = await startServer();
});
after(async () => {
  await server?.destroy();
});

describe('keybridge principals', { skip: awsCliMissing }, () => {
  test('create writes a working profile; the secret is nowhere in the database or logs', async () => {
    const created = await keybridge(['principals', 'create', '--account', '111122223333', '--user', 'alice']);
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, /arn:aws:iam::111122223333:user\/alice: created/);
    const alice = profiles().get('alice');
    assert.ok(alice, 'profile alice written');
    assert.match(alice.accessKeyId, /^AKIA[A-Z2-7]{16}$/);
    assert.ok(profiles().has('keybridge'), 'the operator profile is kept');
    assert.equal(statSync(server.credentialsFile).mode & 0o777, 0o600);
    assert.ok(!created.stdout.includes(alice.secretAccessKey) && !created.stderr.includes(alice.secretAccessKey));

    // Signed as alice: the call is authenticated as her (and, with no identity policy yet, denied)...
    const listed = await awsKms(server, ['list-keys'], { AWS_PROFILE: 'alice' });
    assert.match(listed.stderr, AUTHENTICATED_AS_ALICE);
    // ...and the admin API names her when it refuses her.
    const denied = await keybridge(['principals', 'list'], ['--profile', 'alice']);
    assert.equal(denied.code, 1);
    assert.match(denied.stderr, new RegExp(`AccessDeniedException: User: ${ALICE} is not authorized`));

    // The same key id with a wrong secret fails SigV4.
    writeCredentialsProfile(server.credentialsFile, 'mallory', { accessKeyId: alice.accessKeyId, secretAccessKey: 'x'.repeat(40) });
    const forged = await awsKms(server, ['list-keys'], { AWS_PROFILE: 'mallory' });
    assert.notEqual(forged.code, 0);
    assert.match(forged.stderr, /InvalidSignatureException/);

    const bytes = storedBytes();
    assert.equal(bytes.includes(Buffer.from(alice.secretAccessKey)), false, 'secret found in the database or logs');
    assert.equal(bytes.includes(Buffer.from(alice.accessKeyId)), true, 'sanity: the access key id is stored');
  });

  test('a role in another account; list shows both; put-policy stores a document', async () => {
    const role = await keybridge(['principals', 'create', '--account', '444455556666', '--role', 'deployer', '--profile-name', 'deploy']);
    assert.equal(role.code, 0, role.stderr);
    const denied = await keybridge(['principals', 'list'], ['--profile', 'deploy']);
    assert.match(denied.stderr, /AccessDeniedException: User: arn:aws:iam::444455556666:role\/deployer is not authorized/);

    const policyFile = join(server.dataDir, 'p.json');
    writeFileSync(policyFile, '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*"}]}');
    const put = await keybridge(['principals', 'put-policy', '--user', 'alice', '--name', 'encrypt', '--document', `file://${policyFile}`]);
    assert.equal(put.code, 0, put.stderr);
    const bad = await keybridge(['principals', 'put-policy', '--user', 'alice', '--name', 'bad', '--document', '[1,2]']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /MalformedPolicyDocumentException/);

    const list = await keybridge(['principals', 'list'], ['--output', 'json']);
    assert.equal(list.code, 0, list.stderr);
    const entries = JSON.parse(list.stdout).Principals as Array<{ Arn: string; Type: string; PolicyNames: string[] }>;
    assert.deepEqual(
      entries.map((p) => [p.Arn, p.Type, p.PolicyNames]),
      [
        [ALICE, 'User', ['encrypt']],
        ['arn:aws:iam::444455556666:role/deployer', 'Role', []],
      ],
    );
    const dup = await keybridge(['principals', 'create', '--account', '111122223333', '--user', 'alice']);
    assert.equal(dup.code, 1);
    assert.match(dup.stderr, /AlreadyExistsException/);
  });

  test('rotate-keys rewrites the profile; the old key stops working at once', async () => {
    const before = profiles().get('alice')!;
    const rotated = await keybridge(['principals', 'rotate-keys', '--user', 'alice']);
    assert.equal(rotated.code, 0, rotated.stderr);
    const now = profiles().get('alice')!;
    assert.notEqual(now.accessKeyId, before.accessKeyId);
    assert.match((await awsKms(server, ['list-keys'], { AWS_PROFILE: 'alice' })).stderr, AUTHENTICATED_AS_ALICE);
    writeCredentialsProfile(server.credentialsFile, 'old-alice', before);
    const old = await awsKms(server, ['list-keys'], { AWS_PROFILE: 'old-alice' });
    assert.notEqual(old.code, 0);
    assert.match(old.stderr, /UnrecognizedClientException/);
  });

  test('keys survive a restart (unsealed from the store); deleted keys stay dead', async () => {
    await server.stop();
    server = await startServer({ dataDir: server.dataDir });
    assert.match((await awsKms(server, ['list-keys'], { AWS_PROFILE: 'alice' })).stderr, AUTHENTICATED_AS_ALICE);
    // The operator is still the root principal: the admin API answers it.
    assert.equal((await keybridge(['principals', 'list'])).code, 0);
    // The rotated-out key, still in the file as [old-alice], is not taken for an operator key.
    assert.match((await awsKms(server, ['list-keys'], { AWS_PROFILE: 'old-alice' })).stderr, /UnrecognizedClientException/);

    const deleted = await keybridge(['principals', 'delete', '--user', 'alice']);
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.match((await awsKms(server, ['list-keys'], { AWS_PROFILE: 'alice' })).stderr, /UnrecognizedClientException/);
    await server.stop();
    server = await startServer({ dataDir: server.dataDir });
    assert.match((await awsKms(server, ['list-keys'], { AWS_PROFILE: 'alice' })).stderr, /UnrecognizedClientException/);
    const gone = await keybridge(['principals', 'delete', '--user', 'alice']);
    assert.equal(gone.code, 1);
  });

  test('usage errors exit 2 before any request', async () => {
    const both = await keybridge(['principals', 'create', '--account', '111122223333', '--user', 'a', '--role', 'b']);
    assert.equal(both.code, 2);
    const badAccount = await keybridge(['principals', 'create', '--account', '12', '--user', 'a']);
    assert.equal(badAccount.code, 2);
    const none = await keybridge(['principals', 'delete']);
    assert.equal(none.code, 2);
  });
});
