// The HSM adapter's asymmetric, HMAC and key-agreement methods on a real SoftHSM2 token: objects
// are generated with the promised attributes, results check out with Node's crypto, key pairs are
// listed for reconciliation and destroyed whole, and mechanism discovery names what is missing.

import assert from 'node:assert/strict';
import { createHash, createPublicKey, diffieHellman, generateKeyPairSync, verify as nodeVerify } from 'node:crypto';
import { after, before, test } from 'node:test';

import { Pkcs11Hsm } from '../../src/hsm/pkcs11/pkcs11-hsm.js';
import { missingMechanism, type MechanismTable } from '../../src/hsm/pkcs11/mechanisms.js';
import { ecdsaDerToRaw, ecdsaRawToDer } from '../../src/hsm/pkcs11/spki.js';
import pkcs11js from 'pkcs11js';
import { createSoftHsm, loadVendorProfile, newBackingKeyRef, type SoftHsmFixture } from '../support/softhsm.js';

let fx: SoftHsmFixture;
let hsm: Pkcs11Hsm;

before(async () => {
  fx = await createSoftHsm();
  hsm = await Pkcs11Hsm.open({ modulePath: fx.modulePath, tokenLabel: fx.tokenLabel, pin: fx.userPin, profile: loadVendorProfile('softhsm2'), maxSessions: 4 });
});

after(async () => {
  await hsm?.close();
  await fx?.cleanup();
});

test('SoftHSM2 lists the mechanisms of every spec keybridge offers', async () => {
  for (const [spec, usage] of [
    ['RSA_2048', 'SIGN_VERIFY'],
    ['RSA_4096', 'ENCRYPT_DECRYPT'],
    ['ECC_NIST_P521', 'KEY_AGREEMENT'],
    ['ECC_SECG_P256K1', 'SIGN_VERIFY'],
    ['ECC_NIST_EDWARDS25519', 'SIGN_VERIFY'],
    ['HMAC_224', 'GENERATE_VERIFY_MAC'],
  ] as const) {
    assert.equal(await hsm.missingMechanism(spec, usage), undefined, `${spec} ${usage}`);
  }
});

test('a token without a mechanism (or with too small a key range) is named in the refusal', () => {
  const table: MechanismTable = new Map([
    [pkcs11js.CKM_RSA_PKCS_KEY_PAIR_GEN, { minKeySize: 1024, maxKeySize: 2048, flags: 0 }],
    [pkcs11js.CKM_RSA_PKCS, { minKeySize: 1024, maxKeySize: 4096, flags: 0 }],
  ]);
  assert.match(missingMechanism(table, 'RSA_2048', 'SIGN_VERIFY') ?? '', /CKM_RSA_PKCS_PSS is not supported/);
  assert.match(missingMechanism(table, 'RSA_4096', 'SIGN_VERIFY') ?? '', /CKM_RSA_PKCS_KEY_PAIR_GEN .* 1024-2048, not 4096/);
  assert.match(missingMechanism(table, 'ECC_NIST_EDWARDS25519', 'SIGN_VERIFY') ?? '', /CKM_EC_EDWARDS_KEY_PAIR_GEN/);
});

test('ECDSA signatures convert between r||s and DER both ways, and bad DER is rejected', () => {
  const raw = Buffer.concat([Buffer.alloc(31, 0), Buffer.from([0x80]), Buffer.alloc(32, 0xff)]);
  const der = ecdsaRawToDer(raw);
  assert.equal(der[0], 0x30);
  assert.deepEqual(ecdsaDerToRaw(der, 32), raw);
  assert.equal(ecdsaDerToRaw(Buffer.from([0x30, 0x02, 0x02, 0x00]), 32), undefined);
  assert.equal(ecdsaDerToRaw(Buffer.concat([der, Buffer.from([0])]), 32), undefined);
});

