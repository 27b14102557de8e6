// End to end through the real @aws-sdk/client-kms: every operation keybridge serves, checked
// against AWS's documented behaviour (shared/reference/aws-kms-api.md §1–3), on one real server
// (SoftHSM2 token + SQLite, real HTTP, SigV4) started for this file.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  CancelKeyDeletionCommand,
  CreateAliasCommand,
  CreateKeyCommand,
  DecryptCommand,
  DeleteAliasCommand,
  DescribeKeyCommand,
  DisableKeyCommand,
  EnableKeyCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  GenerateDataKeyWithoutPlaintextCommand,
  GenerateRandomCommand,
  GetKeyPolicyCommand,
  type KeyMetadata,
  type KMSClient,
  ListAliasesCommand,
  ListKeyPoliciesCommand,
  ListKeysCommand,
  ListResourceTagsCommand,
  PutKeyPolicyCommand,
  ReEncryptCommand,
  ScheduleKeyDeletionCommand,
  TagResourceCommand,
  UntagResourceCommand,
  UpdateAliasCommand,
  UpdateKeyDescriptionCommand,
} from '@aws-sdk/client-kms';
import { sdkClient } from '../support/kms-client.js';
import { startServer, type TestServer } from '../support/server.js';
import { blobLength } from '../support/symmetric-suite.js';

const ACCOUNT = '111122223333';
const REGION = 'us-east-1';
const DAY_MS = 24 * 60 * 60 * 1000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const keyArnOf = (keyId: string) => `arn:aws:kms:${REGION}:${ACCOUNT}:key/${keyId}`;
const aliasArnOf = (aliasName: string) => `arn:aws:kms:${REGION}:${ACCOUNT}:${aliasName}`;

let server: TestServer;
let kms: KMSClient;
const requestIds = new Set<string>();

/** Awaits a successful call and checks what every response carries: HTTP 200 and a fresh request id. */
async function ok<T extends { $metadata: { httpStatusCode?: number; requestId?: string } }>(call: Promise<T>): Promise<T> {
  const out = await call;
  assert.equal(out.$metadata.httpStatusCode, 200);
  const id = out.$metadata.requestId ?? '';
  assert.match(id, UUID, 'every response carries x-amzn-RequestId');
  assert.ok(!requestIds.has(id), `request id ${id} was used twice`);
  requestIds.add(id);
  return out;
}

interface SdkError extends Error {
  $metadata?: { httpStatusCode?: number; requestId?: string };
}

/** Awaits a call that must fail with the KMS error `name` (the wire `__type`) and HTTP `status`. */
async function fails(call: Promise<unknown>, name: string, status = 400): Promise<SdkError> {
  let caught: SdkError | undefined;
  try {
    await call;
  } catch (err) {
    caught = err as SdkError;
  }
  assert.ok(caught, `expected ${name}, but the call succeeded`);
  assert.equal(caught.name, name, `expected ${name}, got ${caught.name}: ${caught.message}`);
  assert.equal(caught.$metadata?.httpStatusCode, status, `${name} must travel with HTTP ${status}`);
  assert.match(caught.$metadata?.requestId ?? '', UUID, 'error responses carry a request id too');
  return caught;
}

async function newKey(description = 'sdk e2e'): Promise<KeyMetadata> {
  const out = await ok(kms.send(new CreateKeyCommand({ Description: description })));
  assert.ok(out.KeyMetadata);
  return out.KeyMetadata;
}

async function encrypt(keyId: string, plaintext: Uint8Array, context?: Record<string, string>): Promise<Uint8Array> {
  const out = await ok(kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: plaintext, ...(context ? { EncryptionContext: context } : {}) })));
  assert.ok(out.CiphertextBlob);
  return out.CiphertextBlob;
}

async function decrypt(blob: Uint8Array, context?: Record<string, string>, keyId?: string): Promise<Buffer> {
  const out = await ok(
    kms.send(new DecryptCommand({ CiphertextBlob: blob, ...(context ? { EncryptionContext: context } : {}), ...(keyId ? { KeyId: keyId } : {}) })),
  );
  assert.ok(out.Plaintext);
  return Buffer.from(out.Plaintext);
}

async function describe_(keyId: string): Promise<KeyMetadata> {
  const out = await ok(kms.send(new DescribeKeyCommand({ KeyId: keyId })));
  assert.ok(out.KeyMetadata);
  return out.KeyMetadata;
}

before(async () => {
  server = await startServer({
    // The compiled tree's compose.js cannot find hsm-config/profiles relative to itself in every
    // build layout; name it. A long sweep interval keeps the timer out of the sweeper test's way.
    settings: { deletionSweepIntervalMs: 3_600_000 },
  });
  kms = sdkClient(server);
});

after(async () => {
  kms?.destroy();
  await server?.destroy();
});

describe('CreateKey and DescribeKey', () => {
  test('KeyMetadata has every field AWS returns for a symmetric key, identically from both calls', async () => {
    const before = server.clock.now();
    const created = await ok(
      kms.send(new CreateKeyCommand({ Description: 'metadata check', Tags: [{ TagKey: 'team', TagValue: 'crypto' }] })),
    );
    const md = created.KeyMetadata!;
    assert.match(md.KeyId ?? '', UUID);
    assert.equal(md.AWSAccountId, ACCOUNT);
    assert.equal(md.Arn, keyArnOf(md.KeyId!));
    assert.ok(md.CreationDate instanceof Date, 'CreationDate is a timestamp the SDK turns into a Date');
    assert.ok(Math.abs(md.CreationDate.getTime() - before) < 60_000, `CreationDate ${md.CreationDate.toISOString()} is not about now`);
    assert.equal(md.Enabled, true);
    assert.equal(md.Description, 'metadata check');
    assert.equal(md.KeyUsage, 'ENCRYPT_DECRYPT');
    assert.equal(md.KeyState, 'Enabled');
    assert.equal(md.Origin, 'AWS_KMS');
    assert.equal(md.KeyManager, 'CUSTOMER');
    assert.equal(md.KeySpec, 'SYMMETRIC_DEFAULT');
    assert.equal(md.CustomerMasterKeySpec, 'SYMMETRIC_DEFAULT');
    assert.deepEqual(md.EncryptionAlgorithms, ['SYMMETRIC_DEFAULT']);
    assert.equal(md.MultiRegion, false);
    assert.equal(md.DeletionDate, undefined);
    assert.equal(md.PendingDeletionWindowInDays, undefined);
    assert.match(md.CurrentKeyMaterialId ?? '', /^[0-9a-f]{64}$/);

    const described = await describe_(md.KeyId!);
    assert.deepEqual(described, md);

    const tags = await ok(kms.send(new ListResourceTagsCommand({ KeyId: md.KeyId! })));
    assert.deepEqual(tags.Tags, [{ TagKey: 'team', TagValue: 'crypto' }]);
  });

  test('CreateKey without a description has an empty one; each key gets its own id', async () => {
    const a = await ok(kms.send(new CreateKeyCommand({})));
    const b = await ok(kms.send(new CreateKeyCommand({ KeySpec: 'SYMMETRIC_DEFAULT', KeyUsage: 'ENCRYPT_DECRYPT' })));
    assert.equal(a.KeyMetadata!.Description, '');
    assert.notEqual(a.KeyMetadata!.KeyId, b.KeyMetadata!.KeyId);
    assert.notEqual(a.KeyMetadata!.CurrentKeyMaterialId, b.KeyMetadata!.CurrentKeyMaterialId);
  });

  test('unsupported key specs, custom key stores and bad input are refused without creating a key', async () => {
    const count = async () => (await ok(kms.send(new ListKeysCommand({ Limit: 1000 })))).Keys!.length;
    const keysBefore = await count();
    await fails(kms.send(new CreateKeyCommand({ KeySpec: 'SM2', KeyUsage: 'SIGN_VERIFY' })), 'UnsupportedOperationException');
    // Every spec but SYMMETRIC_DEFAULT needs a KeyUsage (asymmetric and HMAC keys: issue #8).
    await fails(kms.send(new CreateKeyCommand({ CustomerMasterKeySpec: 'HMAC_256' })), 'ValidationException');
    await fails(kms.send(new CreateKeyCommand({ CustomKeyStoreId: 'cks-1234567890abcdef0' })), 'CustomKeyStoreNotFoundException');
    await fails(kms.send(new CreateKeyCommand({ Policy: '{not json' })), 'MalformedPolicyDocumentException');
    await fails(kms.send(new CreateKeyCommand({ Tags: [{ TagKey: 'aws:owner', TagValue: 'x' }] })), 'TagException');
    await fails(kms.send(new CreateKeyCommand({ Description: 'd'.repeat(8193) })), 'ValidationException');
    const tags51 = Array.from({ length: 51 }, (_, i) => ({ TagKey: `t${i}`, TagValue: 'v' }));
    await fails(kms.send(new CreateKeyCommand({ Tags: tags51 })), 'LimitExceededException');
    const tags50 = await ok(kms.send(new CreateKeyCommand({ Tags: tags51.slice(0, 50) })));
    assert.equal((await ok(kms.send(new ListResourceTagsCommand({ KeyId: tags50.KeyMetadata!.KeyId! })))).Tags!.length, 50);
    assert.equal(await count(), keysBefore + 1, 'a refused CreateKey must not leave a key behind (only the 50-tag key was made)');
  });

  test('DescribeKey of an unknown key or a malformed id is NotFoundException', async () => {
    const unknown = '00000000-0000-4000-8000-000000000000';
    const err = await fails(kms.send(new DescribeKeyCommand({ KeyId: unknown })), 'NotFoundException');
    assert.match(err.message, new RegExp(keyArnOf(unknown)));
    await fails(kms.send(new DescribeKeyCommand({ KeyId: 'not-a-key-id' })), 'NotFoundException');
    await fails(kms.send(new DescribeKeyCommand({ KeyId: 'alias/never-created' })), 'NotFoundException');
  });
});

