// keybridge's CiphertextBlob, format version 1 (docs/ciphertext-format.md is the specification).
//
//   offset  size  field
//        0     1  format version (0x01)
//        1     1  algorithm: 0x01 AES-256-GCM, 0x02 AES-256-CBC + HMAC-SHA-256 (the suite)
//        2    16  KMS key id (the UUID's 16 bytes)
//       18    32  backing key id (CKA_ID of the HSM key object that encrypted; = KeyMaterialId)
//       50    iv  IV: 12 bytes (GCM nonce) or 16 bytes (CBC IV)
//    50+iv     n  ciphertext (GCM: n = plaintext length; CBC: padded to whole 16-byte blocks)
//  50+iv+n   tag  tag: 16 bytes (GCM tag) or 32 bytes (HMAC-SHA-256)
//
// The associated data authenticated with it is the first 50 header bytes (version, algorithm, key
// id, backing key id) followed by the canonical encryption context. GCM authenticates the IV by
// itself (it is not in the AAD because some HSMs, CloudHSM, choose it during the call); the
// CBC-HMAC suite's MAC covers AAD, IV, ciphertext and the AAD's length. So changing any byte of the
// blob, or the context, makes decryption fail.

import type { SymmetricSuite } from './symmetric-suite.js';
import { KmsError } from './errors.js';

export const BLOB_VERSION = 1;
export const ALGORITHM_AES_256_GCM = 1;
export const ALGORITHM_AES_256_CBC_HMAC_SHA_256 = 2;
export const IV_BYTES = 12;
export const TAG_BYTES = 16;
export const CBC_IV_BYTES = 16;
export const HMAC_TAG_BYTES = 32;
export const CBC_BLOCK_BYTES = 16;
export const BACKING_KEY_ID_BYTES = 32;
/** Version, algorithm, key id and backing key id: the part of the header that is AAD. */
export const AAD_PREFIX_BYTES = 2 + 16 + BACKING_KEY_ID_BYTES;
/** The GCM header (AAD prefix and IV). */
export const HEADER_BYTES = AAD_PREFIX_BYTES + IV_BYTES;

interface SuiteLayout {
  readonly algorithm: number;
  readonly ivBytes: number;
  readonly tagBytes: number;
  /** CBC ciphertexts are whole blocks, at least one (PKCS#7 always pads). */
  readonly block: number;
}

const LAYOUT: Readonly<Record<SymmetricSuite, SuiteLayout>> = {
  AES_256_GCM: { algorithm: ALGORITHM_AES_256_GCM, ivBytes: IV_BYTES, tagBytes: TAG_BYTES, block: 1 },
  AES_256_CBC_HMAC_SHA_256: { algorithm: ALGORITHM_AES_256_CBC_HMAC_SHA_256, ivBytes: CBC_IV_BYTES, tagBytes: HMAC_TAG_BYTES, block: CBC_BLOCK_BYTES },
};

const SUITE_OF_ALGORITHM: ReadonlyMap<number, SymmetricSuite> = new Map(
  (Object.entries(LAYOUT) as Array<[SymmetricSuite, SuiteLayout]>).map(([suite, layout]) => [layout.algorithm, suite]),
);

export interface ParsedBlob {
  readonly suite: SymmetricSuite;
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
export function encodeAadPrefix(keyId: string, backingKeyId: string, suite: SymmetricSuite = 'AES_256_GCM'): Buffer {
  if (!/^[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}$/.test(keyId) || !/^[0-9a-f]{64}$/.test(backingKeyId)) throw new Error('malformed key id or backing key id');
  const prefix = Buffer.allocUnsafe(AAD_PREFIX_BYTES);
  prefix[0] = BLOB_VERSION;
  prefix[1] = LAYOUT[suite].algorithm;
  Buffer.from(keyId.replace(/-/g, ''), 'hex').copy(prefix, 2);
  Buffer.from(backingKeyId, 'hex').copy(prefix, 18);
  return prefix;
}

/** aadPrefix ‖ iv ‖ ciphertext ‖ tag, with the sizes the prefix's suite prescribes. */
export function assembleBlob(aadPrefix: Buffer, iv: Buffer, ciphertext: Buffer, tag: Buffer): Buffer {
  const suite = SUITE_OF_ALGORITHM.get(aadPrefix[1] ?? -1);
  if (suite === undefined) throw new Error('unknown algorithm in the AAD prefix');
  const layout = LAYOUT[suite];
  if (iv.length !== layout.ivBytes || tag.length !== layout.tagBytes || ciphertext.length % layout.block !== 0) {
    throw new Error(`${suite} needs a ${layout.ivBytes}-byte IV, a ${layout.tagBytes}-byte tag and whole ${layout.block}-byte blocks`);
  }
  return Buffer.concat([aadPrefix, iv, ciphertext, tag]);
}

/** Throws InvalidCiphertextException for anything that is not a well-formed version-1 blob. */
export function parseBlob(blob: Buffer): ParsedBlob {
  const suite = blob[0] === BLOB_VERSION ? SUITE_OF_ALGORITHM.get(blob[1] ?? -1) : undefined;
  if (suite === undefined) throw invalidCiphertext();
  const { ivBytes, tagBytes, block } = LAYOUT[suite];
  const header = AAD_PREFIX_BYTES + ivBytes;
  const ciphertextBytes = blob.length - header - tagBytes;
  // GCM: at least one byte (Encrypt takes 1–4096); CBC: at least one whole block.
  if (ciphertextBytes < block || ciphertextBytes % block !== 0) throw invalidCiphertext();
  const hex = blob.subarray(2, 18).toString('hex');
  const keyId = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  return {
    suite,
    keyId,
    backingKeyId: blob.subarray(18, 50).toString('hex'),
    aadPrefix: blob.subarray(0, AAD_PREFIX_BYTES),
    iv: blob.subarray(AAD_PREFIX_BYTES, header),
    ciphertext: blob.subarray(header, blob.length - tagBytes),
    tag: blob.subarray(blob.length - tagBytes),
  };
}

export function invalidCiphertext(): KmsError {
  return new KmsError('InvalidCiphertextException', 'The ciphertext is invalid, was altered, or does not match the encryption context.');
}
