// The CiphertextBlob of a KMS key in an external key store, format version 2 (docs/ciphertext-format.md).
// Double encryption, as AWS KMS does it: the plaintext is first sealed under the key's own AES key
// in keybridge's HSM (an ordinary version-1 blob, "inner"), and the inner blob is then encrypted by
// the external key store's proxy under the external key. Neither side alone can decrypt.
//
//   offset  size  field
//        0     1  format version (0x02)
//        1     1  algorithm: 0x03 = XKS (proxy AES-GCM over an inner version-1 blob)
//        2    16  KMS key id (the UUID's 16 bytes)
//       18     1  IV length the proxy returned (12 or 16)
//       19     1  ciphertextMetadata length the proxy returned (0–20)
//       20    iv  the proxy's IV
//    20+iv    md  the proxy's ciphertextMetadata
// 20+iv+md    16  the proxy's authentication tag
// 36+iv+md     n  the proxy's ciphertext of the inner blob (n = its length)
//
// The AAD the proxy authenticates is bytes 0–17 (version, algorithm, key id) followed by the
// canonical encryption context; the inner blob binds the context again under keybridge's key.

import { invalidCiphertext, parseBlob } from './ciphertext-blob.js';

export const XKS_BLOB_VERSION = 2;
export const ALGORITHM_XKS = 3;
const PREFIX_BYTES = 18;
const FIXED_BYTES = 20;
const TAG_BYTES = 16;
const MAX_METADATA_BYTES = 20;

export interface XksBlobParts {
  readonly iv: Buffer;
  readonly ciphertextMetadata: Buffer | undefined;
  readonly tag: Buffer;
  readonly ciphertext: Buffer;
}

export interface ParsedXksBlob extends XksBlobParts {
  readonly keyId: string;
  /** Bytes 0–17: the start of the AAD sent to the proxy. */
  readonly aadPrefix: Buffer;
}

/** Whether a blob is in this format (by its first two bytes); the rest is checked by parseXksBlob. */
export function isXksBlob(blob: Buffer): boolean {
  return blob[0] === XKS_BLOB_VERSION && blob[1] === ALGORITHM_XKS;
}

export function encodeXksAadPrefix(keyId: string): Buffer {
  if (!/^[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}$/.test(keyId)) throw new Error('malformed key id');
  return Buffer.concat([Buffer.from([XKS_BLOB_VERSION, ALGORITHM_XKS]), Buffer.from(keyId.replace(/-/g, ''), 'hex')]);
}

export function assembleXksBlob(aadPrefix: Buffer, parts: XksBlobParts): Buffer {
  const md = parts.ciphertextMetadata ?? Buffer.alloc(0);
  if ((parts.iv.length !== 12 && parts.iv.length !== 16) || parts.tag.length !== TAG_BYTES || md.length > MAX_METADATA_BYTES) {
    throw new Error('the proxy returned an IV, tag or ciphertext metadata of the wrong size');
  }
  return Buffer.concat([aadPrefix, Buffer.from([parts.iv.length, md.length]), parts.iv, md, parts.tag, parts.ciphertext]);
}

/** The KMS key id a blob of either format names; InvalidCiphertextException when it is malformed. */
export function keyIdOfBlob(blob: Buffer): string {
  return isXksBlob(blob) ? parseXksBlob(blob).keyId : parseBlob(blob).keyId;
}

/** Throws InvalidCiphertextException for anything that is not a well-formed version-2 blob. */
export function parseXksBlob(blob: Buffer): ParsedXksBlob {
  if (!isXksBlob(blob) || blob.length < FIXED_BYTES) throw invalidCiphertext();
  const ivBytes = blob[18]!;
  const mdBytes = blob[19]!;
  if ((ivBytes !== 12 && ivBytes !== 16) || mdBytes > MAX_METADATA_BYTES) throw invalidCiphertext();
  const ciphertextAt = FIXED_BYTES + ivBytes + mdBytes + TAG_BYTES;
  if (blob.length <= ciphertextAt) throw invalidCiphertext();
  const hex = blob.subarray(2, 18).toString('hex');
  return {
    keyId: `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`,
    aadPrefix: blob.subarray(0, PREFIX_BYTES),
    iv: blob.subarray(FIXED_BYTES, FIXED_BYTES + ivBytes),
    ciphertextMetadata: mdBytes === 0 ? undefined : blob.subarray(FIXED_BYTES + ivBytes, FIXED_BYTES + ivBytes + mdBytes),
    tag: blob.subarray(FIXED_BYTES + ivBytes + mdBytes, ciphertextAt),
    ciphertext: blob.subarray(ciphertextAt),
  };
}