describe('key identifiers', () => {
  let key: KeyMetadata;
  const alias = 'alias/sdk-forms';
  let forms: Record<string, string>;

  before(async () => {
    key = await newKey('identifier forms');
    await ok(kms.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: key.KeyId! })));
    forms = { 'key id': key.KeyId!, 'key ARN': key.Arn!, 'alias name': alias, 'alias ARN': aliasArnOf(alias) };
  });

  test('crypto operations and DescribeKey accept key id, key ARN, alias name and alias ARN', async () => {
    const other = await newKey('re-encrypt source');
    const fromOther = await encrypt(other.KeyId!, Buffer.from('move me'));
    for (const [form, id] of Object.entries(forms)) {
      const md = await describe_(id);
      assert.equal(md.KeyId, key.KeyId, `DescribeKey by ${form}`);

      const enc = await ok(kms.send(new EncryptCommand({ KeyId: id, Plaintext: Buffer.from(form) })));
      assert.equal(enc.KeyId, key.Arn, `Encrypt by ${form} answers with the key ARN`);
      assert.equal((await decrypt(enc.CiphertextBlob!, undefined, id)).toString(), form, `Decrypt with KeyId as ${form}`);

      const dk = await ok(kms.send(new GenerateDataKeyCommand({ KeyId: id, KeySpec: 'AES_256' })));
      assert.equal(dk.KeyId, key.Arn, `GenerateDataKey by ${form}`);
      const dkw = await ok(kms.send(new GenerateDataKeyWithoutPlaintextCommand({ KeyId: id, NumberOfBytes: 8 })));
      assert.equal(dkw.KeyId, key.Arn, `GenerateDataKeyWithoutPlaintext by ${form}`);

      const re = await ok(kms.send(new ReEncryptCommand({ CiphertextBlob: fromOther, DestinationKeyId: id, SourceKeyId: other.Arn! })));
      assert.equal(re.KeyId, key.Arn, `ReEncrypt to ${form}`);
      const re2 = await ok(kms.send(new ReEncryptCommand({ CiphertextBlob: enc.CiphertextBlob!, SourceKeyId: id, DestinationKeyId: other.KeyId! })));
      assert.equal(re2.SourceKeyId, key.Arn, `ReEncrypt from ${form}`);
    }
  });

  test('management operations accept key id and key ARN, and an alias is NotFoundException', async () => {
    const k = key.KeyId!;
    const byForm = (id: string) => [
      () => kms.send(new EnableKeyCommand({ KeyId: id })),
      () => kms.send(new DisableKeyCommand({ KeyId: id })),
      () => kms.send(new UpdateKeyDescriptionCommand({ KeyId: id, Description: 'identifier forms' })),
      () => kms.send(new TagResourceCommand({ KeyId: id, Tags: [{ TagKey: 'form', TagValue: 'x' }] })),
      () => kms.send(new UntagResourceCommand({ KeyId: id, TagKeys: ['form'] })),
      () => kms.send(new ListResourceTagsCommand({ KeyId: id })),
      () => kms.send(new GetKeyPolicyCommand({ KeyId: id, PolicyName: 'default' })),
      () => kms.send(new ListKeyPoliciesCommand({ KeyId: id })),
      () => kms.send(new ListAliasesCommand({ KeyId: id })),
    ];
    for (const id of [alias, aliasArnOf(alias)]) {
      for (const call of byForm(id)) await fails(call(), 'NotFoundException');
      await fails(kms.send(new ScheduleKeyDeletionCommand({ KeyId: id, PendingWindowInDays: 7 })), 'NotFoundException');
      await fails(kms.send(new CancelKeyDeletionCommand({ KeyId: id })), 'NotFoundException');
      await fails(kms.send(new PutKeyPolicyCommand({ KeyId: id, PolicyName: 'default', Policy: (await getPolicy(k)) })), 'NotFoundException');
    }
    for (const id of [k, key.Arn!]) {
      for (const call of byForm(id)) await ok(call());
      await ok(kms.send(new EnableKeyCommand({ KeyId: id })));
    }
    // The key ends where it started: enabled, still reachable through its alias.
    assert.equal((await describe_(alias)).KeyState, 'Enabled');
  });

  test('a key ARN or alias ARN of another region or account is NotFoundException', async () => {
    const k = key.KeyId!;
    const foreign = [
      `arn:aws:kms:eu-west-1:${ACCOUNT}:key/${k}`,
      `arn:aws:kms:${REGION}:444455556666:key/${k}`,
      `arn:aws:kms:eu-west-1:${ACCOUNT}:${alias}`,
      `arn:aws:kms:${REGION}:444455556666:${alias}`,
    ];
    for (const id of foreign) {
      await fails(kms.send(new DescribeKeyCommand({ KeyId: id })), 'NotFoundException');
      await fails(kms.send(new EncryptCommand({ KeyId: id, Plaintext: Buffer.from('x') })), 'NotFoundException');
    }
    await fails(kms.send(new DisableKeyCommand({ KeyId: foreign[0]! })), 'NotFoundException');
    await fails(kms.send(new TagResourceCommand({ KeyId: foreign[1]!, Tags: [{ TagKey: 'a', TagValue: 'b' }] })), 'NotFoundException');
    assert.equal((await describe_(k)).KeyState, 'Enabled', 'the foreign-ARN DisableKey must not have touched our key');
  });
});

async function getPolicy(keyId: string): Promise<string> {
  const out = await ok(kms.send(new GetKeyPolicyCommand({ KeyId: keyId, PolicyName: 'default' })));
  assert.equal(out.PolicyName, 'default');
  assert.ok(out.Policy);
  return out.Policy;
}

