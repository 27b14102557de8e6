// The host-side OAEP padding (src/hsm/pkcs11/oaep.ts) against Node's OpenSSL: what we encode,
// OpenSSL decrypts; what OpenSSL encrypts, we decode (after a raw RSA decryption, which the HSM
// does in keybridge); and every kind of bad block gets the same single outcome.

import assert from 'node:assert/strict';
import { constants, generateKeyPairSync, privateDecrypt, publicEncrypt, randomBytes } from 'node:crypto';
import { test } from 'node:test';

import { oaepCapacity, oaepDecode, oaepEncode, type OaepHash } from '../../src/hsm/pkcs11/oaep.js';

const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const K = 256;

/** RSA without padding, the raw operation CKM_RSA_X_509 gives. */
function rawPublic(em: Buffer): Buffer {
  return publicEncrypt({ key: publicKey, padding: constants.RSA_NO_PADDING }, em);
}
function rawPrivate(c: Buffer): Buffer {
  return privateDecrypt({ key: privateKey, padding: constants.RSA_NO_PADDING }, c);
}

for (const hash of ['sha1', 'sha256'] as const satisfies readonly OaepHash[]) {
  const hLen = hash === 'sha1' ? 20 : 32;

  test(`${hash}: capacity is k - 2·hLen - 2, and OpenSSL decrypts what oaepEncode pads (empty to full)`, () => {
    assert.equal(oaepCapacity(K, hash), K - 2 * hLen - 2);
    for (const length of [0, 1, 17, oaepCapacity(K, hash)]) {
      const message = randomBytes(length);
      const ciphertext = rawPublic(oaepEncode(message, K, hash, randomBytes(hLen)));
      assert.deepEqual(privateDecrypt({ key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash }, ciphertext), message);
    }
    assert.throws(() => oaepEncode(Buffer.alloc(oaepCapacity(K, hash) + 1), K, hash, randomBytes(hLen)), RangeError);
    assert.throws(() => oaepEncode(Buffer.alloc(1), K, hash, randomBytes(hLen + 1)), RangeError);
  });

  test(`${hash}: oaepDecode recovers what OpenSSL encrypts, also with leading zero bytes of EM cut`, () => {
    for (const length of [0, 1, 64, oaepCapacity(K, hash)]) {
      const message = randomBytes(length);
      const em = rawPrivate(publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash }, message));
      assert.equal(em[0], 0);
      assert.deepEqual(oaepDecode(em, K, hash), message);
      assert.deepEqual(oaepDecode(em.subarray(1), K, hash), message, 'a token that drops the leading zero');
    }
  });

  test(`${hash}: every bad block is undefined — wrong first byte, label hash, padding, no separator, other hash, too long`, () => {
    const message = Buffer.from('attack at dawn');
    const em = rawPrivate(publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash }, message));
    const cases: Buffer[] = [];
    const firstByte = Buffer.from(em);
    firstByte[0] = 1;
    cases.push(firstByte);
    for (const at of [1, hLen, hLen + 1, 2 * hLen + 5, K - 1]) {
      const flipped = Buffer.from(em);
      flipped[at] = flipped[at]! ^ 0x80;
      cases.push(flipped);
    }
    cases.push(Buffer.alloc(K), Buffer.alloc(K, 0xff), Buffer.alloc(K + 1), randomBytes(K));
    const other: OaepHash = hash === 'sha1' ? 'sha256' : 'sha1';
    cases.push(rawPrivate(publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: other }, message)));
    for (const [at, bad] of cases.entries()) assert.equal(oaepDecode(bad, K, hash), undefined, `case ${at}`);
    // The edge the loop must get right: the separator as the very last byte (an empty message).
    assert.equal(oaepDecode(rawPrivate(rawPublic(oaepEncode(Buffer.alloc(0), K, hash, Buffer.alloc(hLen)))), K, hash)?.length, 0);
  });
}
