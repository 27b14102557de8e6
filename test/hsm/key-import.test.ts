// Importing key material (BYOK) on a real SoftHSM2 token, with the material wrapped on the host the
// way AWS's documented OpenSSL procedure does it (here with Node's crypto): the imported objects
// hold exactly that material (Node computes the same GCM ciphertexts, HMACs and verifies the
// signatures), they are sensitive and non-extractable, the material id is deterministic per
// (key, material), and every kind of bad input gets its own outcome.

import assert from 'node:assert/strict';
import {
  constants,
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  publicEncrypt,
  randomBytes,
  randomUUID,
  verify as nodeVerify,
  type KeyObject,
} from 'node:crypto';
import { after, before, test } from 'node:test';

import pkcs11js from 'pkcs11js';

import type { KeySpec, KeyUsage } from '../../src/domain/key-spec.js';
import { CKR } from '../../src/hsm/pkcs11/ckr.js';
import { Pkcs11Hsm } from '../../src/hsm/pkcs11/pkcs11-hsm.js';
import {
  HsmError,
  IMPORT_WRAPPING_KEY_LABEL,
  type BackingKeyRef,
  type HsmErrorCode,
  type ImportedKeyMaterial,
  type ImportWrappingAlgorithm,
} from '../../src/ports/hsm.js';
import { createSoftHsm, loadVendorProfile, type SoftHsmFixture } from '../support/softhsm.js';
import { findObjects, withRawSession } from '../support/raw-session.js';

let fx: SoftHsmFixture;
let hsm: Pkcs11Hsm;
let wrappingKey: BackingKeyRef;
let wrappingPublicKey: KeyObject;

before(async () => {
  fx = await createSoftHsm();
  hsm = await Pkcs11Hsm.open({ modulePath: fx.modulePath, tokenLabel: fx.tokenLabel, pin: fx.userPin, profile: loadVendorProfile('softhsm2'), maxSessions: 2 });
  wrappingKey = newWrappingKeyRef();
  wrappingPublicKey = createPublicKey({ key: await hsm.generateImportWrappingKey(wrappingKey, 'RSA_2048'), format: 'der', type: 'spki' });
});

after(async () => {
  await hsm?.close();
  await fx?.cleanup();
});

function newWrappingKeyRef(): BackingKeyRef {
  return { id: randomBytes(32).toString('hex'), label: IMPORT_WRAPPING_KEY_LABEL };
}

function newKmsKey(): { keyId: string; keyArn: string } {
  const keyId = randomUUID();
  return { keyId, keyArn: `arn:aws:kms:eu-west-1:111122223333:key/${keyId}` };
}

// --- Wrapping on the host, as `openssl pkeyutl -encrypt -pkeyopt rsa_padding_mode:oaep ...` and
// `openssl enc -id-aes256-wrap-pad` do in AWS's procedure.

function oaepSha1(material: Buffer, publicKey: KeyObject = wrappingPublicKey): Buffer {
  return publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, material);
}

function aesKeyWrapPad(kek: Buffer, material: Buffer): Buffer {
  const cipher = createCipheriv('id-aes256-wrap-pad', kek, Buffer.from('A65959A6', 'hex'));
  return Buffer.concat([cipher.update(material), cipher.final()]);
}

function rsaAesKeyWrapSha1(material: Buffer): Buffer {
  const ephemeral = randomBytes(32);
  return Buffer.concat([oaepSha1(ephemeral), aesKeyWrapPad(ephemeral, material)]);
}

function wrap(algorithm: ImportWrappingAlgorithm, material: Buffer): Buffer {
  return algorithm === 'RSAES_OAEP_SHA_1' ? oaepSha1(material) : rsaAesKeyWrapSha1(material);
}

interface ImportArgs {
  readonly key: { keyId: string; keyArn: string };
  readonly keySpec: KeySpec;
  readonly keyUsage: KeyUsage;
  readonly encryptedMaterial: Buffer;
  readonly algorithm?: ImportWrappingAlgorithm;
  readonly wrappingKey?: BackingKeyRef;
}