describe('key states', () => {
  /** Runs each crypto operation against `keyId` and expects `name` from every one. */
  async function cryptoFails(keyId: string, blobOfKey: Uint8Array, blobOfOther: Uint8Array, name: string): Promise<void> {
    await fails(kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('x') })), name);
    await fails(kms.send(new DecryptCommand({ CiphertextBlob: blobOfKey })), name);
    await fails(kms.send(new DecryptCommand({ CiphertextBlob: blobOfKey, KeyId: keyId })), name);
    await fails(kms.send(new ReEncryptCommand({ CiphertextBlob: blobOfKey, DestinationKeyId: keyOther.KeyId! })), name);
    await fails(kms.send(new ReEncryptCommand({ CiphertextBlob: blobOfOther, DestinationKeyId: keyId })), name);
    await fails(kms.send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256' })), name);
    await fails(kms.send(new GenerateDataKeyWithoutPlaintextCommand({ KeyId: keyId, KeySpec: 'AES_256' })), name);
  }

  let keyOther: KeyMetadata;

  test('Enabled → Disabled → Enabled: crypto is DisabledException while disabled, management still works', async () => {
    const key = await newKey('state: disable');
    keyOther = await newKey('state: other');
    const blob = await encrypt(key.KeyId!, Buffer.from('before disabling'));
    const otherBlob = await encrypt(keyOther.KeyId!, Buffer.from('from the other key'));

    await ok(kms.send(new DisableKeyCommand({ KeyId: key.KeyId! })));
    const md = await describe_(key.KeyId!);
    assert.equal(md.KeyState, 'Disabled');
    assert.equal(md.Enabled, false);

    await cryptoFails(key.KeyId!, blob, otherBlob, 'DisabledException');
    // Management keeps working on a disabled key.
    await ok(kms.send(new DisableKeyCommand({ KeyId: key.KeyId! })));
    await ok(kms.send(new UpdateKeyDescriptionCommand({ KeyId: key.KeyId!, Description: 'disabled but described' })));
    await ok(kms.send(new TagResourceCommand({ KeyId: key.KeyId!, Tags: [{ TagKey: 'state', TagValue: 'disabled' }] })));
    await ok(kms.send(new CreateAliasCommand({ AliasName: 'alias/sdk-disabled', TargetKeyId: key.KeyId! })));
    await ok(kms.send(new PutKeyPolicyCommand({ KeyId: key.KeyId!, PolicyName: 'default', Policy: await getPolicy(key.KeyId!) })));
    await fails(kms.send(new CancelKeyDeletionCommand({ KeyId: key.KeyId! })), 'KMSInvalidStateException');
    assert.equal((await describe_('alias/sdk-disabled')).Description, 'disabled but described');

    await ok(kms.send(new EnableKeyCommand({ KeyId: key.KeyId! })));
    const enabled = await describe_(key.KeyId!);
    assert.equal(enabled.KeyState, 'Enabled');
    assert.equal(enabled.Enabled, true);
    assert.equal((await decrypt(blob)).toString(), 'before disabling', 'a re-enabled key decrypts what it encrypted before');
    await ok(kms.send(new EnableKeyCommand({ KeyId: key.KeyId! })));
  });

  test('PendingDeletion: crypto and changes are KMSInvalidStateException, reads still work; cancel leaves it Disabled', async () => {
    const key = await newKey('state: pending deletion');
    const k = key.KeyId!;
    await ok(kms.send(new TagResourceCommand({ KeyId: k, Tags: [{ TagKey: 'keep', TagValue: 'me' }] })));
    await ok(kms.send(new CreateAliasCommand({ AliasName: 'alias/sdk-pending', TargetKeyId: k })));
    await ok(kms.send(new CreateAliasCommand({ AliasName: 'alias/sdk-pending-2', TargetKeyId: k })));
    await ok(kms.send(new CreateAliasCommand({ AliasName: 'alias/sdk-elsewhere', TargetKeyId: keyOther.KeyId! })));
    const blob = await encrypt(k, Buffer.from('before scheduling'));
    const otherBlob = await encrypt(keyOther.KeyId!, Buffer.from('from the other key'));

    const scheduled = await ok(kms.send(new ScheduleKeyDeletionCommand({ KeyId: k, PendingWindowInDays: 30 })));
    assert.equal(scheduled.KeyState, 'PendingDeletion');

    await cryptoFails(k, blob, otherBlob, 'KMSInvalidStateException');
    await fails(kms.send(new EncryptCommand({ KeyId: 'alias/sdk-pending', Plaintext: Buffer.from('x') })), 'KMSInvalidStateException');

    // Reads keep working.
    const md = await describe_(k);
    assert.equal(md.KeyState, 'PendingDeletion');
    assert.equal(md.Enabled, false);
    assert.equal(md.PendingDeletionWindowInDays, 30);
    assert.ok(md.DeletionDate instanceof Date);
    assert.deepEqual((await ok(kms.send(new ListResourceTagsCommand({ KeyId: k })))).Tags, [{ TagKey: 'keep', TagValue: 'me' }]);
    assert.ok((await getPolicy(k)).includes('kms:*'));
    assert.deepEqual((await ok(kms.send(new ListKeyPoliciesCommand({ KeyId: k })))).PolicyNames, ['default']);
    // AWS's key-state table allows PutKeyPolicy in every state, PendingDeletion included.
    const pendingPolicy = '{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}';
    await ok(kms.send(new PutKeyPolicyCommand({ KeyId: k, PolicyName: 'default', Policy: pendingPolicy })));
    assert.equal(await getPolicy(k), pendingPolicy);
    await fails(kms.send(new PutKeyPolicyCommand({ KeyId: k, PolicyName: 'default', Policy: '{}' })), 'MalformedPolicyDocumentException');
    const aliases = await ok(kms.send(new ListAliasesCommand({ KeyId: k })));
    assert.deepEqual(aliases.Aliases!.map((a) => a.AliasName), ['alias/sdk-pending', 'alias/sdk-pending-2']);

    // Changes are refused.
    const invalid = 'KMSInvalidStateException';
    await fails(kms.send(new TagResourceCommand({ KeyId: k, Tags: [{ TagKey: 'a', TagValue: 'b' }] })), invalid);
    await fails(kms.send(new UntagResourceCommand({ KeyId: k, TagKeys: ['keep'] })), invalid);
    await fails(kms.send(new UpdateKeyDescriptionCommand({ KeyId: k, Description: 'nope' })), invalid);
    await fails(kms.send(new CreateAliasCommand({ AliasName: 'alias/sdk-pending-new', TargetKeyId: k })), invalid);
    await fails(kms.send(new UpdateAliasCommand({ AliasName: 'alias/sdk-elsewhere', TargetKeyId: k })), invalid);
    await fails(kms.send(new EnableKeyCommand({ KeyId: k })), invalid);
    await fails(kms.send(new DisableKeyCommand({ KeyId: k })), invalid);
    await fails(kms.send(new ScheduleKeyDeletionCommand({ KeyId: k, PendingWindowInDays: 7 })), invalid);
    // Nothing changed.
    const still = await describe_(k);
    assert.equal(still.Description, 'state: pending deletion');
    assert.equal(still.PendingDeletionWindowInDays, 30, 'a second ScheduleKeyDeletion must not move the date');
    assert.equal(still.DeletionDate!.getTime(), md.DeletionDate!.getTime());
    assert.deepEqual((await ok(kms.send(new ListResourceTagsCommand({ KeyId: k })))).Tags, [{ TagKey: 'keep', TagValue: 'me' }]);
    const elsewhere = await ok(kms.send(new ListAliasesCommand({ KeyId: keyOther.KeyId! })));
    assert.ok(elsewhere.Aliases!.some((a) => a.AliasName === 'alias/sdk-elsewhere'));

    // DeleteAlias is allowed in every key state.
    await ok(kms.send(new DeleteAliasCommand({ AliasName: 'alias/sdk-pending-2' })));

    const cancelled = await ok(kms.send(new CancelKeyDeletionCommand({ KeyId: key.Arn! })));
    assert.equal(cancelled.KeyId, key.Arn);
    const after = await describe_(k);
    assert.equal(after.KeyState, 'Disabled', 'AWS leaves a key whose deletion was cancelled Disabled');
    assert.equal(after.Enabled, false);
    assert.equal(after.DeletionDate, undefined);
    assert.equal(after.PendingDeletionWindowInDays, undefined);
    await fails(kms.send(new EncryptCommand({ KeyId: k, Plaintext: Buffer.from('x') })), 'DisabledException');
    await ok(kms.send(new EnableKeyCommand({ KeyId: k })));
    assert.equal((await decrypt(blob)).toString(), 'before scheduling');
    await fails(kms.send(new CancelKeyDeletionCommand({ KeyId: k })), 'KMSInvalidStateException');
    assert.equal((await describe_('alias/sdk-pending')).KeyId, k, 'aliases survive a cancelled deletion');
  });

  test('ScheduleKeyDeletion accepts 7–30 days and defaults to 30', async () => {
    const key = await newKey('state: windows');
    for (const days of [6, 31, 0, 365]) {
      await fails(kms.send(new ScheduleKeyDeletionCommand({ KeyId: key.KeyId!, PendingWindowInDays: days })), 'ValidationException');
    }
    assert.equal((await describe_(key.KeyId!)).KeyState, 'Enabled');
    const now = server.clock.now();
    const out = await ok(kms.send(new ScheduleKeyDeletionCommand({ KeyId: key.KeyId! })));
    assert.equal(out.PendingWindowInDays, 30);
    assert.ok(Math.abs(out.DeletionDate!.getTime() - (now + 30 * DAY_MS)) < 60_000);
    await ok(kms.send(new CancelKeyDeletionCommand({ KeyId: key.KeyId! })));
  });
});

