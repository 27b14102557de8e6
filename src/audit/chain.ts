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

/**
 * WARNING: iterative on purpose (an explicit stack, no recursion): records carry caller-supplied
 * structures, and a recursive walk of a deeply nested one overflows the call stack. The output is
 * byte-identical to the recursive definition this replaced (test/audit/canonical-json.test.ts
 * compares them), because every existing trail's hashes depend on it:
 *   primitive → JSON.stringify (undefined, functions and symbols throw TypeError);
 *   array → "[" elements joined by "," "]", an undefined element written as null and a hole as
 *           nothing (Array.prototype.map skips holes and join writes them empty);
 *   object → "{" own enumerable keys whose value is not undefined, sorted by UTF-16 code units,
 *           as "key":value joined by "," "}" (toJSON is not consulted).
 * A cycle throws TypeError (the recursive version overflowed).
 */
export function canonicalJson(value: unknown): string {
  const out: string[] = [];
  const stack: Frame[] = [];
  const open = new Set<object>();

  const enter = (v: unknown): void => {
    if (v === null || typeof v !== 'object') {
      const text = JSON.stringify(v);
      if (text === undefined) throw new TypeError(`cannot canonicalise a ${typeof v}`);
      out.push(text);
      return;
    }
    if (open.has(v)) throw new TypeError('cannot canonicalise a circular structure');
    open.add(v);
    if (Array.isArray(v)) {
      out.push('[');
      stack.push({ container: v, array: v, length: v.length, keys: undefined, values: undefined, next: 0 });
      return;
    }
    const record = v as Record<string, unknown>;
    const keys = Object.keys(record).filter((k) => record[k] !== undefined).sort();
    out.push('{');
    stack.push({ container: v, array: undefined, length: keys.length, keys, values: keys.map((k) => record[k]), next: 0 });
  };

  enter(value);
  while (stack.length > 0) {
    const frame = stack[stack.length - 1]!;
    if (frame.next === frame.length) {
      out.push(frame.array ? ']' : '}');
      open.delete(frame.container);
      stack.pop();
      continue;
    }
    const i = frame.next++;
    if (i > 0) out.push(',');
    if (frame.keys) {
      out.push(`${JSON.stringify(frame.keys[i])}:`);
      enter(frame.values![i]);
    } else if (i in frame.array!) {
      const element = frame.array![i];
      if (element === undefined) out.push('null');
      else enter(element);
    }
  }
  return out.join('');
}

/** One open array or object of canonicalJson's walk. */
interface Frame {
  readonly container: object;
  readonly array: readonly unknown[] | undefined;
  readonly length: number;
  /** Objects: the sorted keys and their values. */
  readonly keys: readonly string[] | undefined;
  readonly values: readonly unknown[] | undefined;
  next: number;
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
