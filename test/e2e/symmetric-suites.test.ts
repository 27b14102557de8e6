// One deployment, both symmetric suites (docs/ciphertext-format.md): keys made while the default key
// store used AES-256-GCM keep their material and their blobs after the store is switched to the
// CBC-HMAC suite (as when keybridge moves to an HSM without AES-GCM, or by configuration); new keys
// and new materials take the new suite; ReEncrypt crosses between them; a blob can never be opened
// as the other suite; and import, which brings one AES key, is refused where a material needs two.
// Driven by the AWS SDK against real servers on SoftHSM2, restarted on one data directory.

import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, test } from 'node:test';

import {
  CreateKeyCommand,
  DecryptCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  ListKeyRotationsCommand,
  ReEncryptCommand,
  RotateKeyOnDemandCommand,
  type KMSClient,
} from '@aws-sdk/client-kms';

import { sdkClient } from '../support/kms-client.js';
import { makeDataDir, startServer, type TestServer } from '../support/server.js';

const CBC = 'AES_256_CBC_HMAC_SHA_256';
const dataDir = makeDataDir();
let server: TestServer | undefined;
let kms: KMSClient;

// Made under AES-GCM before the switch.
let gcmKey: string;
const gcmBlobs: Array<{ blob: Uint8Array; plaintext: Buffer; context: Record<string, string> }> = [];

async function start(suite: 'auto' | typeof CBC): Promise<void> {
  await server?.stop();
  server = await startServer({ dataDir, settings: { defaultKeyStoreSymmetricSuite: suite } });
  kms = sdkClient(server);
}

before(async () => {
  await start('auto');
  gcmKey = (await kms.send(new CreateKeyCommand({ Description: 'made under AES-GCM' }))).KeyMetadata!.KeyId!;
  for (const [plaintext, context] of [
    [Buffer.from('before the switch'), { phase: 'gcm' }],
    [Buffer.alloc(4096, 7), {}],
  ] as const) {
    const out = await kms.send(new EncryptCommand({ KeyId: gcmKey, Plaintext: plaintext, EncryptionContext: context }));
    assert.equal(out.CiphertextBlob![1], 0x01, 'AES-GCM on SoftHSM2 when left to choose');
    gcmBlobs.push({ blob: out.CiphertextBlob!, plaintext, context });
  }
  const dataKey = await kms.send(new GenerateDataKeyCommand({ KeyId: gcmKey, KeySpec: 'AES_256' }));
  gcmBlobs.push({ blob: dataKey.CiphertextBlob!, plaintext: Buffer.from(dataKey.Plaintext!), context: {} });
  await start(CBC);
});

after(async () => {
  await server?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

async function decrypt(blob: Uint8Array, context: Record<string, string> = {}): Promise<Buffer> {
  return Buffer.from((await kms.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: context }))).Plaintext!);
}

async function rejects(call: Promise<unknown>, name: string, message?: RegExp): Promise<void> {
  await assert.rejects(call, (err: Error) => {
    assert.equal(err.name, name, err.message);
    if (message !== undefined) assert.match(err.message, message);
    return true;
  });
}

test('blobs made under AES-GCM before the switch still decrypt, and their key keeps encrypting with its GCM material', async () => {
  for (const { blob, plaintext, context } of gcmBlobs) assert.deepEqual(await decrypt(blob, context), plaintext);
  const again = await kms.send(new EncryptCommand({ KeyId: gcmKey, Plaintext: Buffer.from('still GCM') }));
  assert.equal(again.CiphertextBlob![1], 0x01, 'a material is only ever used one way');
  assert.equal(again.CiphertextBlob!.length, 78 + 9);
});

test('a key made after the switch is CBC-HMAC: algorithm 0x02, 16-byte IV, whole blocks, 32-byte tag; every KMS operation works', async () => {
  const key = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!;
  assert.equal(key.KeySpec, 'SYMMETRIC_DEFAULT');
  assert.deepEqual(key.EncryptionAlgorithms, ['SYMMETRIC_DEFAULT'], 'the suite is internal; the KMS key is the same to clients');
  const out = await kms.send(new EncryptCommand({ KeyId: key.KeyId!, Plaintext: Buffer.from('after the switch'), EncryptionContext: { phase: 'cbc' } }));
  const blob = Buffer.from(out.CiphertextBlob!);
  assert.equal(blob[0], 0x01);
  assert.equal(blob[1], 0x02);
  assert.equal(blob.length, 98 + 32, '16 bytes of plaintext pad to two blocks');
  assert.equal((await decrypt(blob, { phase: 'cbc' })).toString(), 'after the switch');
  await rejects(kms.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: { phase: 'gcm' } })), 'InvalidCiphertextException');
  const dataKey = await kms.send(new GenerateDataKeyCommand({ KeyId: key.KeyId!, NumberOfBytes: 64, EncryptionContext: { purpose: 'dk' } }));
  assert.equal(dataKey.CiphertextBlob!.length, 98 + 80);
  assert.deepEqual(await decrypt(dataKey.CiphertextBlob!, { purpose: 'dk' }), Buffer.from(dataKey.Plaintext!));
});

