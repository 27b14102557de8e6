// Key rotation (issue #14) through the AWS SDK and the AWS CLI against a real server on SoftHSM2:
// automatic rotation when the (injected) clock passes the date, on-demand rotation, every material
// listed, old ciphertexts decrypting with the material they name, the key-state and limit errors,
// and deletion destroying every material in the HSM.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
  CreateKeyCommand,
  DecryptCommand,
  DescribeKeyCommand,
  DisableKeyCommand,
  DisableKeyRotationCommand,
  EnableKeyCommand,
  EnableKeyRotationCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  GetKeyPolicyCommand,
  GetKeyRotationStatusCommand,
  PutKeyPolicyCommand,
  ListKeyRotationsCommand,
  ReEncryptCommand,
  RotateKeyOnDemandCommand,
  ScheduleKeyDeletionCommand,
  CancelKeyDeletionCommand,
  type KMSClient,
} from '@aws-sdk/client-kms';

import { awsCliMissing, awsKms, sdkClient } from '../support/kms-client.js';
import { auditRecordsWhere } from '../support/audit-records.js';
import { startServer, type TestServer } from '../support/server.js';

const DAY_MS = 24 * 60 * 60 * 1000;
const MAX_ON_DEMAND = 3;
const SETTINGS = { maxOnDemandRotationsPerKey: MAX_ON_DEMAND, rotationCheckIntervalMs: 3_600_000, deletionSweepIntervalMs: 3_600_000 };

let server: TestServer;
let kms: KMSClient;

before(async () => {
  server = await startServer({ settings: SETTINGS });
  kms = sdkClient(server);
});

after(async () => {
  await server?.destroy();
});

async function rejects(call: Promise<unknown>, name: string, message?: RegExp): Promise<void> {
  await assert.rejects(call, (err: Error) => {
    assert.equal(err.name, name, err.message);
    if (message) assert.match(err.message, message);
    return true;
  });
}

