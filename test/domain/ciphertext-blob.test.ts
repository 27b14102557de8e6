// The version-1 CiphertextBlob layout, byte by byte (docs/ciphertext-format.md), and parseBlob's
// refusal of anything that is not a well-formed version-1 blob.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  AAD_PREFIX_BYTES,
  ALGORITHM_AES_256_CBC_HMAC_SHA_256,
  ALGORITHM_AES_256_GCM,
  assembleBlob,
  BACKING_KEY_ID_BYTES,
  BLOB_VERSION,
  encodeAadPrefix,
  HEADER_BYTES,
  invalidCiphertext,
  IV_BYTES,
  parseBlob,
  TAG_BYTES,
} from '../../src/domain/ciphertext-blob.js';
import { KmsError } from '../../src/domain/errors.js';

const KEY_ID = '1234abcd-12ab-34cd-56ef-1234567890ab';
const KEY_ID_HEX = '1234abcd12ab34cd56ef1234567890ab';
// 32 distinct bytes 0xa0..0xbf, so an off-by-one in any offset shows.
const BACKING = Buffer.from(Array.from({ length: 32 }, (_, i) => 0xa0 + i));
const BACKING_HEX = BACKING.toString('hex');
const IV = Buffer.from(Array.from({ length: 12 }, (_, i) => 0x10 + i));
const TAG = Buffer.from(Array.from({ length: 16 }, (_, i) => 0xe0 + i));
const INVALID_MESSAGE = 'The ciphertext is invalid, was altered, or does not match the encryption context.';

function ciphertextOf(n: number): Buffer {
  return Buffer.from(Array.from({ length: n }, (_, i) => (0x40 + i) % 256));
}

function build(n: number): Buffer {
  return assembleBlob(encodeAadPrefix(KEY_ID, BACKING_HEX), IV, ciphertextOf(n), TAG);
}

function assertInvalidCiphertext(blob: Buffer): void {
  assert.throws(
    () => parseBlob(blob),
    (err: unknown) => {
      assert.ok(err instanceof KmsError);
      assert.equal(err.kmsName, 'InvalidCiphertextException');
      assert.equal(err.status, 400);
      assert.equal(err.message, INVALID_MESSAGE);
      return true;
    },
  );
}

test('the layout constants match the specification', () => {
  assert.equal(BLOB_VERSION, 0x01);
  assert.equal(ALGORITHM_AES_256_GCM, 0x01);
  assert.equal(BACKING_KEY_ID_BYTES, 32);
  assert.equal(IV_BYTES, 12);
  assert.equal(TAG_BYTES, 16);
  assert.equal(AAD_PREFIX_BYTES, 50);
  assert.equal(HEADER_BYTES, 62);
});

test('encodeAadPrefix: version, algorithm, 16 key id bytes, 32 backing key id bytes', () => {
  const prefix = encodeAadPrefix(KEY_ID, BACKING_HEX);
  assert.equal(prefix.length, 50);
  assert.equal(prefix.toString('hex'), `0101${KEY_ID_HEX}${BACKING_HEX}`);
});

test('every field sits at the offset docs/ciphertext-format.md gives, total 78 + n', () => {
  for (const n of [1, 32, 4096]) {
    const blob = build(n);
    assert.equal(blob.length, 78 + n, `n=${n}`);
    assert.equal(blob[0], 0x01, 'offset 0: format version');
    assert.equal(blob[1], 0x01, 'offset 1: algorithm AES-256-GCM');
    assert.equal(blob.subarray(2, 18).toString('hex'), KEY_ID_HEX, 'offset 2..18: key id');
    assert.deepEqual(blob.subarray(18, 50), BACKING, 'offset 18..50: backing key id');
    assert.deepEqual(blob.subarray(50, 62), IV, 'offset 50..62: IV');
    assert.deepEqual(blob.subarray(62, 62 + n), ciphertextOf(n), 'offset 62..62+n: ciphertext');
    assert.deepEqual(blob.subarray(62 + n, 78 + n), TAG, 'offset 62+n..78+n: tag');
  }
  // The sizes the specification quotes.
  assert.equal(build(32).length, 110);
  assert.equal(build(4096).length, 4174);
});