function importMaterial(args: ImportArgs): Promise<ImportedKeyMaterial> {
  return hsm.importKeyMaterial({
    wrappingKey: args.wrappingKey ?? wrappingKey,
    wrappingKeySpec: 'RSA_2048',
    algorithm: args.algorithm ?? 'RSAES_OAEP_SHA_1',
    encryptedMaterial: args.encryptedMaterial,
    keyId: args.key.keyId,
    keyArn: args.key.keyArn,
    keySpec: args.keySpec,
    keyUsage: args.keyUsage,
  });
}

function importAes(key: { keyId: string; keyArn: string }, material: Buffer, algorithm: ImportWrappingAlgorithm = 'RSAES_OAEP_SHA_1'): Promise<ImportedKeyMaterial> {
  return importMaterial({ key, keySpec: 'SYMMETRIC_DEFAULT', keyUsage: 'ENCRYPT_DECRYPT', encryptedMaterial: wrap(algorithm, material), algorithm });
}

function importPrivateKey(key: { keyId: string; keyArn: string }, keySpec: KeySpec, keyUsage: KeyUsage, privateKey: KeyObject): Promise<ImportedKeyMaterial> {
  const pkcs8 = privateKey.export({ format: 'der', type: 'pkcs8' });
  return importMaterial({ key, keySpec, keyUsage, encryptedMaterial: rsaAesKeyWrapSha1(pkcs8), algorithm: 'RSA_AES_KEY_WRAP_SHA_1' });
}

function materialRef(key: { keyArn: string }, imported: ImportedKeyMaterial): BackingKeyRef {
  return { id: imported.materialId, label: key.keyArn };
}

