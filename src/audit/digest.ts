// Signed audit digests, like CloudTrail's log file integrity validation: every few minutes (and at
// shutdown, and before retention removes records) keybridge signs a small statement of where the
// hash chain stood, with a key pair whose private key never leaves the default key store's HSM.
//
// The digest is canonical JSON (chain.ts) of
//   { version, headSeq, headHash, previousDigestSignature, digestTime, anchor, records, keyFingerprint }
// and its signature is ECDSA P-256 over SHA-256 of exactly those UTF-8 bytes, DER-encoded, so
//   openssl dgst -sha256 -verify audit-signing-key.pem -signature <seq>.sig <seq>.json
// checks one with nothing but the public key. previousDigestSignature chains each digest to the one
// before it (null for the first), so a removed digest breaks the chain; headHash pins the chain at
// headSeq, so rewriting records and recomputing every later hash no longer goes unnoticed; anchor
// is where the chain started (retention) when the digest was made.
//
// Pure: no I/O. The signing itself is a DigestSigner (the composition root passes one backed by the
// HSM, src/services/audit-signing-key.ts).

import { createHash, createPublicKey, verify as verifySignature, type KeyObject } from 'node:crypto';
import { canonicalJson } from './chain.js';

export const DIGEST_VERSION = 1;
/** The public key, PEM (SPKI), in the data directory; written by the service, read by `audit verify`. */
export const AUDIT_SIGNING_KEY_FILE = 'audit-signing-key.pem';

export interface DigestFields {
  readonly version: number;
  /** The last record the digest covers, and its chain hash. */
  readonly headSeq: number;
  readonly headHash: string;
  /** Base64 of the previous digest's signature; null for the first digest of the trail. */
  readonly previousDigestSignature: string | null;
  /** ISO 8601, when the digest was made. */
  readonly digestTime: string;
  /** The retention anchor (last removed record) at that time, or null when nothing was removed. */
  readonly anchor: { readonly seq: number; readonly hash: string } | null;
  /** Records in the chain between the anchor and the head. */
  readonly records: number;
  /** SHA-256 (hex) of the signing key's DER SubjectPublicKeyInfo. */
  readonly keyFingerprint: string;
}

/** Signs digests. Implemented over the HSM port; AuditTrail calls it on the main thread. */
export interface DigestSigner {
  /** SHA-256 (hex) of the public key's DER SubjectPublicKeyInfo. */
  readonly keyFingerprint: string;
  /** The DER ECDSA P-256 signature over SHA-256 of `message`. Rejects when the HSM cannot sign. */
  sign(message: Buffer): Promise<Buffer>;
}

/** The exact text that is signed and stored. */
export function digestText(fields: DigestFields): string {
  return canonicalJson(fields);
}

export function publicKeyFingerprint(key: KeyObject): string {
  return createHash('sha256').update(key.export({ type: 'spki', format: 'der' })).digest('hex');
}

export function loadPublicKey(pem: string | Buffer): KeyObject {
  const key = createPublicKey(pem);
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new Error('the audit signing public key must be an EC P-256 key');
  }
  return key;
}

export function digestSignatureValid(text: string, signature: Buffer, key: KeyObject): boolean {
  try {
    return verifySignature('sha256', Buffer.from(text, 'utf8'), { key, dsaEncoding: 'der' }, signature);
  } catch {
    return false; // not DER at all
  }
}

/** The fields of a stored digest text, or undefined when it is not a digest of this version. */
export function parseDigest(text: string): DigestFields | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  const d = value as Partial<DigestFields> | null;
  const anchorOk = d?.anchor === null || (typeof d?.anchor === 'object' && Number.isSafeInteger(d.anchor?.seq) && typeof d.anchor?.hash === 'string');
  if (
    d === null || typeof d !== 'object' || d.version !== DIGEST_VERSION || !Number.isSafeInteger(d.headSeq) || typeof d.headHash !== 'string' ||
    !(d.previousDigestSignature === null || typeof d.previousDigestSignature === 'string') || typeof d.digestTime !== 'string' ||
    !anchorOk || !Number.isSafeInteger(d.records) || typeof d.keyFingerprint !== 'string'
  ) {
    return undefined;
  }
  return d as DigestFields;
}
