// The encryption context bound to a ciphertext as AES-GCM additional authenticated data.
//
// Canonical form, so the same map always gives the same bytes whatever order the client sent:
// entries sorted by the UTF-8 bytes of their keys, then
//   u16 count ‖ for each entry: u16 keyLength ‖ key ‖ u16 valueLength ‖ value   (big-endian)
// An absent context and an empty one are the same: a count of zero.

import { KmsError } from './errors.js';

export type EncryptionContext = Readonly<Record<string, string>>;

/** AWS sets no documented limit; XKS proxies must accept 8 KiB of AAD, so KMS stays below it. */
export const MAX_ENCRYPTION_CONTEXT_BYTES = 8192;

export function canonicalEncryptionContext(context: EncryptionContext | undefined, member = 'EncryptionContext'): Buffer {
  const entries = Object.entries(context ?? {}).map(([k, v]) => [Buffer.from(k, 'utf8'), Buffer.from(v, 'utf8')] as const);
  entries.sort((a, b) => Buffer.compare(a[0], b[0]));
  let size = 2;
  for (const [k, v] of entries) size += 4 + k.length + v.length;
  if (size > MAX_ENCRYPTION_CONTEXT_BYTES) {
    throw new KmsError(
      'ValidationException',
      `${member} is ${size} bytes when serialized; the limit is ${MAX_ENCRYPTION_CONTEXT_BYTES} bytes.`,
    );
  }
  const out = Buffer.allocUnsafe(size);
  let at = out.writeUInt16BE(entries.length, 0);
  for (const [k, v] of entries) {
    at = out.writeUInt16BE(k.length, at);
    at += k.copy(out, at);
    at = out.writeUInt16BE(v.length, at);
    at += v.copy(out, at);
  }
  return out;
}
