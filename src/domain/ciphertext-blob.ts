// keybridge's CiphertextBlob, format version 1 (docs/ciphertext-format.md is the specification).
//
//   offset  size  field
//        0     1  format version (0x01)
//        1     1  algorithm (0x01 = AES-256-GCM, KMS's SYMMETRIC_DEFAULT)
//        2    16  KMS key id (the UUID's 16 bytes)
//       18    32  backing key id (CKA_ID of the HSM key object that encrypted; = KeyMaterialId)
//       50    12  GCM IV
//       62     n  ciphertext (n = plaintext length)
//     62+n    16  GCM tag
//
// The AAD given to the HSM is the first 50 header bytes (version, algorithm, key id, backing key id)
// followed by the canonical encryption context. The IV is not in the AAD because some HSMs
// (CloudHSM) choose it themselves during the call; GCM authenticates it anyway. So changing any
// header byte, the context, the ciphertext or the tag makes decryption fail.

import { KmsError } from './errors.js';

export const BLOB_VERSION = 1;
export const ALGORITHM_AES_256_GCM = 1;
export const IV_BYTES = 12;
export const TAG_BYTES = 16;
export const BACKING_KEY_ID_BYTES = 32;
/** Version, algorithm, key id and backing key id: the part of the header that is AAD. */
export const AAD_PREFIX_BYTES = 2 + 16 + BACKING_KEY_ID_BYTES;
export const HEADER_BYTES = AAD_PREFIX_BYTES + IV_BYTES;

export interface ParsedBlob {
  readonly keyId: string;
  /** Hex, 64 characters. */
  readonly backingKeyId: string;
  /** Header bytes 0–49, the first part of the AAD. */
  readonly aadPrefix: Buffer;
  readonly iv: Buffer;
  readonly ciphertext: Buffer;
  readonly tag: Buffer;
}

/** The AAD prefix for a key's backing key: what Encrypt binds before it knows the IV. */
export function encodeAadPrefix(keyId: string, backingKeyId: string): Buffer {
  const prefix = Buffer.allocUnsafe(AAD_PREFIX_BYTES);
  prefix[0] = BLOB_VERSION;
  prefix[1] = ALGORITHM_AES_256_GCM;
  const id = Buffer.from(keyId.replace(/-/g, ''), 'hex');
  const backing = Buffer.from(backingKeyId, 'hex');
  if (!/^[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}$/.test(keyId) || !/^[0-9a-f]{64}$/.test(backingKeyId)) throw new Error('malformed key id or backing key id');
  id.copy(prefix, 2);
  backing.copy(prefix, 18);
  return prefix;
}

/** aadPrefix ‖ iv ‖ ciphertext ‖ tag */
export function assembleBlob(aadPrefix: Buffer, iv: Buffer, ciphertext: Buffer, tag: Buffer): Buffer {
  if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) throw new Error('GCM IV must be 12 bytes and tag 16 bytes');
  return Buffer.concat([aadPrefix, iv, ciphertext, tag]);
}

/** Throws InvalidCiphertextException for anything that is not a well-formed version-1 blob. */
export function parseBlob(blob: Buffer): ParsedBlob {
  if (blob.length < HEADER_BYTES + TAG_BYTES + 1 || blob[0] !== BLOB_VERSION || blob[1] !== ALGORITHM_AES_256_GCM) {
    throw invalidCiphertext();
  }
  const hex = blob.subarray(2, 18).toString('hex');
  const keyId = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  return {
    keyId,
    backingKeyId: blob.subarray(18, 50).toString('hex'),
    aadPrefix: blob.subarray(0, AAD_PREFIX_BYTES),
    iv: blob.subarray(AAD_PREFIX_BYTES, HEADER_BYTES),
    ciphertext: blob.subarray(HEADER_BYTES, blob.length - TAG_BYTES),
    tag: blob.subarray(blob.length - TAG_BYTES),
  };
}

export function invalidCiphertext(): KmsError {
  return new KmsError('InvalidCiphertextException', 'The ciphertext is invalid, was altered, or does not match the encryption context.');
}
