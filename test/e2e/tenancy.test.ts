// The account boundary, end to end with the AWS CLI. This node serves account 111122223333. A
// principal of account 444455556666 whose own identity policy allows kms:* on everything must see
// none of this account's keys, aliases, grants or custom key stores, create nothing here and change
// nothing here — and may still use a key whose owner shares it in its key policy, by ARN, with the
// operations AWS allows across accounts.

import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { readCredentialsFile } from '../../src/auth/credentials-file.js';
import { awsCliMissing, awsKms, type CliResult } from '../support/kms-client.js';
import { runCliAgainst } from '../support/cli.js';
import { REPO_ROOT } from '../support/repo-root.js';
import { makeDataDir, startServer, type TestServer } from '../support/server.js';

const OWNER = '111122223333';
const OTHER = '444455556666';
const CLUSTER = 'cluster-kbExampleTwo';
const EXAMPLE_DIR = join(REPO_ROOT, 'hsm-config', 'clusters');

let server: TestServer;
/** Profiles in the credentials file, by principal ARN. */
const profileOf = new Map<string, string>();
let shared: { id: string; arn: string };
let owned: { id: string; arn: string };
let storeId: string;
let seq = 0;

function file(content: string): string {
  const path = join(server.dataDir, `tenancy-${++seq}`);
  writeFileSync(path, content);
  return path;
}

async function as(arn: string, args: string[]): Promise<CliResult> {
  return awsKms(server, args, { AWS_PROFILE: profileOf.get(arn) ?? assert.fail(`no profile for ${arn}`) });
}

/** `aws kms …` as the operator (the account root); must succeed. */
async function operator(args: string[]): Promise<any> {
  const r = await awsKms(server, args);
  assert.equal(r.code, 0, `aws kms ${args.join(' ')}: ${r.stderr}`);
  return r.json;
}

/** The AWS CLI's error line: "An error occurred (<Code>) when calling the <Op> operation: <message>". */
function failure(r: CliResult): { code: string; message: string } {
  const m = /An error occurred \(([A-Za-z]+)\) when calling the [A-Za-z]+ operation(?: \(reached max retries: \d+\))?: (.*)/.exec(r.stderr);
  assert.ok(m, `expected an AWS error, got exit ${r.code}: ${r.stdout} ${r.stderr}`);
  assert.equal(r.code, 254);
  return { code: m[1]!, message: m[2]!.trim() };
}

async function createPrincipal(account: string, user: string, identityPolicy?: object): Promise<string> {
  const before = new Set(readCredentialsFile(server.credentialsFile).keys());
  const created = await runCliAgainst(server, ['principals', 'create', '--account', account, '--user', user]);
  assert.equal(created.code, 0, created.stderr);
  const added = [...readCredentialsFile(server.credentialsFile).keys()].filter((p) => !before.has(p));
  assert.equal(added.length, 1, `one new profile for ${user}`);
  const arn = `arn:aws:iam::${account}:user/${user}`;
  profileOf.set(arn, added[0]!);
  if (identityPolicy) {
    const put = await runCliAgainst(server, ['principals', 'put-policy', '--account', account, '--user', user, '--name', 'everything', '--document', `file://${file(JSON.stringify(identityPolicy))}`]);
    assert.equal(put.code, 0, put.stderr);
  }
  return arn;
}

const MALLORY = `arn:aws:iam::${OTHER}:user/mallory`;
const PEGGY = `arn:aws:iam::${OTHER}:user/peggy`;
const EVERYTHING = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'kms:*', Resource: '*' }] };

before(async () => {
  const dataDir = makeDataDir();
  const clustersDir = join(dataDir, 'clusters');
  mkdirSync(clustersDir, { recursive: true });
  for (const f of ['example-softhsm.json', 'example-softhsm-ca.pem']) copyFileSync(join(EXAMPLE_DIR, f), join(clustersDir, f));
  server = await startServer({ dataDir, settings: { clustersDir, deletionSweepIntervalMs: 3_600_000 } });
  assert.equal(server.accountId, OWNER);
});

after(async () => {
  await server?.destroy();
});