test('parseBlob round trip returns every field', () => {
  for (const n of [1, 32, 4096]) {
    const blob = build(n);
    const parsed = parseBlob(blob);
    assert.equal(parsed.keyId, KEY_ID);
    assert.equal(parsed.backingKeyId, BACKING_HEX);
    assert.equal(parsed.backingKeyId.length, 64);
    assert.deepEqual(parsed.aadPrefix, encodeAadPrefix(KEY_ID, BACKING_HEX));
    assert.deepEqual(parsed.aadPrefix, blob.subarray(0, 50));
    assert.deepEqual(parsed.iv, IV);
    assert.deepEqual(parsed.ciphertext, ciphertextOf(n));
    assert.deepEqual(parsed.tag, TAG);
  }
});

test('parseBlob gives the key id as a lower-case dashed UUID', () => {
  const keyId = 'ffffffff-0000-4aaa-8bbb-0123456789ef';
  const blob = assembleBlob(encodeAadPrefix(keyId, 'ff'.repeat(32)), IV, ciphertextOf(3), TAG);
  const parsed = parseBlob(blob);
  assert.equal(parsed.keyId, keyId);
  assert.equal(parsed.backingKeyId, 'ff'.repeat(32));
});

test('exactly the minimum length (79 bytes: one ciphertext byte) parses', () => {
  const blob = build(1);
  assert.equal(blob.length, 79);
  const parsed = parseBlob(blob);
  assert.deepEqual(parsed.ciphertext, Buffer.from([0x40]));
  assert.deepEqual(parsed.tag, TAG);
});

test('too short → InvalidCiphertextException', () => {
  const full = build(1);
  // 78 bytes is a header and a tag with no ciphertext; everything below too.
  for (const length of [78, 77, 62, 50, 2, 1, 0]) assertInvalidCiphertext(full.subarray(0, length));
});

test('wrong version byte → InvalidCiphertextException', () => {
  for (const version of [0x00, 0x02, 0xff]) {
    const blob = Buffer.from(build(32));
    blob[0] = version;
    assertInvalidCiphertext(blob);
  }
});

test('wrong algorithm byte → InvalidCiphertextException', () => {
  for (const algorithm of [0x00, 0x02, 0xff]) {
    const blob = Buffer.from(build(32));
    blob[1] = algorithm;
    assertInvalidCiphertext(blob);
  }
});

test('invalidCiphertext() is the InvalidCiphertextException parseBlob throws', () => {
  const err = invalidCiphertext();
  assert.equal(err.kmsName, 'InvalidCiphertextException');
  assert.equal(err.message, INVALID_MESSAGE);
  assert.equal(err.status, 400);
});

test('encodeAadPrefix rejects malformed key ids and backing key ids', () => {
  const good = BACKING_HEX;
  const cases: Array<[string, string]> = [
    ['', good],
    ['1234abcd-12ab-34cd-56ef-1234567890a', good], // 15.5 bytes
    ['1234abcd-12ab-34cd-56ef-1234567890abcd', good], // 17 bytes
    ['1234abcd-12ab-34cd-56ef-1234567890zz', good], // not hex
    ['1234abcd-12ab-34cd-56ef-1234567890abzz', good], // trailing garbage after 16 bytes
    ['1234abcd-12ab-34cd-56ef-1234567890abf', good], // trailing odd nibble
    ['12-34abcd12ab34cd56ef1234567890ab', good], // dashes in the wrong places
    ['not-a-key-id', good],
    [KEY_ID, ''],
    [KEY_ID, 'ab'.repeat(31)], // 31 bytes
    [KEY_ID, 'ab'.repeat(33)], // 33 bytes
    [KEY_ID, `${'ab'.repeat(32)}c`], // 65 hex digits
    [KEY_ID, `${'ab'.repeat(32)}zz`], // trailing garbage after 32 bytes
    [KEY_ID, `${'ab'.repeat(31)}zz`], // not hex
  ];
  for (const [keyId, backing] of cases) {
    assert.throws(() => encodeAadPrefix(keyId, backing), { message: 'malformed key id or backing key id' }, `${keyId} / ${backing}`);
  }
});

test('assembleBlob rejects an IV other than 12 bytes or a tag other than 16 bytes', () => {
  const prefix = encodeAadPrefix(KEY_ID, BACKING_HEX);
  const message = /^AES_256_GCM needs a 12-byte IV, a 16-byte tag/;
  assert.throws(() => assembleBlob(prefix, Buffer.alloc(11), ciphertextOf(1), TAG), { message });
  assert.throws(() => assembleBlob(prefix, Buffer.alloc(16), ciphertextOf(1), TAG), { message });
  assert.throws(() => assembleBlob(prefix, IV, ciphertextOf(1), Buffer.alloc(15)), { message });
  assert.throws(() => assembleBlob(prefix, IV, ciphertextOf(1), Buffer.alloc(12)), { message });
});