describe('ScheduleKeyDeletion and the sweeper', () => {
  test('the response describes the schedule; after the window the sweeper deletes the key and its aliases', async () => {
    const key = await newKey('to be swept');
    const survivor = await newKey('not scheduled');
    const k = key.KeyId!;
    await ok(kms.send(new CreateAliasCommand({ AliasName: 'alias/sdk-swept', TargetKeyId: k })));
    await ok(kms.send(new CreateAliasCommand({ AliasName: 'alias/sdk-survivor', TargetKeyId: survivor.KeyId! })));
    await ok(kms.send(new TagResourceCommand({ KeyId: k, Tags: [{ TagKey: 'a', TagValue: 'b' }] })));

    const now = server.clock.now();
    const out = await ok(kms.send(new ScheduleKeyDeletionCommand({ KeyId: k, PendingWindowInDays: 7 })));
    assert.equal(out.KeyId, key.Arn);
    assert.equal(out.KeyState, 'PendingDeletion');
    assert.equal(out.PendingWindowInDays, 7);
    assert.ok(out.DeletionDate instanceof Date);
    const due = out.DeletionDate.getTime();
    assert.ok(Math.abs(due - (now + 7 * DAY_MS)) < 60_000, `DeletionDate ${out.DeletionDate.toISOString()} is not now + 7 days`);
    const md = await describe_(k);
    assert.equal(md.DeletionDate!.getTime(), due);
    assert.equal(md.PendingDeletionWindowInDays, 7);

    // Before the window ends the sweeper leaves it alone.
    server.clock.advance(6 * DAY_MS);
    assert.ok(!(await server.keybridge.sweeper.sweepOnce()).includes(k));
    assert.equal((await describe_(k)).KeyState, 'PendingDeletion');

    server.clock.advance(DAY_MS + 60_000);
    const deleted = await server.keybridge.sweeper.sweepOnce();
    assert.ok(deleted.includes(k), `the sweeper deleted ${JSON.stringify(deleted)}, not ${k}`);
    assert.ok(!deleted.includes(survivor.KeyId!));

    await fails(kms.send(new DescribeKeyCommand({ KeyId: k })), 'NotFoundException');
    await fails(kms.send(new DescribeKeyCommand({ KeyId: 'alias/sdk-swept' })), 'NotFoundException');
    await fails(kms.send(new ListResourceTagsCommand({ KeyId: k })), 'NotFoundException');
    await fails(kms.send(new CancelKeyDeletionCommand({ KeyId: k })), 'NotFoundException');
    const aliases = await ok(kms.send(new ListAliasesCommand({ Limit: 100 })));
    const names = aliases.Aliases!.map((a) => a.AliasName);
    assert.ok(!names.includes('alias/sdk-swept'), 'the deleted key’s alias is gone');
    assert.ok(!aliases.Aliases!.some((a) => a.TargetKeyId === k));
    assert.ok(names.includes('alias/sdk-survivor'));
    const keys = await ok(kms.send(new ListKeysCommand({ Limit: 1000 })));
    assert.ok(!keys.Keys!.some((e) => e.KeyId === k));
    assert.ok(keys.Keys!.some((e) => e.KeyId === survivor.KeyId));
    assert.equal((await describe_(survivor.KeyId!)).KeyState, 'Enabled');
    // The alias name is free again.
    await ok(kms.send(new CreateAliasCommand({ AliasName: 'alias/sdk-swept', TargetKeyId: survivor.KeyId! })));
  });
});

describe('pagination', () => {
  test('ListKeys with Limit 2 pages through every key exactly once', async () => {
    const created: KeyMetadata[] = [];
    for (let i = 0; i < 6; i++) created.push(await newKey(`page ${i}`));
    const all = await ok(kms.send(new ListKeysCommand({})));
    assert.equal(all.Truncated, false);
    assert.equal(all.NextMarker, undefined);

    const seen: string[] = [];
    let marker: string | undefined;
    let pages = 0;
    do {
      const out = await ok(kms.send(new ListKeysCommand({ Limit: 2, ...(marker ? { Marker: marker } : {}) })));
      pages++;
      assert.ok(out.Keys!.length <= 2);
      for (const e of out.Keys!) {
        assert.equal(e.KeyArn, keyArnOf(e.KeyId!));
        seen.push(e.KeyId!);
      }
      if (out.Truncated) {
        assert.equal(out.Keys!.length, 2);
        assert.ok(out.NextMarker, 'a truncated page has a NextMarker');
      } else {
        assert.equal(out.NextMarker, undefined);
      }
      marker = out.Truncated ? out.NextMarker : undefined;
      assert.ok(pages < 100, 'pagination does not end');
    } while (marker);
    assert.equal(new Set(seen).size, seen.length, 'no key appears twice');
    for (const k of created) assert.ok(seen.includes(k.KeyId!), `key ${k.KeyId} missing from the pages`);
    assert.deepEqual(seen, all.Keys!.map((e) => e.KeyId), 'the pages concatenate to the full listing');
    assert.ok(pages >= 3);
  });

  test('ListAliases pages with and without a KeyId filter', async () => {
    const key = await newKey('alias pages');
    const names = ['a', 'b', 'c', 'd', 'e'].map((s) => `alias/sdk-page-${s}`);
    for (const name of names) await ok(kms.send(new CreateAliasCommand({ AliasName: name, TargetKeyId: key.KeyId! })));

    const collect = async (keyId?: string) => {
      const seen: string[] = [];
      let marker: string | undefined;
      for (let i = 0; i < 100; i++) {
        const out = await ok(kms.send(new ListAliasesCommand({ Limit: 2, ...(keyId ? { KeyId: keyId } : {}), ...(marker ? { Marker: marker } : {}) })));
        assert.ok(out.Aliases!.length <= 2);
        seen.push(...out.Aliases!.map((a) => a.AliasName!));
        if (!out.Truncated) return seen;
        marker = out.NextMarker;
        assert.ok(marker);
      }
      assert.fail('ListAliases pagination does not end');
    };
    assert.deepEqual(await collect(key.KeyId!), names);
    const everything = await collect();
    assert.equal(new Set(everything).size, everything.length);
    for (const name of names) assert.ok(everything.includes(name));
    const full = await ok(kms.send(new ListAliasesCommand({ Limit: 100 })));
    assert.deepEqual(everything, full.Aliases!.map((a) => a.AliasName));
  });

  test('ListResourceTags pages with Limit 3', async () => {
    const key = await newKey('tag pages');
    const tags = Array.from({ length: 7 }, (_, i) => ({ TagKey: `k${i}`, TagValue: `v${i}` }));
    await ok(kms.send(new TagResourceCommand({ KeyId: key.KeyId!, Tags: tags })));
    const seen: Array<{ TagKey?: string; TagValue?: string }> = [];
    const sizes: number[] = [];
    let marker: string | undefined;
    do {
      const out = await ok(kms.send(new ListResourceTagsCommand({ KeyId: key.KeyId!, Limit: 3, ...(marker ? { Marker: marker } : {}) })));
      sizes.push(out.Tags!.length);
      seen.push(...out.Tags!);
      marker = out.Truncated ? out.NextMarker : undefined;
      if (out.Truncated) assert.ok(out.NextMarker);
    } while (marker && sizes.length < 100);
    assert.deepEqual(sizes, [3, 3, 1]);
    assert.deepEqual(seen, tags);
  });

  test('a Marker keybridge did not issue is InvalidMarkerException', async () => {
    const key = await newKey('bad markers');
    for (const bad of ['bogus', 'not a marker!', Buffer.from('hello').toString('base64url'), 'a2IxOg']) {
      await fails(kms.send(new ListKeysCommand({ Marker: bad })), 'InvalidMarkerException');
      await fails(kms.send(new ListAliasesCommand({ Marker: bad })), 'InvalidMarkerException');
      await fails(kms.send(new ListResourceTagsCommand({ KeyId: key.KeyId!, Marker: bad })), 'InvalidMarkerException');
      await fails(kms.send(new ListKeyPoliciesCommand({ KeyId: key.KeyId!, Marker: bad })), 'InvalidMarkerException');
    }
  });
});