async function newKey(): Promise<string> {
  return (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
}

async function currentMaterial(keyId: string): Promise<string> {
  return (await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata!.CurrentKeyMaterialId!;
}

interface AuditRecord {
  readonly eventName: string;
  readonly eventType: string;
  readonly requestParameters: Record<string, unknown> | null;
  readonly responseElements: Record<string, unknown> | null;
  readonly userIdentity: { invokedBy?: string };
}

/** Every record of the audit trail about one key, in trail order. */
function auditRecordsOf(keyArn: string): Promise<AuditRecord[]> {
  return auditRecordsWhere<AuditRecord>(server.dataDir, '$.resources[0].ARN', keyArn);
}

async function decrypt(blob: Uint8Array): Promise<{ plaintext: string; material: string | undefined }> {
  const out = await kms.send(new DecryptCommand({ CiphertextBlob: blob }));
  return { plaintext: Buffer.from(out.Plaintext!).toString(), material: out.KeyMaterialId };
}

describe('automatic and on-demand rotation of a symmetric key', () => {
  test('rotation status, the clock passing the date, on-demand, listing, and every old ciphertext decrypting', async () => {
    const keyId = await newKey();
    const first = await currentMaterial(keyId);
    assert.match(first, /^[0-9a-f]{64}$/);
    const c1 = (await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('before any rotation') }))).CiphertextBlob!;

    // Off until enabled; the period is 90–2560 days, 365 by default.
    const off = await kms.send(new GetKeyRotationStatusCommand({ KeyId: keyId }));
    assert.equal(off.KeyRotationEnabled, false);
    assert.equal(off.NextRotationDate, undefined);
    await rejects(kms.send(new EnableKeyRotationCommand({ KeyId: keyId, RotationPeriodInDays: 89 })), 'ValidationException', /rotationPeriodInDays/);
    await rejects(kms.send(new EnableKeyRotationCommand({ KeyId: keyId, RotationPeriodInDays: 2561 })), 'ValidationException');
    await kms.send(new EnableKeyRotationCommand({ KeyId: keyId }));
    const byDefault = await kms.send(new GetKeyRotationStatusCommand({ KeyId: keyId }));
    assert.equal(byDefault.RotationPeriodInDays, 365);
    const enabledAt = server.clock.now();
    await kms.send(new EnableKeyRotationCommand({ KeyId: keyId, RotationPeriodInDays: 90 }));
    const on = await kms.send(new GetKeyRotationStatusCommand({ KeyId: keyId }));
    assert.equal(on.KeyRotationEnabled, true);
    assert.equal(on.RotationPeriodInDays, 90);
    assert.ok(Math.abs(on.NextRotationDate!.getTime() - (enabledAt + 90 * DAY_MS)) < 60_000, `next rotation ${on.NextRotationDate?.toISOString()}`);
    assert.equal(on.KeyId, (await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata!.Arn);
    assert.deepEqual((await kms.send(new ListKeyRotationsCommand({ KeyId: keyId }))).Rotations, []);

    // Not due yet: nothing happens. Past the date: the scheduler rotates.
    server.clock.advance(89 * DAY_MS);
    assert.deepEqual(await server.keybridge.rotations.rotateDueOnce(), []);
    server.clock.advance(2 * DAY_MS);
    assert.deepEqual(await server.keybridge.rotations.rotateDueOnce(), [keyId]);
    const second = await currentMaterial(keyId);
    assert.notEqual(second, first);
    const afterAutomatic = await kms.send(new GetKeyRotationStatusCommand({ KeyId: keyId }));
    assert.ok(afterAutomatic.NextRotationDate!.getTime() - server.clock.now() > 89 * DAY_MS, 'the next automatic rotation is a period away');
    const automatic = (await kms.send(new ListKeyRotationsCommand({ KeyId: keyId }))).Rotations!;
    assert.equal(automatic.length, 1);
    assert.equal(automatic[0]!.KeyMaterialId, second);
    assert.equal(automatic[0]!.RotationType, 'AUTOMATIC');
    assert.equal(automatic[0]!.KeyMaterialState, 'CURRENT');
    assert.ok(Math.abs(automatic[0]!.RotationDate!.getTime() - server.clock.now()) < 60_000);

    // Old ciphertexts decrypt with the material they name; new ones name the new material.
    assert.deepEqual(await decrypt(c1), { plaintext: 'before any rotation', material: first });
    const c2 = (await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('after the automatic one') }))).CiphertextBlob!;
    assert.deepEqual(await decrypt(c2), { plaintext: 'after the automatic one', material: second });
    const dataKey = await kms.send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256' }));
    assert.equal(dataKey.KeyMaterialId, second);

    // On demand: at once, the schedule unchanged.
    const scheduleBefore = (await kms.send(new GetKeyRotationStatusCommand({ KeyId: keyId }))).NextRotationDate;
    assert.equal((await kms.send(new RotateKeyOnDemandCommand({ KeyId: keyId }))).KeyId, afterAutomatic.KeyId);
    const third = await currentMaterial(keyId);
    assert.ok(third !== first && third !== second);
    const afterOnDemand = await kms.send(new GetKeyRotationStatusCommand({ KeyId: keyId }));
    assert.deepEqual(afterOnDemand.NextRotationDate, scheduleBefore);
    assert.equal(afterOnDemand.OnDemandRotationStartDate, undefined, 'no rotation in progress');

    const rotations = (await kms.send(new ListKeyRotationsCommand({ KeyId: keyId }))).Rotations!;
    assert.deepEqual(
      rotations.map((r) => [r.KeyMaterialId, r.RotationType, r.KeyMaterialState]),
      [
        [second, 'AUTOMATIC', 'NON_CURRENT'],
        [third, 'ON_DEMAND', 'CURRENT'],
      ],
    );
    const all = (await kms.send(new ListKeyRotationsCommand({ KeyId: keyId, IncludeKeyMaterial: 'ALL_KEY_MATERIAL' }))).Rotations!;
    assert.deepEqual(all.map((r) => r.KeyMaterialId), [first, second, third]);
    assert.equal(all[0]!.RotationDate, undefined, 'the first material has no rotation date');
    assert.equal(all[0]!.RotationType, undefined);
    assert.equal(all[0]!.KeyMaterialState, 'NON_CURRENT');

    // Pagination, and a marker we never handed out.
    const page1 = await kms.send(new ListKeyRotationsCommand({ KeyId: keyId, IncludeKeyMaterial: 'ALL_KEY_MATERIAL', Limit: 2 }));
    assert.equal(page1.Truncated, true);
    assert.deepEqual(page1.Rotations!.map((r) => r.KeyMaterialId), [first, second]);
    const page2 = await kms.send(new ListKeyRotationsCommand({ KeyId: keyId, IncludeKeyMaterial: 'ALL_KEY_MATERIAL', Limit: 2, Marker: page1.NextMarker! }));
    assert.equal(page2.Truncated, false);
    assert.deepEqual(page2.Rotations!.map((r) => r.KeyMaterialId), [third]);
    await rejects(kms.send(new ListKeyRotationsCommand({ KeyId: keyId, Marker: 'not-a-marker' })), 'InvalidMarkerException');

    // Every ciphertext of every material still decrypts; ReEncrypt moves one to the current material.
    assert.deepEqual(await decrypt(c1), { plaintext: 'before any rotation', material: first });
    assert.deepEqual(await decrypt(c2), { plaintext: 'after the automatic one', material: second });
    const moved = await kms.send(new ReEncryptCommand({ CiphertextBlob: c1, DestinationKeyId: keyId }));
    assert.equal(moved.SourceKeyMaterialId, first);
    assert.equal(moved.DestinationKeyMaterialId, third);
    assert.deepEqual(await decrypt(moved.CiphertextBlob!), { plaintext: 'before any rotation', material: third });

    // A material of another key in the blob is not accepted.
    const otherKey = await newKey();
    const foreign = Buffer.from(c1);
    Buffer.from(await currentMaterial(otherKey), 'hex').copy(foreign, 18);
    await rejects(kms.send(new DecryptCommand({ CiphertextBlob: foreign })), 'InvalidCiphertextException');

    // Off again: the materials stay.
    await kms.send(new DisableKeyRotationCommand({ KeyId: keyId }));
    assert.equal((await kms.send(new GetKeyRotationStatusCommand({ KeyId: keyId }))).KeyRotationEnabled, false);
    server.clock.advance(400 * DAY_MS);
    assert.deepEqual(await server.keybridge.rotations.rotateDueOnce(), []);
    assert.equal((await kms.send(new ListKeyRotationsCommand({ KeyId: keyId }))).Rotations!.length, 2);
  });

  test('limits and key states: LimitExceededException, ConflictException near an automatic rotation, Disabled and PendingDeletion', async () => {
    const keyId = await newKey();
    for (let i = 0; i < MAX_ON_DEMAND; i++) await kms.send(new RotateKeyOnDemandCommand({ KeyId: keyId }));
    await rejects(kms.send(new RotateKeyOnDemandCommand({ KeyId: keyId })), 'LimitExceededException');
    assert.equal((await kms.send(new ListKeyRotationsCommand({ KeyId: keyId }))).Rotations!.length, MAX_ON_DEMAND);

    // An automatic rotation due within 20 minutes: on-demand waits (ConflictException).
    const soon = await newKey();
    await kms.send(new EnableKeyRotationCommand({ KeyId: soon, RotationPeriodInDays: 90 }));
    server.clock.advance(90 * DAY_MS - 10 * 60 * 1000);
    await rejects(kms.send(new RotateKeyOnDemandCommand({ KeyId: soon })), 'ConflictException', /20 minutes/);
    assert.deepEqual(await server.keybridge.rotations.rotateDueOnce(), []);
    server.clock.advance(11 * 60 * 1000);
    assert.ok((await server.keybridge.rotations.rotateDueOnce()).includes(soon));
    await kms.send(new RotateKeyOnDemandCommand({ KeyId: soon }));

    // Disabled: status readable, no change allowed, not rotated when due; rotated once enabled again.
    const disabled = await newKey();
    await kms.send(new EnableKeyRotationCommand({ KeyId: disabled, RotationPeriodInDays: 90 }));
    await kms.send(new DisableKeyCommand({ KeyId: disabled }));
    assert.equal((await kms.send(new GetKeyRotationStatusCommand({ KeyId: disabled }))).KeyRotationEnabled, true);
    await rejects(kms.send(new RotateKeyOnDemandCommand({ KeyId: disabled })), 'DisabledException', /is disabled/);
    await rejects(kms.send(new EnableKeyRotationCommand({ KeyId: disabled })), 'DisabledException');
    await rejects(kms.send(new DisableKeyRotationCommand({ KeyId: disabled })), 'DisabledException');
    server.clock.advance(91 * DAY_MS);
    assert.ok(!(await server.keybridge.rotations.rotateDueOnce()).includes(disabled));
    await kms.send(new EnableKeyCommand({ KeyId: disabled }));
    assert.ok((await server.keybridge.rotations.rotateDueOnce()).includes(disabled), 'a re-enabled key past its date rotates at once');

    // Pending deletion: the status reads false, nothing changes; cancelling brings it back.
    await kms.send(new ScheduleKeyDeletionCommand({ KeyId: disabled, PendingWindowInDays: 7 }));
    assert.equal((await kms.send(new GetKeyRotationStatusCommand({ KeyId: disabled }))).KeyRotationEnabled, false);
    await rejects(kms.send(new RotateKeyOnDemandCommand({ KeyId: disabled })), 'KMSInvalidStateException', /pending deletion/);
    await rejects(kms.send(new EnableKeyRotationCommand({ KeyId: disabled })), 'KMSInvalidStateException');
    await kms.send(new CancelKeyDeletionCommand({ KeyId: disabled }));
    assert.equal((await kms.send(new GetKeyRotationStatusCommand({ KeyId: disabled }))).KeyRotationEnabled, true);
  });

  test('asymmetric and HMAC keys cannot rotate: UnsupportedOperationException for all five operations', async () => {
    const rsa = (await kms.send(new CreateKeyCommand({ KeySpec: 'RSA_2048', KeyUsage: 'SIGN_VERIFY' }))).KeyMetadata!.KeyId!;
    const hmac = (await kms.send(new CreateKeyCommand({ KeySpec: 'HMAC_256', KeyUsage: 'GENERATE_VERIFY_MAC' }))).KeyMetadata!.KeyId!;
    for (const keyId of [rsa, hmac]) {
      await rejects(kms.send(new EnableKeyRotationCommand({ KeyId: keyId })), 'UnsupportedOperationException', /does not support key rotation/);
      await rejects(kms.send(new DisableKeyRotationCommand({ KeyId: keyId })), 'UnsupportedOperationException');
      await rejects(kms.send(new GetKeyRotationStatusCommand({ KeyId: keyId })), 'UnsupportedOperationException');
      await rejects(kms.send(new RotateKeyOnDemandCommand({ KeyId: keyId })), 'UnsupportedOperationException');
      await rejects(kms.send(new ListKeyRotationsCommand({ KeyId: keyId })), 'UnsupportedOperationException');
    }
    // Management operations take a key id or ARN, never an alias (AWS).
    await rejects(kms.send(new RotateKeyOnDemandCommand({ KeyId: 'alias/nope' })), 'NotFoundException');
  });

  test('the audit trail: RotateKeyOnDemand as the caller\'s call, an automatic rotation as a RotateKey service event', async () => {
    const keyId = await newKey();
    const arn = (await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata!.Arn!;
    await kms.send(new RotateKeyOnDemandCommand({ KeyId: keyId }));
    await kms.send(new EnableKeyRotationCommand({ KeyId: keyId, RotationPeriodInDays: 90 }));
    server.clock.advance(91 * DAY_MS);
    assert.ok((await server.keybridge.rotations.rotateDueOnce()).includes(keyId));
    const records = await auditRecordsOf(arn);
    const onDemand = records.find((r) => r.eventName === 'RotateKeyOnDemand' && r.eventType === 'AwsApiCall');
    assert.ok(onDemand !== undefined, 'RotateKeyOnDemand is in the trail');
    assert.deepEqual(onDemand.requestParameters, { keyId });
    assert.deepEqual(onDemand.responseElements, { keyId: arn });
    const automatic = records.filter((r) => r.eventName === 'RotateKey');
    assert.equal(automatic.length, 1);
    assert.equal(automatic[0]!.eventType, 'AwsServiceEvent');
    assert.equal(automatic[0]!.userIdentity.invokedBy, 'AWS Internal');
  });

  test('a key policy can bound the rotation period with kms:RotationPeriodInDays', async () => {
    const keyId = await newKey();
    const policy = JSON.parse((await kms.send(new GetKeyPolicyCommand({ KeyId: keyId, PolicyName: 'default' }))).Policy!) as { Statement: unknown[] };
    policy.Statement.push({
      Sid: 'RotateAtLeastEvery180Days',
      Effect: 'Deny',
      Principal: { AWS: '*' },
      Action: 'kms:EnableKeyRotation',
      Resource: '*',
      Condition: { NumericGreaterThan: { 'kms:RotationPeriodInDays': 180 } },
    });
    await kms.send(new PutKeyPolicyCommand({ KeyId: keyId, PolicyName: 'default', Policy: JSON.stringify(policy) }));
    await rejects(kms.send(new EnableKeyRotationCommand({ KeyId: keyId, RotationPeriodInDays: 365 })), 'AccessDeniedException');
    assert.equal((await kms.send(new GetKeyRotationStatusCommand({ KeyId: keyId }))).KeyRotationEnabled, false, 'nothing changed');
    await kms.send(new EnableKeyRotationCommand({ KeyId: keyId, RotationPeriodInDays: 180 }));
    assert.equal((await kms.send(new GetKeyRotationStatusCommand({ KeyId: keyId }))).RotationPeriodInDays, 180);
  });

  test('deleting a rotated key destroys every one of its materials in the HSM', async () => {
    const keyId = await newKey();
    await kms.send(new RotateKeyOnDemandCommand({ KeyId: keyId }));
    await kms.send(new RotateKeyOnDemandCommand({ KeyId: keyId }));
    const materials = (await kms.send(new ListKeyRotationsCommand({ KeyId: keyId, IncludeKeyMaterial: 'ALL_KEY_MATERIAL' }))).Rotations!.map((r) => r.KeyMaterialId!);
    assert.equal(materials.length, 3);
    const inHsm = async () => new Set((await server.keybridge.deps.hsm.listSymmetricKeys()).map((ref) => ref.id));
    const before = await inHsm();
    for (const id of materials) assert.ok(before.has(id), `material ${id} is in the HSM`);
    await kms.send(new ScheduleKeyDeletionCommand({ KeyId: keyId, PendingWindowInDays: 7 }));
    server.clock.advance(8 * DAY_MS);
    assert.ok((await server.keybridge.sweeper.sweepOnce()).includes(keyId));
    const afterDeletion = await inHsm();
    for (const id of materials) assert.ok(!afterDeletion.has(id), `material ${id} was destroyed`);
  });

  test('after a restart every material is known: reconciliation finds nothing amiss, every old ciphertext decrypts', async () => {
    const keyId = await newKey();
    const blobs: Uint8Array[] = [];
    for (let i = 0; i < 3; i++) {
      blobs.push((await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from(`generation ${i}`) }))).CiphertextBlob!);
      await kms.send(new RotateKeyOnDemandCommand({ KeyId: keyId }));
    }
    const listed = (await kms.send(new ListKeyRotationsCommand({ KeyId: keyId, IncludeKeyMaterial: 'ALL_KEY_MATERIAL' }))).Rotations;
    await server.stop();
    server = await startServer({ dataDir: server.dataDir, clock: server.clock, settings: SETTINGS });
    kms = sdkClient(server);
    assert.deepEqual(server.keybridge.reconciliation.orphanBackingKeys, []);
    assert.ok(!server.keybridge.reconciliation.keysMissingMaterial.includes(keyId));
    assert.deepEqual((await kms.send(new ListKeyRotationsCommand({ KeyId: keyId, IncludeKeyMaterial: 'ALL_KEY_MATERIAL' }))).Rotations, listed);
    for (const [i, blob] of blobs.entries()) assert.equal((await decrypt(blob)).plaintext, `generation ${i}`);
  });

  test('the AWS CLI enables rotation and reads its status', { skip: awsCliMissing }, async () => {
    const keyId = await newKey();
    const enable = await awsKms(server, ['enable-key-rotation', '--key-id', keyId]);
    assert.equal(enable.code, 0, enable.stderr);
    const status = await awsKms(server, ['get-key-rotation-status', '--key-id', keyId]);
    assert.equal(status.code, 0, status.stderr);
    assert.equal(status.json.KeyRotationEnabled, true);
    const disable = await awsKms(server, ['disable-key-rotation', '--key-id', keyId]);
    assert.equal(disable.code, 0, disable.stderr);
    assert.equal((await awsKms(server, ['get-key-rotation-status', '--key-id', keyId])).json.KeyRotationEnabled, false);
  });
});