// --- The AES_256_CBC_HMAC_SHA_256 suite (algorithm 0x02): 16-byte IV, whole blocks, 32-byte HMAC.

const CBC_IV = Buffer.from(Array.from({ length: 16 }, (_, i) => 0x20 + i));
const HMAC = Buffer.from(Array.from({ length: 32 }, (_, i) => 0xc0 + i));

function buildCbc(blocks: number): Buffer {
  return assembleBlob(encodeAadPrefix(KEY_ID, BACKING_HEX, 'AES_256_CBC_HMAC_SHA_256'), CBC_IV, ciphertextOf(16 * blocks), HMAC);
}

test('CBC-HMAC blobs: every field at the offset docs/ciphertext-format.md gives, total 98 + n', () => {
  assert.equal(ALGORITHM_AES_256_CBC_HMAC_SHA_256, 0x02);
  for (const blocks of [1, 3, 257]) {
    const n = 16 * blocks;
    const blob = buildCbc(blocks);
    assert.equal(blob.length, 98 + n, `n=${n}`);
    assert.equal(blob[0], 0x01, 'offset 0: format version');
    assert.equal(blob[1], 0x02, 'offset 1: algorithm AES-256-CBC + HMAC-SHA-256');
    assert.equal(blob.subarray(2, 18).toString('hex'), KEY_ID_HEX);
    assert.deepEqual(blob.subarray(18, 50), BACKING);
    assert.deepEqual(blob.subarray(50, 66), CBC_IV, 'offset 50..66: IV');
    assert.deepEqual(blob.subarray(66, 66 + n), ciphertextOf(n), 'offset 66..66+n: ciphertext');
    assert.deepEqual(blob.subarray(66 + n), HMAC, 'last 32 bytes: HMAC');
    const parsed = parseBlob(blob);
    assert.equal(parsed.suite, 'AES_256_CBC_HMAC_SHA_256');
    assert.equal(parsed.keyId, KEY_ID);
    assert.equal(parsed.backingKeyId, BACKING_HEX);
    assert.deepEqual(parsed.aadPrefix, blob.subarray(0, 50));
    assert.deepEqual(parsed.iv, CBC_IV);
    assert.deepEqual(parsed.ciphertext, ciphertextOf(n));
    assert.deepEqual(parsed.tag, HMAC);
  }
  // A 32-byte data key pads to 48 bytes; the largest Encrypt (4096 bytes) to 4112, well within 6144.
  assert.equal(buildCbc(3).length, 146);
  assert.equal(buildCbc(257).length, 4210);
  assert.equal(parseBlob(build(32)).suite, 'AES_256_GCM');
});

test('CBC-HMAC blobs that are not whole blocks, or shorter than one block, are InvalidCiphertextException', () => {
  const blob = buildCbc(2);
  for (const cut of [1, 15, 16 + 32]) assertInvalidCiphertext(blob.subarray(0, blob.length - cut));
  assertInvalidCiphertext(Buffer.concat([blob, Buffer.alloc(1)]));
  // The header, IV and tag alone: no ciphertext block.
  assertInvalidCiphertext(Buffer.concat([blob.subarray(0, 66), HMAC]));
  // The same bytes read as the other suite do not parse either.
  const relabelled = Buffer.from(buildCbc(1));
  relabelled[1] = ALGORITHM_AES_256_GCM;
  assert.equal(parseBlob(relabelled).suite, 'AES_256_GCM', 'a relabelled blob parses as GCM; the HSM then fails its tag');
  const gcm = Buffer.from(build(31));
  gcm[1] = ALGORITHM_AES_256_CBC_HMAC_SHA_256;
  assertInvalidCiphertext(gcm);
});

test('assembleBlob holds the CBC-HMAC suite to its sizes', () => {
  const prefix = encodeAadPrefix(KEY_ID, BACKING_HEX, 'AES_256_CBC_HMAC_SHA_256');
  const message = /^AES_256_CBC_HMAC_SHA_256 needs a 16-byte IV, a 32-byte tag and whole 16-byte blocks/;
  assert.throws(() => assembleBlob(prefix, IV, ciphertextOf(16), HMAC), { message });
  assert.throws(() => assembleBlob(prefix, CBC_IV, ciphertextOf(15), HMAC), { message });
  assert.throws(() => assembleBlob(prefix, CBC_IV, ciphertextOf(16), TAG), { message });
});