describe('Encrypt, Decrypt and the ciphertext blob', () => {
  let keyA: KeyMetadata;
  let keyB: KeyMetadata;
  before(async () => {
    keyA = await newKey('cipher A');
    keyB = await newKey('cipher B');
  });

  test('round trip of 1 and 4096 bytes; Encrypt answers with the key ARN and SYMMETRIC_DEFAULT; 0 and 4097 bytes are refused', async () => {
    for (const size of [1, 4096]) {
      const plaintext = Buffer.alloc(size);
      for (let i = 0; i < size; i++) plaintext[i] = (i * 7 + 3) & 0xff;
      const out = await ok(kms.send(new EncryptCommand({ KeyId: keyA.KeyId!, Plaintext: plaintext })));
      assert.equal(out.KeyId, keyA.Arn);
      assert.equal(out.EncryptionAlgorithm, 'SYMMETRIC_DEFAULT');
      assert.equal(out.CiphertextBlob!.length, blobLength(size), 'docs/ciphertext-format.md: the blob is 78 + n bytes (GCM), 98 + n padded (CBC-HMAC)');
      if (size >= 16) assert.ok(!Buffer.from(out.CiphertextBlob!).includes(plaintext.subarray(0, 16)), 'the blob does not carry the plaintext');
      const dec = await ok(kms.send(new DecryptCommand({ CiphertextBlob: out.CiphertextBlob! })));
      assert.ok(Buffer.from(dec.Plaintext!).equals(plaintext));
      assert.equal(dec.KeyId, keyA.Arn);
      assert.equal(dec.EncryptionAlgorithm, 'SYMMETRIC_DEFAULT');
    }
    const twice = await Promise.all([encrypt(keyA.KeyId!, Buffer.from('same')), encrypt(keyA.KeyId!, Buffer.from('same'))]);
    assert.ok(!Buffer.from(twice[0]).equals(Buffer.from(twice[1])), 'two encryptions of the same plaintext differ (fresh IV)');

    const tooBig = await fails(kms.send(new EncryptCommand({ KeyId: keyA.KeyId!, Plaintext: Buffer.alloc(4097, 1) })), 'ValidationException');
    assert.match(tooBig.message, /plaintext/);
    assert.match(tooBig.message, /less than or equal to 4096/);
    await fails(kms.send(new EncryptCommand({ KeyId: keyA.KeyId!, Plaintext: Buffer.alloc(0) })), 'ValidationException');
    await fails(
      kms.send(new EncryptCommand({ KeyId: keyA.KeyId!, Plaintext: Buffer.from('x'), EncryptionAlgorithm: 'RSAES_OAEP_SHA_256' })),
      'InvalidKeyUsageException',
    );
  });

  test('encryption context: order does not matter; missing, extra or different context is InvalidCiphertextException', async () => {
    const plaintext = Buffer.from('context-bound secret');
    const blob = await encrypt(keyA.KeyId!, plaintext, { a: '1', b: '2' });
    assert.ok((await decrypt(blob, { b: '2', a: '1' })).equals(plaintext), '{b,a} opens what {a,b} sealed');
    assert.ok((await decrypt(blob, { a: '1', b: '2' })).equals(plaintext));
    const wrongs: Array<Record<string, string> | undefined> = [undefined, {}, { a: '1' }, { a: '1', b: '2', c: '3' }, { a: '1', b: '3' }, { a: '1', B: '2' }, { a: '1', b: '2 ' }];
    for (const wrong of wrongs) {
      await fails(
        kms.send(new DecryptCommand({ CiphertextBlob: blob, ...(wrong ? { EncryptionContext: wrong } : {}) })),
        'InvalidCiphertextException',
      );
    }
    // A blob sealed without context opens with none or an empty one, and not with any.
    const bare = await encrypt(keyA.KeyId!, plaintext);
    assert.ok((await decrypt(bare)).equals(plaintext));
    assert.ok((await decrypt(bare, {})).equals(plaintext));
    await fails(kms.send(new DecryptCommand({ CiphertextBlob: bare, EncryptionContext: { a: '1' } })), 'InvalidCiphertextException');
  });

  test('flipping any single bit of a blob is InvalidCiphertextException, never success or a server error', async () => {
    const context = { purpose: 'bit flips' };
    const blob = Buffer.from(await encrypt(keyA.KeyId!, Buffer.from('sixteen byte msg'), context));
    assert.equal(blob.length, blobLength(16));
    for (let i = 0; i < blob.length; i++) {
      for (const bit of [i % 8, 7 - (i % 8)]) {
        const damaged = Buffer.from(blob);
        damaged[i] = damaged[i]! ^ (1 << bit);
        const err = await fails(kms.send(new DecryptCommand({ CiphertextBlob: damaged, EncryptionContext: context })), 'InvalidCiphertextException');
        assert.ok(!err.message.includes('sixteen'), 'no plaintext in the error');
      }
    }
    // With the right KeyId too, so a damaged key-id field does not read as "wrong key".
    for (const i of [2, 9, 17]) {
      const damaged = Buffer.from(blob);
      damaged[i] = damaged[i]! ^ 0x01;
      await fails(kms.send(new DecryptCommand({ CiphertextBlob: damaged, EncryptionContext: context, KeyId: keyA.KeyId! })), 'InvalidCiphertextException');
    }
    assert.equal((await decrypt(blob, context)).toString(), 'sixteen byte msg', 'the undamaged blob still opens');
  });

  test('a truncated or extended blob is InvalidCiphertextException', async () => {
    const blob = Buffer.from(await encrypt(keyA.KeyId!, Buffer.from('truncate me please')));
    for (const length of [blob.length - 1, blob.length - 16, 79, 78, 62, 50, 18, 2, 1]) {
      await fails(kms.send(new DecryptCommand({ CiphertextBlob: blob.subarray(0, length) })), 'InvalidCiphertextException');
    }
    await fails(kms.send(new DecryptCommand({ CiphertextBlob: Buffer.concat([blob, Buffer.from([0])]) })), 'InvalidCiphertextException');
    await fails(kms.send(new DecryptCommand({ CiphertextBlob: blob.subarray(1) })), 'InvalidCiphertextException');
    await fails(kms.send(new DecryptCommand({ CiphertextBlob: Buffer.alloc(200, 0x41) })), 'InvalidCiphertextException');
  });

  test('a blob of key A decrypted with KeyId B is IncorrectKeyException; an unknown KeyId is NotFoundException', async () => {
    const blob = await encrypt(keyA.KeyId!, Buffer.from('belongs to A'));
    for (const id of [keyB.KeyId!, keyB.Arn!]) {
      const err = await fails(kms.send(new DecryptCommand({ CiphertextBlob: blob, KeyId: id })), 'IncorrectKeyException');
      assert.ok(!err.message.includes('belongs'));
    }
    await fails(kms.send(new ReEncryptCommand({ CiphertextBlob: blob, SourceKeyId: keyB.KeyId!, DestinationKeyId: keyB.KeyId! })), 'IncorrectKeyException');
    await fails(
      kms.send(new DecryptCommand({ CiphertextBlob: blob, KeyId: '00000000-0000-4000-8000-000000000000' })),
      'NotFoundException',
    );
    assert.equal((await decrypt(blob, undefined, keyA.Arn!)).toString(), 'belongs to A');
  });

  test('ReEncrypt between keys and contexts: the result opens under the destination only', async () => {
    const plaintext = Buffer.from('re-encrypt me');
    const blob = await encrypt(keyA.KeyId!, plaintext, { stage: 'one' });
    const out = await ok(
      kms.send(
        new ReEncryptCommand({
          CiphertextBlob: blob,
          SourceEncryptionContext: { stage: 'one' },
          DestinationKeyId: keyB.KeyId!,
          DestinationEncryptionContext: { stage: 'two' },
        }),
      ),
    );
    assert.equal(out.SourceKeyId, keyA.Arn);
    assert.equal(out.KeyId, keyB.Arn);
    assert.equal(out.SourceEncryptionAlgorithm, 'SYMMETRIC_DEFAULT');
    assert.equal(out.DestinationEncryptionAlgorithm, 'SYMMETRIC_DEFAULT');
    const moved = out.CiphertextBlob!;
    assert.ok(!Buffer.from(moved).equals(Buffer.from(blob)));

    const opened = await ok(kms.send(new DecryptCommand({ CiphertextBlob: moved, EncryptionContext: { stage: 'two' } })));
    assert.equal(opened.KeyId, keyB.Arn);
    assert.ok(Buffer.from(opened.Plaintext!).equals(plaintext));
    assert.ok((await decrypt(moved, { stage: 'two' }, keyB.KeyId!)).equals(plaintext));
    await fails(kms.send(new DecryptCommand({ CiphertextBlob: moved, EncryptionContext: { stage: 'two' }, KeyId: keyA.KeyId! })), 'IncorrectKeyException');
    await fails(kms.send(new DecryptCommand({ CiphertextBlob: moved, EncryptionContext: { stage: 'one' } })), 'InvalidCiphertextException');
    await fails(kms.send(new DecryptCommand({ CiphertextBlob: moved })), 'InvalidCiphertextException');

    // The wrong source context is refused, and so is a source KeyId that did not make the blob.
    await fails(
      kms.send(new ReEncryptCommand({ CiphertextBlob: blob, SourceEncryptionContext: { stage: 'two' }, DestinationKeyId: keyB.KeyId! })),
      'InvalidCiphertextException',
    );
    // Same key, new context only.
    const recontext = await ok(
      kms.send(new ReEncryptCommand({ CiphertextBlob: blob, SourceEncryptionContext: { stage: 'one' }, DestinationKeyId: keyA.Arn!, DestinationEncryptionContext: { stage: 'three' } })),
    );
    assert.equal(recontext.KeyId, keyA.Arn);
    assert.ok((await decrypt(recontext.CiphertextBlob!, { stage: 'three' })).equals(plaintext));
    await fails(kms.send(new DecryptCommand({ CiphertextBlob: recontext.CiphertextBlob!, EncryptionContext: { stage: 'one' } })), 'InvalidCiphertextException');
    await fails(kms.send(new ReEncryptCommand({ CiphertextBlob: blob, DestinationKeyId: 'alias/sdk-does-not-exist', SourceEncryptionContext: { stage: 'one' } })), 'NotFoundException');
  });

  test('DryRun on Encrypt is DryRunOperationException (412) and never reaches the HSM', async () => {
    const hsm = server.keybridge.deps.hsm as unknown as { encrypt: (...args: unknown[]) => Promise<unknown> };
    const original = hsm.encrypt;
    let calls = 0;
    hsm.encrypt = function (this: unknown, ...args: unknown[]) {
      calls++;
      return original.apply(this, args);
    };
    try {
      await encrypt(keyA.KeyId!, Buffer.from('counted'));
      assert.equal(calls, 1, 'the spy sees a real Encrypt');
      const err = await fails(
        kms.send(new EncryptCommand({ KeyId: keyA.KeyId!, Plaintext: Buffer.from('dry'), DryRun: true })),
        'DryRunOperationException',
        412,
      );
      assert.match(err.message, /DryRun/);
      await fails(kms.send(new GenerateDataKeyCommand({ KeyId: keyA.KeyId!, KeySpec: 'AES_256', DryRun: true })), 'DryRunOperationException', 412);
      assert.equal(calls, 1, 'a dry run encrypts nothing');
      // A dry run still reports why the real call would fail.
      await fails(kms.send(new EncryptCommand({ KeyId: 'alias/sdk-does-not-exist', Plaintext: Buffer.from('dry'), DryRun: true })), 'NotFoundException');
      await fails(kms.send(new EncryptCommand({ KeyId: keyA.KeyId!, Plaintext: Buffer.alloc(4097), DryRun: true })), 'ValidationException');
    } finally {
      hsm.encrypt = original;
    }
  });
});

