// The byte-level rules of the XKS proxy's AES-GCM (spec "Encrypt" and Appendix C).

import { createHash } from 'node:crypto';

/**
 * The AAD the HSM authenticates: u16be(len(aad)) ‖ aad ‖ u8(len(ciphertextMetadata)) ‖
 * ciphertextMetadata, absent parts counting as length 0. The lengths keep an empty AAD with
 * metadata from decrypting as that metadata passed as AAD (the spec's NOTE).
 */
export function hsmAad(aad: Buffer | undefined, ciphertextMetadata: Buffer | undefined): Buffer {
  const a = aad ?? Buffer.alloc(0);
  const m = ciphertextMetadata ?? Buffer.alloc(0);
  const out = Buffer.alloc(2 + a.length + 1 + m.length);
  out.writeUInt16BE(a.length, 0);
  a.copy(out, 2);
  out.writeUInt8(m.length, 2 + a.length);
  m.copy(out, 3 + a.length);
  return out;
}

/**
 * The ciphertext data integrity value: base64(SHA-256(aad ‖ ciphertextMetadata ‖ iv ‖ ciphertext
 * ‖ tag)) over the decoded bytes, absent parts empty, no lengths (Appendix C).
 */
export function ciphertextDataIntegrityValue(parts: {
  aad?: Buffer | undefined;
  ciphertextMetadata?: Buffer | undefined;
  iv: Buffer;
  ciphertext: Buffer;
  tag: Buffer;
}): string {
  const hash = createHash('sha256');
  if (parts.aad) hash.update(parts.aad);
  if (parts.ciphertextMetadata) hash.update(parts.ciphertextMetadata);
  return hash.update(parts.iv).update(parts.ciphertext).update(parts.tag).digest('base64');
}