describe('tenancy: a principal of another account', { skip: awsCliMissing }, () => {
  // A key shared with account 444455556666 in its key policy, a private key with an alias and a
  // grant, a custom key store. Every test below reads this state and changes none of it (the
  // grants test adds a grant on the shared key only), so each can run alone.
  before(async () => {
    await createPrincipal(OTHER, 'mallory', EVERYTHING);
    await createPrincipal(OTHER, 'peggy'); // no identity policy at all
    const policy = JSON.stringify({
      Version: '2012-10-17',
      Statement: [
        { Sid: 'Owner', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${OWNER}:root` }, Action: 'kms:*', Resource: '*' },
        // Everything, even what AWS never allows across accounts: those must still be refused.
        { Sid: 'Partner', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${OTHER}:root` }, Action: 'kms:*', Resource: '*' },
      ],
    });
    const s = (await operator(['create-key', '--description', 'shared', '--policy', `file://${file(policy)}`])).KeyMetadata;
    shared = { id: s.KeyId, arn: s.Arn };
    await operator(['create-alias', '--alias-name', 'alias/shared', '--target-key-id', shared.id]);
    const o = (await operator(['create-key', '--description', 'owned'])).KeyMetadata;
    owned = { id: o.KeyId, arn: o.Arn };
    await operator(['create-alias', '--alias-name', 'alias/owned', '--target-key-id', owned.id]);
    await operator(['create-grant', '--key-id', owned.id, '--grantee-principal', `arn:aws:iam::${OWNER}:user/app`, '--retiring-principal', MALLORY, '--operations', 'Decrypt']);
    const password = readFileSync(join(server.dataDir, 'pins', `${CLUSTER}.pin`), 'utf8').trim();
    storeId = (
      await operator([
        'create-custom-key-store', '--custom-key-store-name', 'payments', '--cloud-hsm-cluster-id', CLUSTER,
        '--trust-anchor-certificate', `file://${join(EXAMPLE_DIR, 'example-softhsm-ca.pem')}`, '--key-store-password', password,
      ])
    ).CustomKeyStoreId;
    assert.match(storeId, /^cks-/);
  });

  test('sees none of this account\'s keys, aliases, retirable grants or custom key stores', async () => {
    for (const args of [
      ['list-keys'],
      ['list-aliases'],
      ['list-aliases', '--key-id', shared.arn],
      ['list-retirable-grants', '--retiring-principal', MALLORY],
      ['describe-custom-key-stores'],
      ['describe-custom-key-stores', '--custom-key-store-id', storeId],
      ['generate-random', '--number-of-bytes', '16'],
    ]) {
      const r = await as(MALLORY, args);
      const { code, message } = failure(r);
      assert.equal(code, 'AccessDeniedException', `${args.join(' ')}: ${message}`);
      assert.match(message, new RegExp(`^User: ${MALLORY} is not authorized to perform: kms:`));
      assert.equal(r.stdout.includes(shared.id) || r.stdout.includes(owned.id) || r.stdout.includes(storeId), false);
    }
  });

  test('creates nothing in this account and changes none of its custom key stores', async () => {
    for (const args of [
      ['create-key', '--description', 'planted'],
      ['update-custom-key-store', '--custom-key-store-id', storeId, '--new-custom-key-store-name', 'pwned'],
      ['connect-custom-key-store', '--custom-key-store-id', storeId],
      ['disconnect-custom-key-store', '--custom-key-store-id', storeId],
      ['delete-custom-key-store', '--custom-key-store-id', storeId],
    ]) {
      assert.equal(failure(await as(MALLORY, args)).code, 'AccessDeniedException', args.join(' '));
    }
    const keys = (await operator(['list-keys'])).Keys.map((k: { KeyId: string }) => k.KeyId).sort();
    assert.deepEqual(keys, [shared.id, owned.id].sort(), 'no key was created');
    const [store] = (await operator(['describe-custom-key-stores', '--custom-key-store-id', storeId])).CustomKeyStores;
    assert.equal(store.CustomKeyStoreName, 'payments');
    assert.equal(store.ConnectionState, 'DISCONNECTED');
  });

  test('a key id or alias name names a key of its own account: not found here', async () => {
    for (const [keyId, expected] of [
      [owned.id, `Key 'arn:aws:kms:${server.region}:${OTHER}:key/${owned.id}' does not exist`],
      ['alias/owned', `Alias arn:aws:kms:${server.region}:${OTHER}:alias/owned is not found.`],
      [shared.id, `Key 'arn:aws:kms:${server.region}:${OTHER}:key/${shared.id}' does not exist`],
    ]) {
      assert.deepEqual(failure(await as(MALLORY, ['describe-key', '--key-id', keyId!])), { code: 'NotFoundException', message: expected });
    }
  });

  test('uses the shared key by key ARN and alias ARN as its policy allows; the private key is denied', async () => {
    const plaintext = `fileb://${file('cross-account data')}`;
    const enc = await as(MALLORY, ['encrypt', '--key-id', shared.arn, '--plaintext', plaintext]);
    assert.equal(enc.code, 0, enc.stderr);
    assert.equal(enc.json.KeyId, shared.arn);
    const blob = file('');
    writeFileSync(blob, Buffer.from(enc.json.CiphertextBlob, 'base64'));
    const dec = await as(MALLORY, ['decrypt', '--ciphertext-blob', `fileb://${blob}`]);
    assert.equal(dec.code, 0, dec.stderr);
    assert.equal(Buffer.from(dec.json.Plaintext, 'base64').toString(), 'cross-account data');
    const byAlias = await as(MALLORY, ['encrypt', '--key-id', `arn:aws:kms:${server.region}:${OWNER}:alias/shared`, '--plaintext', plaintext]);
    assert.equal(byAlias.code, 0, byAlias.stderr);
    const described = await as(MALLORY, ['describe-key', '--key-id', shared.arn]);
    assert.equal(described.json.KeyMetadata.KeyId, shared.id);

    const denied = failure(await as(MALLORY, ['encrypt', '--key-id', owned.arn, '--plaintext', plaintext]));
    assert.equal(denied.code, 'AccessDeniedException');
    assert.match(denied.message, new RegExp(`^User: ${MALLORY} is not authorized to perform: kms:Encrypt on resource: ${owned.arn}`));
  });

  test('both policies must allow: a principal of that account without an identity policy is denied the shared key', async () => {
    const r = failure(await as(PEGGY, ['encrypt', '--key-id', shared.arn, '--plaintext', `fileb://${file('x')}`]));
    assert.equal(r.code, 'AccessDeniedException');
    assert.match(r.message, /no identity-based policy allows the kms:Encrypt action/);
  });

  test('cannot manage the shared key, though its key policy allows kms:* to that account', async () => {
    for (const args of [
      ['schedule-key-deletion', '--key-id', shared.arn, '--pending-window-in-days', '7'],
      ['disable-key', '--key-id', shared.arn],
      ['put-key-policy', '--key-id', shared.arn, '--policy-name', 'default', '--policy', JSON.stringify(EVERYTHING)],
      ['tag-resource', '--key-id', shared.arn, '--tags', 'TagKey=owner,TagValue=mallory'],
      ['update-key-description', '--key-id', shared.arn, '--description', 'pwned'],
      ['create-alias', '--alias-name', 'alias/planted', '--target-key-id', shared.arn],
      ['update-alias', '--alias-name', 'alias/owned', '--target-key-id', shared.arn],
      ['delete-alias', '--alias-name', 'alias/shared'],
    ]) {
      const r = failure(await as(MALLORY, args));
      assert.ok(r.code === 'AccessDeniedException' || r.code === 'NotFoundException', `${args[0]}: ${r.code} ${r.message}`);
    }
    const metadata = (await operator(['describe-key', '--key-id', shared.id])).KeyMetadata;
    assert.equal(metadata.KeyState, 'Enabled');
    assert.equal(metadata.Description, 'shared');
    assert.deepEqual((await operator(['list-resource-tags', '--key-id', shared.id])).Tags, []);
    const aliases = (await operator(['list-aliases'])).Aliases.map((a: { AliasName: string; TargetKeyId?: string }) => `${a.AliasName}=${a.TargetKeyId}`).sort();
    assert.deepEqual(aliases, [`alias/owned=${owned.id}`, `alias/shared=${shared.id}`]);
  });

  test('grants on the shared key: it may create and list them (AWS allows that across accounts)', async () => {
    const created = await as(MALLORY, ['create-grant', '--key-id', shared.arn, '--grantee-principal', PEGGY, '--operations', 'Encrypt']);
    assert.equal(created.code, 0, created.stderr);
    const listed = await as(MALLORY, ['list-grants', '--key-id', shared.arn]);
    assert.equal(listed.code, 0, listed.stderr);
    assert.deepEqual(listed.json.Grants.map((g: { GrantId: string }) => g.GrantId), [created.json.GrantId]);
    // Its grant on the owner's other key is not its to see.
    assert.equal(failure(await as(MALLORY, ['list-grants', '--key-id', owned.arn])).code, 'AccessDeniedException');
  });
});
