// Key rotation in a custom key store (issue #14; beyond AWS, which does not rotate keys there): a
// two-member SoftHSM2 cluster in `keybridge` replication behind the fault-injecting module. A
// rotation made while member b is down lands on a; b gets the new material by resync when it comes
// back, so either member alone decrypts every ciphertext. An automatic rotation due while the store
// is disconnected waits for it.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import {
  ConnectCustomKeyStoreCommand,
  CreateKeyCommand,
  DecryptCommand,
  DescribeCustomKeyStoresCommand,
  DisconnectCustomKeyStoreCommand,
  EnableKeyRotationCommand,
  EncryptCommand,
  ListKeyRotationsCommand,
  RotateKeyOnDemandCommand,
  type KMSClient,
} from '@aws-sdk/client-kms';

import { startFaultyClusterServer, type FaultyCluster } from '../support/faulty-cluster.js';
import type { FaultController } from '../support/faulty-pkcs11.js';
import type { TestServer } from '../support/server.js';
import { until } from '../support/until.js';

const CLUSTER: FaultyCluster = { clusterId: 'cluster-kbRotateStore', memberA: 'kb-rot-a', memberB: 'kb-rot-b', callTimeoutMs: 2_000, maxRetryIntervalMs: 1_000 };
const DAY_MS = 24 * 60 * 60 * 1000;
const LIMIT = { timeout: 90_000 };

let server: TestServer;
let kms: KMSClient;
let faults: FaultController;
let storeId: string;

before(async () => {
  ({ server, kms, faults, storeId } = await startFaultyClusterServer(CLUSTER, { storeName: 'rotation', everyTokenFaulty: true, settings: { rotationCheckIntervalMs: 3_600_000 } }));
});

after(async () => {
  faults?.clear();
  await server?.stop();
});

function stateOf(label: string): string | undefined {
  return server.keybridge.keyStores.health(storeId)?.members.find((m) => m.tokenLabel === label)?.state;
}

async function only(label: string, down: string): Promise<void> {
  faults.set([{ label: down, scope: 'all', fail: 'CKR_DEVICE_REMOVED' }]);
  await until(() => stateOf(down) === 'UNAVAILABLE', 10_000, `${down} to be UNAVAILABLE`);
  assert.notEqual(stateOf(label), 'UNAVAILABLE');
}

async function bothBack(): Promise<void> {
  faults.clear();
  await until(() => stateOf(CLUSTER.memberA) !== 'UNAVAILABLE' && stateOf(CLUSTER.memberB) !== 'UNAVAILABLE', 20_000, 'both members to serve again');
}

async function decrypts(blob: Uint8Array, expected: string): Promise<void> {
  const out = await kms.send(new DecryptCommand({ CiphertextBlob: blob }));
  assert.equal(Buffer.from(out.Plaintext!).toString(), expected);
}

test('a rotation made while a member is down reaches it by resync; either member alone decrypts every material', LIMIT, async () => {
  const keyId = (await kms.send(new CreateKeyCommand({ CustomKeyStoreId: storeId, Origin: 'AWS_CLOUDHSM' }))).KeyMetadata!.KeyId!;
  const c1 = (await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('first material') }))).CiphertextBlob!;

  await only(CLUSTER.memberA, CLUSTER.memberB);
  await kms.send(new RotateKeyOnDemandCommand({ KeyId: keyId }));
  const rotations = (await kms.send(new ListKeyRotationsCommand({ KeyId: keyId }))).Rotations!;
  assert.equal(rotations.length, 1);
  assert.equal(rotations[0]!.KeyMaterialState, 'CURRENT');
  const c2 = (await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('second material') }))).CiphertextBlob!;
  assert.equal(Buffer.from(c2).subarray(18, 50).toString('hex'), rotations[0]!.KeyMaterialId, 'the new ciphertext names the new material');
  await bothBack();

  // b alone: it got the new material when it came back.
  await only(CLUSTER.memberB, CLUSTER.memberA);
  await decrypts(c1, 'first material');
  await decrypts(c2, 'second material');
  const c3 = (await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('on b') }))).CiphertextBlob!;
  assert.equal(Buffer.from(c3).subarray(18, 50).toString('hex'), rotations[0]!.KeyMaterialId);
  await bothBack();
  await decrypts(c3, 'on b');
});

test('an automatic rotation due while the store is disconnected waits for the store, then happens', LIMIT, async () => {
  const keyId = (await kms.send(new CreateKeyCommand({ CustomKeyStoreId: storeId, Origin: 'AWS_CLOUDHSM' }))).KeyMetadata!.KeyId!;
  await kms.send(new EnableKeyRotationCommand({ KeyId: keyId, RotationPeriodInDays: 90 }));
  await kms.send(new DisconnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId }));
  const connection = async () => (await kms.send(new DescribeCustomKeyStoresCommand({ CustomKeyStoreId: storeId }))).CustomKeyStores![0]!.ConnectionState;
  await until(async () => (await connection()) === 'DISCONNECTED', 20_000, 'the store to be DISCONNECTED');
  server.clock.advance(91 * DAY_MS);
  assert.ok(!(await server.keybridge.rotations.rotateDueOnce()).includes(keyId), 'deferred while disconnected');
  await kms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId }));
  await until(async () => (await connection()) === 'CONNECTED', 30_000, 'the store to be CONNECTED');
  await sleep(100);
  assert.ok((await server.keybridge.rotations.rotateDueOnce()).includes(keyId), 'rotated once the store is back');
  const rotations = (await kms.send(new ListKeyRotationsCommand({ KeyId: keyId }))).Rotations!;
  assert.deepEqual(rotations.map((r) => [r.RotationType, r.KeyMaterialState]), [['AUTOMATIC', 'CURRENT']]);
});