describe('GenerateDataKey, GenerateDataKeyWithoutPlaintext, GenerateRandom', () => {
  let key: KeyMetadata;
  before(async () => {
    key = await newKey('data keys');
  });

  test('data key sizes, and the plaintext decrypts from its ciphertext', async () => {
    for (const [spec, size] of [['AES_256', 32], ['AES_128', 16]] as const) {
      const out = await ok(kms.send(new GenerateDataKeyCommand({ KeyId: key.KeyId!, KeySpec: spec, EncryptionContext: { use: spec } })));
      assert.equal(out.Plaintext!.length, size, `${spec} gives ${size} bytes`);
      assert.equal(out.KeyId, key.Arn);
      assert.equal(out.CiphertextBlob!.length, blobLength(size));
      assert.ok((await decrypt(out.CiphertextBlob!, { use: spec })).equals(Buffer.from(out.Plaintext!)));
      await fails(kms.send(new DecryptCommand({ CiphertextBlob: out.CiphertextBlob! })), 'InvalidCiphertextException');
    }
    for (const n of [1, 64, 1024]) {
      const out = await ok(kms.send(new GenerateDataKeyCommand({ KeyId: key.KeyId!, NumberOfBytes: n })));
      assert.equal(out.Plaintext!.length, n);
      assert.ok((await decrypt(out.CiphertextBlob!)).equals(Buffer.from(out.Plaintext!)));
    }
    const [x, y] = await Promise.all([
      ok(kms.send(new GenerateDataKeyCommand({ KeyId: key.KeyId!, KeySpec: 'AES_256' }))),
      ok(kms.send(new GenerateDataKeyCommand({ KeyId: key.KeyId!, KeySpec: 'AES_256' }))),
    ]);
    assert.ok(!Buffer.from(x.Plaintext!).equals(Buffer.from(y.Plaintext!)), 'two data keys differ');

    const without = await ok(kms.send(new GenerateDataKeyWithoutPlaintextCommand({ KeyId: key.KeyId!, KeySpec: 'AES_128', EncryptionContext: { w: 'o' } })));
    assert.equal((without as { Plaintext?: unknown }).Plaintext, undefined, 'no plaintext in the response');
    assert.equal(without.KeyId, key.Arn);
    assert.equal((await decrypt(without.CiphertextBlob!, { w: 'o' })).length, 16);
    const without64 = await ok(kms.send(new GenerateDataKeyWithoutPlaintextCommand({ KeyId: key.KeyId!, NumberOfBytes: 64 })));
    assert.equal((await decrypt(without64.CiphertextBlob!)).length, 64);
  });

  test('exactly one of KeySpec and NumberOfBytes, within 1–1024', async () => {
    for (const Command of [GenerateDataKeyCommand, GenerateDataKeyWithoutPlaintextCommand]) {
      await fails(kms.send(new Command({ KeyId: key.KeyId! })), 'ValidationException');
      await fails(kms.send(new Command({ KeyId: key.KeyId!, KeySpec: 'AES_256', NumberOfBytes: 32 })), 'ValidationException');
      await fails(kms.send(new Command({ KeyId: key.KeyId!, NumberOfBytes: 0 })), 'ValidationException');
      await fails(kms.send(new Command({ KeyId: key.KeyId!, NumberOfBytes: 1025 })), 'ValidationException');
      await fails(kms.send(new Command({ KeyId: key.KeyId!, KeySpec: 'AES_512' as 'AES_256' })), 'ValidationException');
    }
  });

  test('GenerateRandom returns 1–1024 fresh bytes; 0, 1025 and a custom key store are refused', async () => {
    for (const n of [1, 32, 1024]) {
      const out = await ok(kms.send(new GenerateRandomCommand({ NumberOfBytes: n })));
      assert.equal(out.Plaintext!.length, n);
    }
    const [a, b] = await Promise.all([
      ok(kms.send(new GenerateRandomCommand({ NumberOfBytes: 32 }))),
      ok(kms.send(new GenerateRandomCommand({ NumberOfBytes: 32 }))),
    ]);
    assert.ok(!Buffer.from(a.Plaintext!).equals(Buffer.from(b.Plaintext!)), 'two random strings differ');
    assert.ok(!Buffer.from(a.Plaintext!).equals(Buffer.alloc(32)), 'random bytes are not all zero');
    await fails(kms.send(new GenerateRandomCommand({ NumberOfBytes: 0 })), 'ValidationException');
    await fails(kms.send(new GenerateRandomCommand({ NumberOfBytes: 1025 })), 'ValidationException');
    await fails(kms.send(new GenerateRandomCommand({ NumberOfBytes: 8, CustomKeyStoreId: 'cks-1234567890abcdef0' })), 'CustomKeyStoreNotFoundException');
  });
});