function rejectsWith(code: HsmErrorCode, message?: RegExp) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof HsmError, `expected HsmError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (message !== undefined) assert.match(err.message, message);
    return true;
  };
}

function flags(pkcs11: pkcs11js.PKCS11, session: Buffer, handle: Buffer, types: readonly number[]): boolean[] {
  return pkcs11.C_GetAttributeValue(session, handle, types.map((type) => ({ type }))).map((attr) => attr.value[0] !== 0);
}

/** The object of this class with this CKA_ID: sensitive, non-extractable, and C_WrapKey refuses it. */
function assertLocked(objectClass: number, id: string): void {
  withRawSession(fx.modulePath, fx.tokenLabel, (pkcs11, session) => {
    const [handle] = findObjects(pkcs11, session, [
      { type: pkcs11js.CKA_CLASS, value: objectClass },
      { type: pkcs11js.CKA_ID, value: Buffer.from(id, 'hex') },
    ]);
    assert.ok(handle !== undefined, 'the imported object exists');
    assert.deepEqual(flags(pkcs11, session, handle, [pkcs11js.CKA_TOKEN, pkcs11js.CKA_PRIVATE, pkcs11js.CKA_SENSITIVE, pkcs11js.CKA_EXTRACTABLE]), [true, true, true, false]);
    const kek = pkcs11.C_GenerateKey(session, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
      { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
      { type: pkcs11js.CKA_VALUE_LEN, value: 32 },
      { type: pkcs11js.CKA_TOKEN, value: false },
      { type: pkcs11js.CKA_WRAP, value: true },
    ]);
    try {
      assert.throws(
        () => pkcs11.C_WrapKey(session, { mechanism: pkcs11js.CKM_AES_KEY_WRAP_PAD }, kek, handle, Buffer.alloc(4096)),
        (err: Error & { code?: number }) => err.code === CKR.CKR_KEY_UNEXTRACTABLE,
      );
    } finally {
      pkcs11.C_DestroyObject(session, kek);
    }
  });
}

// --- The wrapping key and the probe ----------------------------------------------------------------

test('the wrapping key pair: an RSA public key out, a private key that can only unwrap, not a KMS key, destroyed whole', async () => {
  const ref = newWrappingKeyRef();
  const spki = await hsm.generateImportWrappingKey(ref, 'RSA_3072');
  assert.equal(createPublicKey({ key: spki, format: 'der', type: 'spki' }).asymmetricKeyDetails?.modulusLength, 3072);
  withRawSession(fx.modulePath, fx.tokenLabel, (pkcs11, session) => {
    const [privateKey] = findObjects(pkcs11, session, [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
      { type: pkcs11js.CKA_ID, value: Buffer.from(ref.id, 'hex') },
    ]);
    assert.ok(privateKey !== undefined);
    const types = [pkcs11js.CKA_TOKEN, pkcs11js.CKA_SENSITIVE, pkcs11js.CKA_EXTRACTABLE, pkcs11js.CKA_UNWRAP, pkcs11js.CKA_DECRYPT, pkcs11js.CKA_SIGN, pkcs11js.CKA_DERIVE];
    assert.deepEqual(flags(pkcs11, session, privateKey, types), [true, true, false, true, false, false, false]);
  });
  assert.ok(!(await hsm.listSymmetricKeys()).some((listed) => listed.id === ref.id));
  assert.ok(!(await hsm.listKeyObjects()).some((listed) => listed.id === ref.id));
  assert.equal(await hsm.destroySymmetricKey(ref), true);
  withRawSession(fx.modulePath, fx.tokenLabel, (pkcs11, session) => assert.equal(findObjects(pkcs11, session, [{ type: pkcs11js.CKA_ID, value: Buffer.from(ref.id, 'hex') }]).length, 0));
  await assert.rejects(
    importMaterial({ key: newKmsKey(), keySpec: 'SYMMETRIC_DEFAULT', keyUsage: 'ENCRYPT_DECRYPT', encryptedMaterial: oaepSha1(randomBytes(32)), wrappingKey: ref }),
    rejectsWith('HSM_KEY_NOT_FOUND'),
  );
});

test('SoftHSM2 2.6.1 unwraps with OAEP over SHA-1 only: the SHA-256 algorithms are refused, naming the mechanism and hash', async () => {
  assert.equal(await hsm.importAlgorithmRefusal(wrappingKey, 'RSAES_OAEP_SHA_1'), undefined);
  assert.equal(await hsm.importAlgorithmRefusal(wrappingKey, 'RSA_AES_KEY_WRAP_SHA_1'), undefined);
  for (const algorithm of ['RSAES_OAEP_SHA_256', 'RSA_AES_KEY_WRAP_SHA_256'] as const) {
    const refusal = await hsm.importAlgorithmRefusal(wrappingKey, algorithm);
    assert.match(refusal ?? '', /CKM_RSA_PKCS_OAEP/);
    assert.match(refusal ?? '', /SHA-256/);
  }
  // Importing with it anyway is refused the same way, never done on the host.
  await assert.rejects(
    importMaterial({ key: newKmsKey(), keySpec: 'SYMMETRIC_DEFAULT', keyUsage: 'ENCRYPT_DECRYPT', encryptedMaterial: oaepSha1(randomBytes(32)), algorithm: 'RSAES_OAEP_SHA_256' }),
    rejectsWith('HSM_UNSUPPORTED', /CKM_RSA_PKCS_OAEP/),
  );
});

// --- Symmetric keys ---------------------------------------------------------------------------------

test('AES-256 material: the object holds exactly that key, sensitive and non-extractable', async () => {
  const key = newKmsKey();
  const material = randomBytes(32);
  const imported = await importAes(key, material);
  assert.match(imported.materialId, /^[0-9a-f]{64}$/);
  assert.equal(imported.alreadyPresent, false);
  assert.equal(imported.publicKey, undefined);
  const ref = materialRef(key, imported);

  const aad = Buffer.from('context');
  const sealed = await hsm.encrypt(ref, Buffer.from('hello'), aad);
  assert.deepEqual(await hsm.decrypt(ref, sealed.iv, sealed.ciphertext, sealed.tag, aad), Buffer.from('hello'));
  // Node, knowing the material, opens what the HSM sealed and seals what the HSM opens.
  const decipher = createDecipheriv('aes-256-gcm', material, sealed.iv).setAAD(aad).setAuthTag(sealed.tag);
  assert.deepEqual(Buffer.concat([decipher.update(sealed.ciphertext), decipher.final()]), Buffer.from('hello'));
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', material, iv).setAAD(aad);
  const ciphertext = Buffer.concat([cipher.update('from node'), cipher.final()]);
  assert.deepEqual(await hsm.decrypt(ref, iv, ciphertext, cipher.getAuthTag(), aad), Buffer.from('from node'));

  assertLocked(pkcs11js.CKO_SECRET_KEY, imported.materialId);
  assert.ok((await hsm.listSymmetricKeys()).some((listed) => listed.id === imported.materialId && listed.label === key.keyArn));
  assert.equal(await hsm.destroySymmetricKey(ref), true);
});

test('the material id is deterministic per (key, material), whatever the wrapping', async () => {
  const key = newKmsKey();
  const material = randomBytes(32);
  const first = await importAes(key, material);
  const again = await importAes(key, material, 'RSA_AES_KEY_WRAP_SHA_1');
  assert.deepEqual(again, { materialId: first.materialId, alreadyPresent: true });
  const elsewhere = await importAes(newKmsKey(), material);
  assert.notEqual(elsewhere.materialId, first.materialId);
  assert.equal(elsewhere.alreadyPresent, false);
  const other = await importAes(key, randomBytes(32));
  assert.notEqual(other.materialId, first.materialId);
  assert.equal(other.alreadyPresent, false);
  // Deleted and imported again: the same id, so old ciphertexts (which name it) decrypt again.
  const ref = materialRef(key, first);
  const sealed = await hsm.encrypt(ref, Buffer.from('kept'), Buffer.alloc(0));
  assert.equal(await hsm.destroySymmetricKey(ref), true);
  const restored = await importAes(key, material);
  assert.deepEqual(restored, { materialId: first.materialId, alreadyPresent: false });
  assert.deepEqual(await hsm.decrypt(ref, sealed.iv, sealed.ciphertext, sealed.tag, Buffer.alloc(0)), Buffer.from('kept'));
});

test('SYMMETRIC_DEFAULT material of any length but 32 bytes is incorrect key material', async () => {
  for (const length of [16, 24, 31, 33, 40]) {
    await assert.rejects(importAes(newKmsKey(), randomBytes(length)), rejectsWith('HSM_INCORRECT_KEY_MATERIAL', /32 bytes/), `${length} bytes`);
  }
});

test('a blob that does not unwrap is a decryption failure, for both algorithms', async () => {
  const key = newKmsKey();
  const oaep = oaepSha1(randomBytes(32));
  oaep[100]! ^= 1;
  await assert.rejects(importMaterial({ key, keySpec: 'SYMMETRIC_DEFAULT', keyUsage: 'ENCRYPT_DECRYPT', encryptedMaterial: oaep }), rejectsWith('HSM_DECRYPT_FAILED'));
  const wrappedHere = rsaAesKeyWrapSha1(randomBytes(32));
  for (const at of [10, wrappedHere.length - 5]) {
    const tampered = Buffer.from(wrappedHere);
    tampered[at]! ^= 1;
    await assert.rejects(
      importMaterial({ key, keySpec: 'SYMMETRIC_DEFAULT', keyUsage: 'ENCRYPT_DECRYPT', encryptedMaterial: tampered, algorithm: 'RSA_AES_KEY_WRAP_SHA_1' }),
      rejectsWith('HSM_DECRYPT_FAILED'),
      `byte ${at}`,
    );
  }
  for (const [encryptedMaterial, algorithm] of [
    [oaep.subarray(1), 'RSAES_OAEP_SHA_1'],
    [wrappedHere.subarray(0, 256), 'RSA_AES_KEY_WRAP_SHA_1'],
    [wrappedHere.subarray(0, wrappedHere.length - 3), 'RSA_AES_KEY_WRAP_SHA_1'],
  ] as const) {
    await assert.rejects(importMaterial({ key, keySpec: 'SYMMETRIC_DEFAULT', keyUsage: 'ENCRYPT_DECRYPT', encryptedMaterial, algorithm }), rejectsWith('HSM_DECRYPT_FAILED'));
  }
  // Wrapped for another wrapping key.
  const stranger = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey;
  await assert.rejects(
    importMaterial({ key, keySpec: 'SYMMETRIC_DEFAULT', keyUsage: 'ENCRYPT_DECRYPT', encryptedMaterial: oaepSha1(randomBytes(32), stranger) }),
    rejectsWith('HSM_DECRYPT_FAILED'),
  );
});

test('an unknown wrapping key is not found', async () => {
  await assert.rejects(
    importMaterial({ key: newKmsKey(), keySpec: 'SYMMETRIC_DEFAULT', keyUsage: 'ENCRYPT_DECRYPT', encryptedMaterial: oaepSha1(randomBytes(32)), wrappingKey: newWrappingKeyRef() }),
    rejectsWith('HSM_KEY_NOT_FOUND'),
  );
});

test('HMAC material: the HSM computes the HMAC Node computes with it; lengths outside AWS ranges are refused', async () => {
  for (const length of [32, 64]) {
    const key = newKmsKey();
    const material = randomBytes(length);
    const imported = await importMaterial({ key, keySpec: 'HMAC_256', keyUsage: 'GENERATE_VERIFY_MAC', encryptedMaterial: oaepSha1(material) });
    const ref = materialRef(key, imported);
    const tag = await hsm.mac(ref, 'HMAC_SHA_256', Buffer.from('message'));
    assert.deepEqual(tag, createHmac('sha256', material).update('message').digest(), `${length} bytes`);
    assert.equal(await hsm.verifyMac(ref, 'HMAC_SHA_256', Buffer.from('message'), tag), true);
    assertLocked(pkcs11js.CKO_SECRET_KEY, imported.materialId);
    const again = await importMaterial({ key, keySpec: 'HMAC_256', keyUsage: 'GENERATE_VERIFY_MAC', encryptedMaterial: rsaAesKeyWrapSha1(material), algorithm: 'RSA_AES_KEY_WRAP_SHA_1' });
    assert.deepEqual(again, { materialId: imported.materialId, alreadyPresent: true });
  }
  const hmac224 = newKmsKey();
  const material = randomBytes(28);
  const imported = await importMaterial({ key: hmac224, keySpec: 'HMAC_224', keyUsage: 'GENERATE_VERIFY_MAC', encryptedMaterial: oaepSha1(material) });
  assert.deepEqual(await hsm.mac(materialRef(hmac224, imported), 'HMAC_SHA_224', Buffer.from('m')), createHmac('sha224', material).update('m').digest());

  for (const [keySpec, length] of [
    ['HMAC_512', 16],
    ['HMAC_512', 63],
    ['HMAC_256', 31],
    ['HMAC_256', 65],
    ['HMAC_384', 47],
    ['HMAC_224', 72],
  ] as const) {
    await assert.rejects(
      importMaterial({ key: newKmsKey(), keySpec, keyUsage: 'GENERATE_VERIFY_MAC', encryptedMaterial: rsaAesKeyWrapSha1(randomBytes(length)), algorithm: 'RSA_AES_KEY_WRAP_SHA_1' }),
      rejectsWith('HSM_INCORRECT_KEY_MATERIAL', new RegExp(keySpec)),
      `${keySpec} with ${length} bytes`,
    );
  }
});

// --- Key pairs ------------------------------------------------------------------------------------

test('an RSA-2048 signing key: the public key derived in the HSM is the original, signatures verify with it', async () => {
  const key = newKmsKey();
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const spki = publicKey.export({ format: 'der', type: 'spki' });
  const imported = await importPrivateKey(key, 'RSA_2048', 'SIGN_VERIFY', privateKey);
  assert.equal(imported.alreadyPresent, false);
  assert.deepEqual(imported.publicKey, spki);
  const ref = materialRef(key, imported);
  assert.deepEqual(await hsm.getPublicKey(ref, 'RSA_2048'), spki);
  const digest = createHash('sha256').update('signed').digest();
  for (const algorithm of ['RSASSA_PKCS1_V1_5_SHA_256', 'RSASSA_PSS_SHA_256'] as const) {
    const signature = await hsm.sign(ref, algorithm, digest);
    const padding = algorithm === 'RSASSA_PSS_SHA_256' ? constants.RSA_PKCS1_PSS_PADDING : constants.RSA_PKCS1_PADDING;
    assert.ok(nodeVerify('sha256', Buffer.from('signed'), { key: publicKey, padding, saltLength: 32 }, signature), algorithm);
    assert.equal(await hsm.verify(ref, 'RSA_2048', algorithm, digest, signature), true);
  }
  assertLocked(pkcs11js.CKO_PRIVATE_KEY, imported.materialId);
  const again = await importPrivateKey(key, 'RSA_2048', 'SIGN_VERIFY', privateKey);
  assert.deepEqual(again, { materialId: imported.materialId, alreadyPresent: true, publicKey: spki });
  // One KMS key in the list, and the pair destroyed whole.
  assert.equal((await hsm.listSymmetricKeys()).filter((listed) => listed.id === imported.materialId).length, 1);
  assert.equal(await hsm.destroySymmetricKey(ref), true);
  withRawSession(fx.modulePath, fx.tokenLabel, (pkcs11, session) => assert.equal(findObjects(pkcs11, session, [{ type: pkcs11js.CKA_ID, value: Buffer.from(imported.materialId, 'hex') }]).length, 0));
});

test('an RSA encryption key decrypts what Node encrypts with the original public key', async () => {
  const key = newKmsKey();
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const imported = await importPrivateKey(key, 'RSA_2048', 'ENCRYPT_DECRYPT', privateKey);
  const ref = materialRef(key, imported);
  const ciphertext = publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, Buffer.from('secret'));
  assert.deepEqual(await hsm.rsaDecrypt(ref, 'sha1', ciphertext), Buffer.from('secret'));
  // A decryption key cannot sign (the usage of a generated ENCRYPT_DECRYPT pair).
  await assert.rejects(hsm.sign(ref, 'RSASSA_PKCS1_V1_5_SHA_256', Buffer.alloc(32)), (err: unknown) => err instanceof HsmError);
});

test('RSA material of another size, or not RSA at all, is incorrect key material', async () => {
  const rsa3072 = generateKeyPairSync('rsa', { modulusLength: 3072 }).privateKey;
  await assert.rejects(importPrivateKey(newKmsKey(), 'RSA_2048', 'SIGN_VERIFY', rsa3072), rejectsWith('HSM_INCORRECT_KEY_MATERIAL', /2048/));
  const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
  await assert.rejects(importPrivateKey(newKmsKey(), 'RSA_2048', 'SIGN_VERIFY', ec), rejectsWith('HSM_INCORRECT_KEY_MATERIAL'));
  await assert.rejects(
    importMaterial({ key: newKmsKey(), keySpec: 'RSA_2048', keyUsage: 'SIGN_VERIFY', encryptedMaterial: rsaAesKeyWrapSha1(randomBytes(300)), algorithm: 'RSA_AES_KEY_WRAP_SHA_1' }),
    rejectsWith('HSM_INCORRECT_KEY_MATERIAL'),
  );
});

const EC_CASES = [
  { spec: 'ECC_NIST_P256', curve: 'prime256v1', algorithm: 'ECDSA_SHA_256', hash: 'sha256' },
  { spec: 'ECC_SECG_P256K1', curve: 'secp256k1', algorithm: 'ECDSA_SHA_256', hash: 'sha256' },
  { spec: 'ECC_NIST_P384', curve: 'secp384r1', algorithm: 'ECDSA_SHA_384', hash: 'sha384' },
  { spec: 'ECC_NIST_P521', curve: 'secp521r1', algorithm: 'ECDSA_SHA_512', hash: 'sha512' },
] as const;

test('EC signing keys on every curve: the public point is recovered in the HSM, signatures verify with the original key', async () => {
  for (const { spec, curve, algorithm, hash } of EC_CASES) {
    // Several keys: either of the two candidate points may be the right one.
    for (let i = 0; i < 3; i++) {
      const key = newKmsKey();
      const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: curve });
      const spki = publicKey.export({ format: 'der', type: 'spki' });
      const imported = await importPrivateKey(key, spec, 'SIGN_VERIFY', privateKey);
      assert.deepEqual(imported.publicKey, spki, spec);
      const ref = materialRef(key, imported);
      assert.deepEqual(await hsm.getPublicKey(ref, spec), spki, spec);
      const digest = createHash(hash).update('signed').digest();
      const signature = await hsm.sign(ref, algorithm, digest);
      assert.ok(nodeVerify(hash, Buffer.from('signed'), publicKey, signature), spec);
      assert.equal(await hsm.verify(ref, spec, algorithm, digest, signature), true, spec);
      if (i === 0) assertLocked(pkcs11js.CKO_PRIVATE_KEY, imported.materialId);
    }
  }
});

test('an EC key-agreement key derives the secret Node derives with the original key', async () => {
  const key = newKmsKey();
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const imported = await importMaterial({
    key,
    keySpec: 'ECC_NIST_P256',
    keyUsage: 'KEY_AGREEMENT',
    // RSAES_OAEP carries EC keys too (a P-256 PKCS#8 fits one RSA-2048 OAEP block).
    encryptedMaterial: oaepSha1(privateKey.export({ format: 'der', type: 'pkcs8' })),
  });
  const peer = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const jwk = peer.publicKey.export({ format: 'jwk' });
  const point = Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]);
  assert.deepEqual(await hsm.deriveSharedSecret(materialRef(key, imported), point, 32), diffieHellman({ privateKey: peer.privateKey, publicKey }));
  await assert.rejects(hsm.sign(materialRef(key, imported), 'ECDSA_SHA_256', Buffer.alloc(32)), (err: unknown) => err instanceof HsmError);
});

test('an EC key on another curve, or an RSA key, into an EC KMS key is incorrect key material; Ed25519 is not supported', async () => {
  const p384 = generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).privateKey;
  await assert.rejects(importPrivateKey(newKmsKey(), 'ECC_NIST_P256', 'SIGN_VERIFY', p384), rejectsWith('HSM_INCORRECT_KEY_MATERIAL', /ECC_NIST_P256/));
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  await assert.rejects(importPrivateKey(newKmsKey(), 'ECC_NIST_P256', 'SIGN_VERIFY', rsa), rejectsWith('HSM_INCORRECT_KEY_MATERIAL'));
  const ed = generateKeyPairSync('ed25519').privateKey;
  await assert.rejects(importPrivateKey(newKmsKey(), 'ECC_NIST_EDWARDS25519', 'SIGN_VERIFY', ed), rejectsWith('HSM_UNSUPPORTED', /Ed25519/));
});

test('no session object outlives an import, whatever its outcome', () => {
  withRawSession(fx.modulePath, fx.tokenLabel, (pkcs11, session) => {
    const left = findObjects(pkcs11, session, [{ type: pkcs11js.CKA_TOKEN, value: false }]);
    assert.deepEqual(left, []);
  });
});