test('an RSA signing pair: private key sensitive and non-extractable, signatures verify in Node', async () => {
  const ref = newBackingKeyRef();
  const spki = await hsm.generateKeyPair(ref, 'RSA_2048', 'SIGN_VERIFY');
  const publicKey = createPublicKey({ key: spki, format: 'der', type: 'spki' });
  assert.deepEqual(await hsm.getPublicKey(ref, 'RSA_2048'), spki);
  const digest = createHash('sha256').update('m').digest();
  const signature = await hsm.sign(ref, 'RSASSA_PKCS1_V1_5_SHA_256', digest);
  assert.ok(nodeVerify('sha256', Buffer.from('m'), publicKey, signature));
  assert.equal(await hsm.verify(ref, 'RSA_2048', 'RSASSA_PKCS1_V1_5_SHA_256', digest, signature), true);
  assert.equal(await hsm.verify(ref, 'RSA_2048', 'RSASSA_PKCS1_V1_5_SHA_256', digest, Buffer.alloc(256, 1)), false);
  assert.equal(await hsm.verify(ref, 'RSA_2048', 'RSASSA_PKCS1_V1_5_SHA_256', digest, Buffer.alloc(3, 1)), false);
  // A signing key cannot decrypt: the object only has CKA_SIGN.
  await assert.rejects(hsm.rsaDecrypt(ref, 'sha1', Buffer.alloc(256)), (err: Error) => err.name === 'HsmError');
  // Listed for reconciliation (once, by its private key) and destroyed whole.
  assert.equal((await hsm.listSymmetricKeys()).filter((listed) => listed.id === ref.id).length, 1);
  assert.equal(await hsm.destroySymmetricKey(ref), true);
  assert.equal(await hsm.destroySymmetricKey(ref), false);
  await assert.rejects(hsm.getPublicKey(ref, 'RSA_2048'), (err: Error & { code?: string }) => err.code === 'HSM_KEY_NOT_FOUND');
});

test('RSA OAEP: what Node encrypts with the public key decrypts in the HSM (SHA-1)', async () => {
  const ref = newBackingKeyRef();
  await hsm.generateKeyPair(ref, 'RSA_2048', 'ENCRYPT_DECRYPT');
  const ciphertext = await hsm.rsaEncrypt(ref, 'sha1', Buffer.from('hello'));
  assert.deepEqual(await hsm.rsaDecrypt(ref, 'sha1', ciphertext), Buffer.from('hello'));
  const bad = Buffer.from(ciphertext);
  bad[10]! ^= 1;
  await assert.rejects(hsm.rsaDecrypt(ref, 'sha1', bad), (err: Error & { code?: string }) => err.code === 'HSM_DECRYPT_FAILED');
  await hsm.destroySymmetricKey(ref);
});

test('ECDH in the HSM equals Node on the other side; HMAC keys MAC and verify', async () => {
  const ref = newBackingKeyRef();
  const spki = await hsm.generateKeyPair(ref, 'ECC_NIST_P256', 'KEY_AGREEMENT');
  const peer = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const jwk = peer.publicKey.export({ format: 'jwk' });
  const point = Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]);
  const secret = await hsm.deriveSharedSecret(ref, point, 32);
  assert.deepEqual(secret, diffieHellman({ privateKey: peer.privateKey, publicKey: createPublicKey({ key: spki, format: 'der', type: 'spki' }) }));
  await hsm.destroySymmetricKey(ref);

  const mac = newBackingKeyRef();
  await hsm.generateMacKey(mac, 'HMAC_256');
  const tag = await hsm.mac(mac, 'HMAC_SHA_256', Buffer.from('m'));
  assert.equal(tag.length, 32);
  assert.equal(await hsm.verifyMac(mac, 'HMAC_SHA_256', Buffer.from('m'), tag), true);
  assert.equal(await hsm.verifyMac(mac, 'HMAC_SHA_256', Buffer.from('n'), tag), false);
  assert.equal(await hsm.destroySymmetricKey(mac), true);
});