describe('tags', () => {
  test('TagResource, ListResourceTags, UntagResource; overwrite; 50 at most; aws: is reserved', async () => {
    const key = await newKey('tags');
    const k = key.KeyId!;
    const list = async () => (await ok(kms.send(new ListResourceTagsCommand({ KeyId: k })))).Tags!;

    await ok(kms.send(new TagResourceCommand({ KeyId: k, Tags: [{ TagKey: 'env', TagValue: 'dev' }, { TagKey: 'Team', TagValue: '' }] })));
    assert.deepEqual(await list(), [{ TagKey: 'Team', TagValue: '' }, { TagKey: 'env', TagValue: 'dev' }]);
    await ok(kms.send(new TagResourceCommand({ KeyId: k, Tags: [{ TagKey: 'env', TagValue: 'prod' }] })));
    assert.deepEqual(await list(), [{ TagKey: 'Team', TagValue: '' }, { TagKey: 'env', TagValue: 'prod' }], 're-tagging overwrites the value');

    await ok(kms.send(new UntagResourceCommand({ KeyId: k, TagKeys: ['env', 'never-set'] })));
    assert.deepEqual(await list(), [{ TagKey: 'Team', TagValue: '' }], 'untagging a missing tag key is fine');
    await ok(kms.send(new UntagResourceCommand({ KeyId: k, TagKeys: ['also-missing'] })));

    for (const reserved of ['aws:createdBy', 'AWS:x']) {
      await fails(kms.send(new TagResourceCommand({ KeyId: k, Tags: [{ TagKey: reserved, TagValue: 'v' }] })), 'TagException');
    }
    await fails(kms.send(new TagResourceCommand({ KeyId: k, Tags: [{ TagKey: 'ok', TagValue: 'v' }, { TagKey: 'aws:no', TagValue: 'v' }] })), 'TagException');
    assert.deepEqual(await list(), [{ TagKey: 'Team', TagValue: '' }], 'a refused TagResource adds nothing');

    const fill = Array.from({ length: 49 }, (_, i) => ({ TagKey: `t${String(i).padStart(2, '0')}`, TagValue: `${i}` }));
    await ok(kms.send(new TagResourceCommand({ KeyId: k, Tags: fill })));
    assert.equal((await list()).length, 50);
    const limit = await fails(kms.send(new TagResourceCommand({ KeyId: k, Tags: [{ TagKey: 'the51st', TagValue: 'x' }] })), 'LimitExceededException');
    assert.match(limit.message, /50/);
    // Overwriting at the limit is not a new tag.
    await ok(kms.send(new TagResourceCommand({ KeyId: k, Tags: [{ TagKey: 't00', TagValue: 'changed' }] })));
    const full = await list();
    assert.equal(full.length, 50);
    assert.ok(full.some((t) => t.TagKey === 't00' && t.TagValue === 'changed'));
    assert.ok(!full.some((t) => t.TagKey === 'the51st'));
    await ok(kms.send(new UntagResourceCommand({ KeyId: k, TagKeys: ['t48'] })));
    await ok(kms.send(new TagResourceCommand({ KeyId: k, Tags: [{ TagKey: 'the51st', TagValue: 'x' }] })));
    assert.equal((await list()).length, 50);

    await fails(kms.send(new TagResourceCommand({ KeyId: '00000000-0000-4000-8000-000000000000', Tags: [{ TagKey: 'a', TagValue: 'b' }] })), 'NotFoundException');
    await fails(kms.send(new TagResourceCommand({ KeyId: k, Tags: [{ TagKey: 'x'.repeat(129), TagValue: 'b' }] })), 'ValidationException');
    await fails(kms.send(new TagResourceCommand({ KeyId: k, Tags: [{ TagKey: 'long', TagValue: 'v'.repeat(257) }] })), 'ValidationException');
  });
});

describe('aliases', () => {
  test('CreateAlias, ListAliases (with KeyId), UpdateAlias moves the alias, DeleteAlias', async () => {
    const a = await newKey('alias A');
    const b = await newKey('alias B');
    const name = 'alias/sdk-moving';
    const before = server.clock.now();
    await ok(kms.send(new CreateAliasCommand({ AliasName: name, TargetKeyId: a.Arn! })));

    const ofA = await ok(kms.send(new ListAliasesCommand({ KeyId: a.KeyId! })));
    assert.equal(ofA.Truncated, false);
    assert.equal(ofA.Aliases!.length, 1);
    const entry = ofA.Aliases![0]!;
    assert.equal(entry.AliasName, name);
    assert.equal(entry.AliasArn, aliasArnOf(name));
    assert.equal(entry.TargetKeyId, a.KeyId, 'TargetKeyId is the key id');
    assert.ok(entry.CreationDate instanceof Date && Math.abs(entry.CreationDate.getTime() - before) < 60_000);
    assert.ok(entry.LastUpdatedDate instanceof Date);
    assert.deepEqual((await ok(kms.send(new ListAliasesCommand({ KeyId: b.KeyId! })))).Aliases, []);

    const viaA = await ok(kms.send(new EncryptCommand({ KeyId: name, Plaintext: Buffer.from('via alias') })));
    assert.equal(viaA.KeyId, a.Arn);

    await fails(kms.send(new CreateAliasCommand({ AliasName: name, TargetKeyId: b.KeyId! })), 'AlreadyExistsException');
    await fails(kms.send(new CreateAliasCommand({ AliasName: 'alias/aws/x', TargetKeyId: b.KeyId! })), 'InvalidAliasNameException');
    await fails(kms.send(new CreateAliasCommand({ AliasName: 'alias/sdk-to-alias', TargetKeyId: name })), 'ValidationException');
    await fails(kms.send(new CreateAliasCommand({ AliasName: 'alias/sdk-to-alias', TargetKeyId: aliasArnOf(name) })), 'ValidationException');
    await fails(kms.send(new CreateAliasCommand({ AliasName: 'no-prefix', TargetKeyId: b.KeyId! })), 'ValidationException');
    await fails(kms.send(new CreateAliasCommand({ AliasName: 'alias/sdk-nokey', TargetKeyId: '00000000-0000-4000-8000-000000000000' })), 'NotFoundException');
    await fails(kms.send(new DescribeKeyCommand({ KeyId: 'alias/sdk-to-alias' })), 'NotFoundException');

    await ok(kms.send(new UpdateAliasCommand({ AliasName: name, TargetKeyId: b.KeyId! })));
    assert.deepEqual((await ok(kms.send(new ListAliasesCommand({ KeyId: a.KeyId! })))).Aliases, []);
    const ofB = await ok(kms.send(new ListAliasesCommand({ KeyId: b.Arn! })));
    assert.deepEqual(ofB.Aliases!.map((x) => [x.AliasName, x.TargetKeyId]), [[name, b.KeyId]]);
    assert.ok(ofB.Aliases![0]!.LastUpdatedDate!.getTime() >= entry.LastUpdatedDate!.getTime());

    const viaB = await ok(kms.send(new EncryptCommand({ KeyId: name, Plaintext: Buffer.from('via alias') })));
    assert.equal(viaB.KeyId, b.Arn, 'Encrypt through the moved alias uses the new key');
    assert.equal((await describe_(aliasArnOf(name))).KeyId, b.KeyId);
    await fails(kms.send(new DecryptCommand({ CiphertextBlob: viaB.CiphertextBlob!, KeyId: a.KeyId! })), 'IncorrectKeyException');
    assert.equal((await decrypt(viaB.CiphertextBlob!, undefined, name)).toString(), 'via alias');
    // What the alias encrypted before the move still opens under A.
    assert.equal((await decrypt(viaA.CiphertextBlob!, undefined, a.KeyId!)).toString(), 'via alias');

    await fails(kms.send(new UpdateAliasCommand({ AliasName: 'alias/sdk-never-made', TargetKeyId: a.KeyId! })), 'NotFoundException');
    await fails(kms.send(new UpdateAliasCommand({ AliasName: name, TargetKeyId: 'alias/sdk-forms' })), 'ValidationException');

    await ok(kms.send(new DeleteAliasCommand({ AliasName: name })));
    await fails(kms.send(new DescribeKeyCommand({ KeyId: name })), 'NotFoundException');
    await fails(kms.send(new DeleteAliasCommand({ AliasName: name })), 'NotFoundException');
    await fails(kms.send(new DeleteAliasCommand({ AliasName: 'alias/sdk-never-made' })), 'NotFoundException');
    assert.deepEqual((await ok(kms.send(new ListAliasesCommand({ KeyId: b.KeyId! })))).Aliases, []);
    assert.equal((await describe_(b.KeyId!)).KeyState, 'Enabled', 'deleting an alias leaves its key alone');
  });
});