test('ReEncrypt crosses suites both ways, and the result opens under its new key', async () => {
  const cbcKey = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
  const first = gcmBlobs[0]!;
  const toCbc = await kms.send(new ReEncryptCommand({ CiphertextBlob: first.blob, SourceEncryptionContext: first.context, DestinationKeyId: cbcKey }));
  assert.equal(toCbc.CiphertextBlob![1], 0x02);
  assert.equal(toCbc.SourceKeyId?.endsWith(gcmKey), true);
  assert.deepEqual(await decrypt(toCbc.CiphertextBlob!), first.plaintext);
  const back = await kms.send(new ReEncryptCommand({ CiphertextBlob: toCbc.CiphertextBlob!, DestinationKeyId: gcmKey, DestinationEncryptionContext: { back: 'gcm' } }));
  assert.equal(back.CiphertextBlob![1], 0x01);
  assert.deepEqual(await decrypt(back.CiphertextBlob!, { back: 'gcm' }), first.plaintext);
});

test('a blob relabelled as the other suite is InvalidCiphertextException, before any HSM call could misuse a key', async () => {
  const cbcKey = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
  const cbcBlob = Buffer.from((await kms.send(new EncryptCommand({ KeyId: cbcKey, Plaintext: Buffer.alloc(20, 1) }))).CiphertextBlob!);
  const asGcm = Buffer.from(cbcBlob);
  asGcm[1] = 0x01;
  await rejects(kms.send(new DecryptCommand({ CiphertextBlob: asGcm })), 'InvalidCiphertextException');
  // A GCM blob whose layout also parses as CBC-HMAC (50 + 16 + 16k + 32 bytes) names a GCM material.
  const gcmBlob = Buffer.from((await kms.send(new EncryptCommand({ KeyId: gcmKey, Plaintext: Buffer.alloc(36, 2) }))).CiphertextBlob!);
  assert.equal((gcmBlob.length - 98) % 16, 0);
  const asCbc = Buffer.from(gcmBlob);
  asCbc[1] = 0x02;
  await rejects(kms.send(new DecryptCommand({ CiphertextBlob: asCbc })), 'InvalidCiphertextException');
});

test('rotating a GCM key after the switch gives it a CBC-HMAC material; blobs of both materials decrypt', async () => {
  await kms.send(new RotateKeyOnDemandCommand({ KeyId: gcmKey }));
  const rotations = await kms.send(new ListKeyRotationsCommand({ KeyId: gcmKey }));
  assert.equal(rotations.Rotations?.length, 1);
  const now = await kms.send(new EncryptCommand({ KeyId: gcmKey, Plaintext: Buffer.from('new material') }));
  assert.equal(now.CiphertextBlob![1], 0x02, 'the new material has the store suite');
  assert.equal((await decrypt(now.CiphertextBlob!)).toString(), 'new material');
  for (const { blob, plaintext, context } of gcmBlobs) assert.deepEqual(await decrypt(blob, context), plaintext);
});

test('importing SYMMETRIC_DEFAULT material is refused where a material needs an encryption key and a MAC key', async () => {
  await rejects(
    kms.send(new CreateKeyCommand({ Origin: 'EXTERNAL' })),
    'UnsupportedOperationException',
    /Importing SYMMETRIC_DEFAULT key material is not supported by the HSM of this key store: its symmetric keys use AES_256_CBC_HMAC_SHA_256/,
  );
  // Other specs still import (the suite is about symmetric keys only).
  const hmacKey = await kms.send(new CreateKeyCommand({ Origin: 'EXTERNAL', KeySpec: 'HMAC_256', KeyUsage: 'GENERATE_VERIFY_MAC' }));
  assert.equal(hmacKey.KeyMetadata!.KeyState, 'PendingImport');
});

test('the last restart keeps everything: back under auto (GCM), every blob of either suite still decrypts', async () => {
  const cbcKey = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
  const cbcBlob = (await kms.send(new EncryptCommand({ KeyId: cbcKey, Plaintext: Buffer.from('CBC, kept') }))).CiphertextBlob!;
  await start('auto');
  assert.equal((await decrypt(cbcBlob)).toString(), 'CBC, kept');
  const stillCbc = await kms.send(new EncryptCommand({ KeyId: cbcKey, Plaintext: Buffer.from('x') }));
  assert.equal(stillCbc.CiphertextBlob![1], 0x02, 'the key keeps its CBC-HMAC material until it rotates');
  for (const { blob, plaintext, context } of gcmBlobs) assert.deepEqual(await decrypt(blob, context), plaintext);
  const fresh = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
  assert.equal((await kms.send(new EncryptCommand({ KeyId: fresh, Plaintext: Buffer.from('y') }))).CiphertextBlob![1], 0x01);
});
