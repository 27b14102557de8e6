// Asymmetric, HMAC and key-agreement keys in a custom key store (a keybridge extension: AWS allows
// only symmetric keys there). The example SoftHSM2 cluster the server sets up; each kind of key is
// created in the store and works as it does in the default store, checked with Node's crypto.

import assert from 'node:assert/strict';
import { createHash, createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, publicEncrypt, constants, verify as nodeVerify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  ConnectCustomKeyStoreCommand,
  CreateCustomKeyStoreCommand,
  CreateKeyCommand,
  DecryptCommand,
  EncryptCommand,
  DeriveSharedSecretCommand,
  DescribeCustomKeyStoresCommand,
  DescribeKeyCommand,
  GenerateDataKeyPairCommand,
  GenerateDataKeyPairWithoutPlaintextCommand,
  GenerateMacCommand,
  GetPublicKeyCommand,
  type KeySpec,
  type KeyUsageType,
  type KMSClient,
  SignCommand,
  VerifyCommand,
  VerifyMacCommand,
} from '@aws-sdk/client-kms';
import { REPO_ROOT } from '../support/repo-root.js';
import { sdkClient } from '../support/kms-client.js';
import { startServer, type TestServer } from '../support/server.js';

const CLUSTER = 'cluster-kbExampleTwo';
let server: TestServer;
let kms: KMSClient;
let storeId: string;

async function createInStore(spec: KeySpec, usage: KeyUsageType): Promise<string> {
  const out = await kms.send(new CreateKeyCommand({ KeySpec: spec, KeyUsage: usage, Origin: 'AWS_CLOUDHSM', CustomKeyStoreId: storeId }));
  assert.equal(out.KeyMetadata!.CustomKeyStoreId, storeId);
  assert.equal(out.KeyMetadata!.Origin, 'AWS_CLOUDHSM');
  return out.KeyMetadata!.Arn!;
}

async function publicKey(keyId: string) {
  const out = await kms.send(new GetPublicKeyCommand({ KeyId: keyId }));
  return createPublicKey({ key: Buffer.from(out.PublicKey!), format: 'der', type: 'spki' });
}

before(async () => {
  server = await startServer();
  kms = sdkClient(server);
  const password = readFileSync(join(server.dataDir, 'pins', `${CLUSTER}.pin`), 'utf8').trim();
  const trustAnchor = readFileSync(join(REPO_ROOT, 'hsm-config', 'clusters', 'example-softhsm-ca.pem'), 'utf8');
  const created = await kms.send(
    new CreateCustomKeyStoreCommand({ CustomKeyStoreName: 'asymmetric', CloudHsmClusterId: CLUSTER, TrustAnchorCertificate: trustAnchor, KeyStorePassword: password }),
  );
  storeId = created.CustomKeyStoreId!;
  await kms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId }));
  const deadline = Date.now() + 20_000;
  for (;;) {
    const { CustomKeyStores } = await kms.send(new DescribeCustomKeyStoresCommand({ CustomKeyStoreId: storeId }));
    if (CustomKeyStores?.[0]?.ConnectionState === 'CONNECTED') break;
    assert.notEqual(CustomKeyStores?.[0]?.ConnectionState, 'FAILED', CustomKeyStores?.[0]?.ConnectionErrorCode);
    assert.ok(Date.now() < deadline, 'store did not connect in 20 s');
    await new Promise((r) => setTimeout(r, 50));
  }
});

after(async () => {
  kms?.destroy();
  await server?.destroy();
});

test('an ECDSA and an RSA signing key in the store sign in the cluster; Node verifies', async () => {
  const message = Buffer.from('signed in a custom key store');
  for (const [spec, algorithm, hash] of [
    ['ECC_NIST_P256', 'ECDSA_SHA_256', 'sha256'],
    ['RSA_2048', 'RSASSA_PKCS1_V1_5_SHA_256', 'sha256'],
  ] as const) {
    const keyId = await createInStore(spec, 'SIGN_VERIFY');
    const described = (await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata!;
    assert.equal(described.KeySpec, spec);
    assert.ok(described.SigningAlgorithms?.includes(algorithm));
    const digest = createHash(hash).update(message).digest();
    const signed = await kms.send(new SignCommand({ KeyId: keyId, Message: digest, MessageType: 'DIGEST', SigningAlgorithm: algorithm }));
    assert.ok(nodeVerify(hash, message, await publicKey(keyId), signed.Signature!), `${spec} signature verifies in Node`);
    const verified = await kms.send(new VerifyCommand({ KeyId: keyId, Message: message, Signature: signed.Signature!, SigningAlgorithm: algorithm }));
    assert.equal(verified.SignatureValid, true);
  }
});

test('an RSA encryption key, an HMAC key and a key-agreement key in the store work the same', async () => {
  const rsa = await createInStore('RSA_2048', 'ENCRYPT_DECRYPT');
  const ciphertext = publicEncrypt({ key: await publicKey(rsa), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, Buffer.from('for the store'));
  const decrypted = await kms.send(new DecryptCommand({ KeyId: rsa, CiphertextBlob: ciphertext, EncryptionAlgorithm: 'RSAES_OAEP_SHA_1' }));
  assert.equal(Buffer.from(decrypted.Plaintext!).toString(), 'for the store');

  const hmac = await createInStore('HMAC_256', 'GENERATE_VERIFY_MAC');
  const mac = await kms.send(new GenerateMacCommand({ KeyId: hmac, Message: Buffer.from('m'), MacAlgorithm: 'HMAC_SHA_256' }));
  const ok = await kms.send(new VerifyMacCommand({ KeyId: hmac, Message: Buffer.from('m'), Mac: mac.Mac!, MacAlgorithm: 'HMAC_SHA_256' }));
  assert.equal(ok.MacValid, true);

  const ka = await createInStore('ECC_NIST_P384', 'KEY_AGREEMENT');
  const peer = generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
  const derived = await kms.send(
    new DeriveSharedSecretCommand({ KeyId: ka, KeyAgreementAlgorithm: 'ECDH', PublicKey: peer.publicKey.export({ format: 'der', type: 'spki' }) }),
  );
  assert.deepEqual(Buffer.from(derived.SharedSecret!), diffieHellman({ privateKey: peer.privateKey, publicKey: await publicKey(ka) }));
  assert.equal(derived.KeyOrigin, 'AWS_CLOUDHSM');
});

test('GenerateDataKeyPair is not supported in custom key stores, as in AWS', async () => {
  const symmetric = (await kms.send(new CreateKeyCommand({ Origin: 'AWS_CLOUDHSM', CustomKeyStoreId: storeId }))).KeyMetadata!.Arn!;
  for (const send of [
    () => kms.send(new GenerateDataKeyPairCommand({ KeyId: symmetric, KeyPairSpec: 'ECC_NIST_P256' })),
    () => kms.send(new GenerateDataKeyPairWithoutPlaintextCommand({ KeyId: symmetric, KeyPairSpec: 'RSA_2048' })),
  ]) {
    await assert.rejects(send(), (err: Error) => err.name === 'UnsupportedOperationException' && /not supported in custom key stores/.test(err.message));
  }
  // The same key still encrypts and decrypts in the store.
  const sealed = await kms.send(new EncryptCommand({ KeyId: symmetric, Plaintext: Buffer.from('in the store') }));
  const opened = await kms.send(new DecryptCommand({ CiphertextBlob: sealed.CiphertextBlob! }));
  assert.equal(Buffer.from(opened.Plaintext!).toString(), 'in the store');
});