describe('key policies', () => {
  test('the default policy, exact round trip, malformed documents and policy names', async () => {
    const key = await newKey('policies');
    const k = key.KeyId!;
    const defaultPolicy = JSON.parse(await getPolicy(k));
    assert.deepEqual(defaultPolicy, {
      Version: '2012-10-17',
      Id: 'key-default-1',
      Statement: [
        {
          Sid: 'Enable IAM User Permissions',
          Effect: 'Allow',
          Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` },
          Action: 'kms:*',
          Resource: '*',
        },
      ],
    });
    const noName = await ok(kms.send(new GetKeyPolicyCommand({ KeyId: k })));
    assert.equal(noName.PolicyName, 'default');

    // Every document keeps the operator (the account root) in control: the lockout safety check.
    const policy =
      '{\n  "Version": "2012-10-17",\n  "Statement": [ {"Sid":"Root","Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"kms:*","Resource":"*"},' +
      ' {"Sid":"Ops", "Effect": "Allow",\t"Principal": {"AWS": ["arn:aws:iam::111122223333:user/ops"]},' +
      ' "Action": ["kms:Encrypt","kms:Decrypt"], "Resource": "*"},\n {"Effect":"Deny","Principal":"*","NotAction":"kms:Describe*","Resource":"*",' +
      '"Condition":{"StringEquals":{"kms:CallerAccount":"999999999999"}}} ]\n}\n';
    await ok(kms.send(new PutKeyPolicyCommand({ KeyId: k, PolicyName: 'default', Policy: policy })));
    assert.equal(await getPolicy(k), policy, 'GetKeyPolicy returns the document byte for byte');
    const minimal = '{"Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}}';
    await ok(kms.send(new PutKeyPolicyCommand({ KeyId: key.Arn!, Policy: minimal })));
    assert.equal(await getPolicy(key.Arn!), minimal);

    const malformed = [
      'not json',
      '{"Version":"2012-10-17"}',
      '{"Version":"2012-10-17","Statement":[]}',
      '{"Statement":[{"Effect":"Maybe","Principal":"*","Action":"kms:*","Resource":"*"}]}',
      '{"Statement":[{"Principal":"*","Action":"kms:*","Resource":"*"}]}',
      '{"Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}',
      '{"Statement":[{"Effect":"Allow","Principal":"*","Resource":"*"}]}',
      '{"Version":"2099-01-01","Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}]}',
      '[]',
    ];
    for (const doc of malformed) {
      await fails(kms.send(new PutKeyPolicyCommand({ KeyId: k, PolicyName: 'default', Policy: doc })), 'MalformedPolicyDocumentException');
    }
    assert.equal(await getPolicy(k), minimal, 'a refused policy leaves the old one in place');

    await fails(kms.send(new GetKeyPolicyCommand({ KeyId: k, PolicyName: 'other' })), 'NotFoundException');
    await fails(kms.send(new PutKeyPolicyCommand({ KeyId: k, PolicyName: 'other', Policy: minimal })), 'NotFoundException');
    await fails(kms.send(new GetKeyPolicyCommand({ KeyId: '00000000-0000-4000-8000-000000000000', PolicyName: 'default' })), 'NotFoundException');

    const names = await ok(kms.send(new ListKeyPoliciesCommand({ KeyId: k })));
    assert.deepEqual(names.PolicyNames, ['default']);
    assert.equal(names.Truncated, false);

    const withPolicy = await ok(kms.send(new CreateKeyCommand({ Policy: policy })));
    assert.equal(await getPolicy(withPolicy.KeyMetadata!.KeyId!), policy, 'CreateKey stores its Policy exactly');
  });
});

describe('UpdateKeyDescription', () => {
  test('sets, clears and bounds the description', async () => {
    const key = await newKey('first');
    await ok(kms.send(new UpdateKeyDescriptionCommand({ KeyId: key.KeyId!, Description: 'second' })));
    assert.equal((await describe_(key.KeyId!)).Description, 'second');
    await ok(kms.send(new UpdateKeyDescriptionCommand({ KeyId: key.Arn!, Description: '' })));
    assert.equal((await describe_(key.KeyId!)).Description, '');
    await fails(kms.send(new UpdateKeyDescriptionCommand({ KeyId: key.KeyId!, Description: 'x'.repeat(8193) })), 'ValidationException');
    await fails(kms.send(new UpdateKeyDescriptionCommand({ KeyId: '00000000-0000-4000-8000-000000000000', Description: 'x' })), 'NotFoundException');
  });
});

describe('concurrency', () => {
  // Under concurrent CreateKey, SoftHSM2's C_GenerateKey (token object) used to return
  // CKR_GENERAL_ERROR or CKR_TEMPLATE_INCONSISTENT now and then; the adapter now makes token
  // objects one at a time. AWS KMS serves concurrent CreateKey calls, so must we.
  test(
    'concurrent CreateKey calls all succeed',
    async () => {
      const failures: string[] = [];
      for (let round = 0; round < 25; round++) {
        const results = await Promise.allSettled(Array.from({ length: 6 }, () => kms.send(new CreateKeyCommand({ Description: 'concurrent' }))));
        for (const r of results) if (r.status === 'rejected') failures.push(`${(r.reason as SdkError).name}: ${(r.reason as SdkError).message}`);
      }
      assert.deepEqual(failures, [], `${failures.length} of 150 concurrent CreateKey calls failed`);
    },
  );

  test('concurrent Encrypt, Decrypt and GenerateDataKey on a few keys all succeed', async () => {
    const keys: KeyMetadata[] = [];
    for (let i = 0; i < 3; i++) keys.push(await newKey(`concurrent crypto ${i}`));
    for (let round = 0; round < 10; round++) {
      await Promise.all(
        Array.from({ length: 8 }, async (_, i) => {
          const key = keys[i % keys.length]!;
          const plaintext = Buffer.from(`round ${round} worker ${i}`);
          const blob = await encrypt(key.KeyId!, plaintext, { worker: String(i) });
          assert.ok((await decrypt(blob, { worker: String(i) })).equals(plaintext));
          const dk = await ok(kms.send(new GenerateDataKeyCommand({ KeyId: key.Arn!, NumberOfBytes: 16 })));
          assert.ok((await decrypt(dk.CiphertextBlob!)).equals(Buffer.from(dk.Plaintext!)));
        }),
      );
    }
  });
});

describe('authentication', () => {
  test('an unknown access key is UnrecognizedClientException; a wrong secret is InvalidSignatureException', async () => {
    const stranger = sdkClient(server, { accessKeyId: 'AKIAUNKNOWNKEY000000', secretAccessKey: 'c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0' });
    const forger = sdkClient(server, { secretAccessKey: `${server.credentials.secretAccessKey}x` });
    const elsewhere = sdkClient(server, { region: 'eu-west-1' });
    try {
      const before = (await ok(kms.send(new ListKeysCommand({ Limit: 1000 })))).Keys!.length;
      await fails(stranger.send(new ListKeysCommand({})), 'UnrecognizedClientException');
      await fails(stranger.send(new CreateKeyCommand({})), 'UnrecognizedClientException');
      await fails(forger.send(new ListKeysCommand({})), 'InvalidSignatureException');
      await fails(forger.send(new CreateKeyCommand({})), 'InvalidSignatureException');
      await fails(forger.send(new GenerateRandomCommand({ NumberOfBytes: 8 })), 'InvalidSignatureException');
      // Signed for another region: the credential scope does not match this endpoint.
      const scoped = await fails(elsewhere.send(new CreateKeyCommand({})), 'InvalidSignatureException');
      assert.match(scoped.message, /region/);
      assert.equal((await ok(kms.send(new ListKeysCommand({ Limit: 1000 })))).Keys!.length, before, 'no unauthenticated call created a key');
    } finally {
      stranger.destroy();
      forger.destroy();
      elsewhere.destroy();
    }
  });
});
