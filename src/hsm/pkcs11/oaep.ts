// EME-OAEP encoding and decoding (RFC 8017 §7.1.1 step 2, §7.1.2 step 3) with MGF1 over the same
// hash and an empty label — the padding AWS's RSAES_OAEP_SHA_* and OpenSSL's defaults use — for a
// token that does RSA itself but not OAEP with this hash (SoftHSM2 2.6.1 accepts only SHA-1 in
// CKM_RSA_PKCS_OAEP's parameters). The RSA operation stays in the HSM (CKM_RSA_X_509, the private
// key never leaves it); only the padding, whose input is the caller's plaintext anyway, is done
// here.
//
// WARNING: decode() is a padding oracle if it says *why* a block is bad, or takes a different time
// for different bad blocks (Manger's attack). It inspects every byte whatever it finds, combines
// the checks without branching, and has one outcome for every failure: undefined.

import { createHash } from 'node:crypto';

export type OaepHash = 'sha1' | 'sha256';

const HASH_BYTES: Record<OaepHash, number> = { sha1: 20, sha256: 32 };

/** The largest message OAEP can carry in a `modulusBytes`-byte block. */
export function oaepCapacity(modulusBytes: number, hash: OaepHash): number {
  return modulusBytes - 2 * HASH_BYTES[hash] - 2;
}

/**
 * EM = 0x00 || maskedSeed || maskedDB for `message`, `modulusBytes` long, with `seed` (hLen random
 * bytes, from the HSM's RNG). Throws RangeError when the message does not fit (callers check first).
 */
export function oaepEncode(message: Buffer, modulusBytes: number, hash: OaepHash, seed: Buffer): Buffer {
  const hLen = HASH_BYTES[hash];
  if (seed.length !== hLen) throw new RangeError(`an OAEP seed for ${hash} is ${hLen} bytes`);
  if (message.length > oaepCapacity(modulusBytes, hash)) throw new RangeError('the message is too long for OAEP with this key');
  const db = Buffer.alloc(modulusBytes - hLen - 1);
  labelHash(hash).copy(db, 0);
  db[db.length - message.length - 1] = 0x01;
  message.copy(db, db.length - message.length);
  xorInto(db, mgf1(seed, db.length, hash));
  const maskedSeed = Buffer.from(seed);
  xorInto(maskedSeed, mgf1(db, hLen, hash));
  const em = Buffer.concat([Buffer.alloc(1), maskedSeed, db]);
  db.fill(0);
  return em;
}

/**
 * The message in EM (the raw RSA decryption, left-padded to `modulusBytes`), or undefined when EM
 * is not a valid OAEP block — one outcome for every kind of invalid block, found in time that does
 * not depend on which check failed.
 */
export function oaepDecode(em: Buffer, modulusBytes: number, hash: OaepHash): Buffer | undefined {
  const hLen = HASH_BYTES[hash];
  if (em.length > modulusBytes || modulusBytes < 2 * hLen + 2) return undefined;
  const block = em.length === modulusBytes ? Buffer.from(em) : Buffer.concat([Buffer.alloc(modulusBytes - em.length), em]);
  const seed = block.subarray(1, 1 + hLen);
  const db = block.subarray(1 + hLen);
  xorInto(seed, mgf1(db, hLen, hash));
  xorInto(db, mgf1(seed, db.length, hash));

  // bad != 0 when anything is wrong; every byte is looked at whatever was found before it.
  let bad = block[0]!;
  const expected = labelHash(hash);
  for (let i = 0; i < hLen; i++) bad |= db[i]! ^ expected[i]!;
  // After lHash: zero or more 0x00, then 0x01, then the message.
  let found = 0; // 1 once the 0x01 separator has been seen
  let separator = 0;
  for (let i = hLen; i < db.length; i++) {
    const byte = db[i]!;
    const isOne = ctEqual(byte, 0x01);
    const isZero = ctEqual(byte, 0x00);
    const first = isOne & (found ^ 1);
    separator |= first * i;
    // Before the separator, only zeros are allowed.
    bad |= (found ^ 1) & (isZero ^ 1) & (isOne ^ 1);
    found |= isOne;
  }
  bad |= found ^ 1;
  const message = bad === 0 ? Buffer.from(db.subarray(separator + 1)) : undefined;
  block.fill(0);
  return message;
}

/** 1 when a === b (bytes), else 0, without a data-dependent branch. */
function ctEqual(a: number, b: number): number {
  const x = (a ^ b) & 0xff;
  return ((x - 1) >>> 31) & 1;
}

function labelHash(hash: OaepHash): Buffer {
  return createHash(hash).update(Buffer.alloc(0)).digest();
}

/** MGF1 (RFC 8017 §B.2.1) over `hash`. */
function mgf1(seed: Buffer, length: number, hash: OaepHash): Buffer {
  const out = Buffer.alloc(length);
  const counter = Buffer.alloc(4);
  for (let offset = 0, c = 0; offset < length; c++) {
    counter.writeUInt32BE(c);
    const block = createHash(hash).update(seed).update(counter).digest();
    offset += block.copy(out, offset);
  }
  return out;
}

function xorInto(target: Buffer, mask: Buffer): void {
  for (let i = 0; i < target.length; i++) target[i] = target[i]! ^ mask[i]!;
}
