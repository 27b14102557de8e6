// The hash chain that makes the audit trail tamper-evident.
//
// Record n is stored with seq n, prevHash (the hash of record n-1, or GENESIS_HASH for the first
// record ever written) and
//
//     hash = SHA-256( "<seq>\n<prevHash>\n<canonical JSON of the record>" )   (lower-case hex)
//
// Because each hash covers its seq and its predecessor's hash, editing a record breaks its own
// hash, deleting one leaves a seq gap (or, if the rest are renumbered, a prevHash that matches no
// record), and swapping two breaks the prevHash links. Only the newest records can be cut off
// without a trace inside the file: compare `verify`'s head (seq + hash) with one kept elsewhere.
//
// Canonical JSON: object keys sorted by UTF-16 code units, no whitespace, JSON.stringify's escaping
// and number format. The stored text keeps AWS's field order; hashing re-canonicalises it, so the
// hash depends on the record's content, not on how it was serialised.

import { createHash } from 'node:crypto';

export const GENESIS_HASH = '0'.repeat(64);

export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    const text = JSON.stringify(value);
    if (text === undefined) throw new TypeError(`cannot canonicalise a ${typeof value}`);
    return text;
  }
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  const entries = Object.keys(value)
    .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
  return `{${entries.join(',')}}`;
}

export function linkHash(seq: number, prevHash: string, canonicalRecord: string): string {
  return createHash('sha256').update(`${seq}\n${prevHash}\n${canonicalRecord}`).digest('hex');
}

/** The hash a stored row should carry, from its stored text. Throws when the text is not JSON. */
export function hashOfStored(seq: number, prevHash: string, recordText: string): string {
  return linkHash(seq, prevHash, canonicalJson(JSON.parse(recordText)));
}

export interface ChainLink {
  readonly seq: number;
  readonly prevHash: string;
  readonly hash: string;
}

/** Links `records` onto a chain whose last link is `head` (seq 0 and GENESIS_HASH when empty). */
export function chainRecords(head: { seq: number; hash: string }, recordTexts: readonly string[]): ChainLink[] {
  let { seq, hash } = head;
  return recordTexts.map((text) => {
    const prevHash = hash;
    seq += 1;
    hash = hashOfStored(seq, prevHash, text);
    return { seq, prevHash, hash };
  });
}
