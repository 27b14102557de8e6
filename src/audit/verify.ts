// Walks the audit chain from its anchor (or genesis) to its head and reports the FIRST problem:
// a record whose content no longer matches its hash (altered), a missing seq or a prevHash that
// matches no record (removed), a prevHash that points at another record (reordered), or an
// anchor that does not lead into the first remaining record (anchor altered).
//
// With the audit signing public key it then checks the signed digests (digest.ts): every
// signature verifies (else digest-invalid); they chain by previousDigestSignature from null
// (else digest-removed); every digest at or after the anchor names the chain's actual hash at its
// headSeq (else digest-mismatch: records rewritten, inserted, removed or reordered with every
// later hash recomputed); no digest covers more records than the trail has (else cut-off:
// records cut off the end); and the anchor, if any, is a signed digest's head or signed anchor
// (else anchor-unsigned: records removed outside retention behind a forged anchor). Records after
// the last digest are not a failure; they are counted as unsigned.
//
// What it cannot see from the file alone: the newest digests AND the records after them removed
// together, which leaves an older, valid-looking trail. Keep the last digest (`keybridge audit
// digests`) or the head somewhere else and compare.

import type { KeyObject } from 'node:crypto';
import type Database from 'better-sqlite3';
import { canonicalJson, GENESIS_HASH, linkHash } from './chain.js';
import { digestSignatureValid, loadPublicKey, parseDigest, publicKeyFingerprint, type DigestFields } from './digest.js';
import { openForReading, readAnchor, type StoredDigest, type StoredRow } from './schema.js';

export type ProblemKind =
  | 'altered' | 'removed' | 'reordered' | 'anchor-altered'
  | 'digest-invalid' | 'digest-removed' | 'digest-mismatch' | 'cut-off' | 'anchor-unsigned';

export interface ChainProblem {
  readonly seq: number;
  readonly kind: ProblemKind;
  readonly detail: string;
}

export interface DigestReport {
  /** false: no public key was given (or the chain failed first), so no digest was checked. */
  readonly checked: boolean;
  /** Digests stored in the trail. */
  readonly count: number;
  /** The newest digest: keep its signature elsewhere to detect the end of the trail being cut off. */
  readonly last?: { readonly headSeq: number; readonly digestTime: string; readonly signature: string };
  /** Records after the last digest's head (after the anchor when there is no digest): not yet signed. */
  readonly unsignedRecords: number;
}

export interface VerifyResult {
  readonly ok: boolean;
  /** Records checked and found intact (before the problem, if any). */
  readonly records: number;
  /** Seq and hash of the last intact record (the anchor's, or 0 and the genesis hash, when none). */
  readonly head: { readonly seq: number; readonly hash: string };
  readonly anchor?: { readonly seq: number; readonly hash: string };
  readonly digests: DigestReport;
  readonly problem?: ChainProblem;
}

export interface VerifyOptions {
  /** The audit signing public key, PEM (SPKI). Without it only the chain is checked. */
  readonly publicKeyPem?: string | Buffer;
}

export function verifyAuditFile(path: string, options: VerifyOptions = {}): VerifyResult {
  const key = options.publicKeyPem === undefined ? undefined : loadPublicKey(options.publicKeyPem);
  const db = openForReading(path);
  try {
    return verifyChain(db, key);
  } finally {
    db.close();
  }
}

export function verifyChain(db: Database.Database, key?: KeyObject): VerifyResult {
  // One read transaction: a concurrent writer's commits do not show up half-way through.
  return db.transaction(() => {
    const digests = readDigests(db);
    const hashes = new Map<number, string>();
    const chain = walk(db, new Set(digests.map((d) => d.head_seq)), hashes);
    const anchorSeq = chain.anchor?.seq ?? 0;
    const lastRow = digests[digests.length - 1];
    const lastFields = lastRow ? parseDigest(lastRow.digest) : undefined;
    const report = (checked: boolean): DigestReport => ({
      checked,
      count: digests.length,
      ...(lastRow && lastFields
        ? { last: { headSeq: lastFields.headSeq, digestTime: lastFields.digestTime, signature: lastRow.signature.toString('base64') } }
        : {}),
      unsignedRecords: Math.max(0, chain.head.seq - Math.max(anchorSeq, lastRow?.head_seq ?? 0)),
    });
    if (chain.problem || key === undefined) return { ...chain, digests: report(false) };
    const problem = checkDigests(digests, key, chain.head, chain.anchor, hashes);
    return problem ? { ...chain, ok: false, digests: report(true), problem } : { ...chain, digests: report(true) };
  })();
}

function readDigests(db: Database.Database): StoredDigest[] {
  // A trail not yet opened by a version with digests has no table (migration 2).
  const exists = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit_digests'").get();
  if (!exists) return [];
  return db.prepare<[], StoredDigest>('SELECT head_seq, head_hash, digest_time, digest, signature FROM audit_digests ORDER BY head_seq').all();
}

function checkDigests(
  rows: readonly StoredDigest[],
  key: KeyObject,
  head: { seq: number; hash: string },
  anchor: { seq: number; hash: string } | undefined,
  hashes: ReadonlyMap<number, string>,
): ChainProblem | undefined {
  const fingerprint = publicKeyFingerprint(key);
  const digests: DigestFields[] = [];
  for (const [i, row] of rows.entries()) {
    const seq = row.head_seq;
    if (!digestSignatureValid(row.digest, row.signature, key)) {
      return { seq, kind: 'digest-invalid', detail: `the digest at seq ${seq} does not verify with the audit signing public key: it was edited, or signed by another key` };
    }
    const d = parseDigest(row.digest);
    if (d === undefined || d.headSeq !== seq || d.keyFingerprint !== fingerprint) {
      return { seq, kind: 'digest-invalid', detail: `the digest stored at seq ${seq} is signed but is not a digest of that seq by this key` };
    }
    const expected = i === 0 ? null : rows[i - 1]!.signature.toString('base64');
    if (d.previousDigestSignature !== expected) {
      return {
        seq,
        kind: 'digest-removed',
        detail: i === 0
          ? `the first digest in the trail (seq ${seq}, signed ${d.digestTime}) follows another digest: earlier digests were removed`
          : `the digest at seq ${seq} (signed ${d.digestTime}) does not follow the digest at seq ${rows[i - 1]!.head_seq}: a digest between them was removed`,
      };
    }
    digests.push(d);
  }
  const anchorSeq = anchor?.seq ?? 0;
  for (const d of digests) {
    if (d.headSeq < anchorSeq) continue; // its records were removed by retention
    if (d.headSeq > head.seq) {
      return {
        seq: head.seq + 1,
        kind: 'cut-off',
        detail: `records cut off the end: the digest signed ${d.digestTime} covers the chain up to seq ${d.headSeq}, but the trail ends at seq ${head.seq}`,
      };
    }
    const actual = d.headSeq === anchorSeq ? anchor!.hash : hashes.get(d.headSeq);
    if (actual !== d.headHash) {
      return {
        seq: d.headSeq,
        kind: 'digest-mismatch',
        detail: `the chain's hash at seq ${d.headSeq} is not the one signed ${d.digestTime}: records up to seq ${d.headSeq} were rewritten, inserted, removed or reordered and the later hashes recomputed`,
      };
    }
  }
  if (anchor && !digests.some((d) => (d.headSeq === anchor.seq && d.headHash === anchor.hash) || (d.anchor?.seq === anchor.seq && d.anchor.hash === anchor.hash))) {
    return {
      seq: anchor.seq,
      kind: 'anchor-unsigned',
      detail: `the retention anchor (seq ${anchor.seq}) is not the head of any signed digest: records up to seq ${anchor.seq} were removed outside retention and the anchor forged`,
    };
  }
  return undefined;
}

type ChainResult = Omit<VerifyResult, 'digests'>;

/** The chain check; the hashes of the records at `wanted` seqs are put in `hashes`. */
function walk(db: Database.Database, wanted: ReadonlySet<number>, hashes: Map<number, string>): ChainResult {
  const anchorRow = readAnchor(db);
  const anchor = anchorRow ? { seq: anchorRow.seq, hash: anchorRow.hash } : undefined;
  const seqOfHash = db.prepare<[string], number>('SELECT seq FROM audit_records WHERE hash = ? LIMIT 1').pluck();
  let expectedSeq = (anchor?.seq ?? 0) + 1;
  let prevHash = anchor?.hash ?? GENESIS_HASH;
  let head = { seq: expectedSeq - 1, hash: prevHash };
  let records = 0;
  const fail = (seq: number, kind: ProblemKind, detail: string): ChainResult => ({
    ok: false, records, head, ...(anchor ? { anchor } : {}), problem: { seq, kind, detail },
  });

  const rows = db.prepare<[], StoredRow>('SELECT seq, prev_hash, hash, event_time, record FROM audit_records ORDER BY seq').iterate();
  for (const row of rows) {
    if (row.seq !== expectedSeq) {
      if (records === 0 && anchor && row.seq < expectedSeq) {
        return fail(row.seq, 'anchor-altered', `the anchor says records up to seq ${anchor.seq} were removed by retention, but seq ${row.seq} is still present`);
      }
      const missing = row.seq - 1 === expectedSeq ? `seq ${expectedSeq} is` : `seq ${expectedSeq}-${row.seq - 1} are`;
      return fail(expectedSeq, 'removed', `record ${missing} missing (the next record present is seq ${row.seq})`);
    }
    // Only a SyntaxError from JSON.parse means "not JSON"; anything else is a bug to surface, not
    // a verdict about the record (the recursive canonicaliser once turned deep records into one).
    const parsed = parseRecord(row.record);
    const computed = parsed === NOT_JSON ? undefined : linkHash(row.seq, row.prev_hash, canonicalJson(parsed));
    if (row.prev_hash !== prevHash) {
      if (records === 0 && anchor && computed === row.hash) {
        return fail(row.seq, 'anchor-altered', `the anchor's hash (seq ${anchor.seq}) is not the prevHash of the first record, seq ${row.seq}`);
      }
      const linkedTo = seqOfHash.get(row.prev_hash);
      if (linkedTo !== undefined && linkedTo !== row.seq - 1) {
        return fail(row.seq, 'reordered', `the record at seq ${row.seq} was chained after the record now at seq ${linkedTo}: records were moved`);
      }
      return fail(
        row.seq,
        'removed',
        `prevHash of seq ${row.seq} is not the hash of seq ${row.seq - 1}: records before it were removed and the rest renumbered, or seq ${row.seq - 1} was rewritten`,
      );
    }
    if (computed === undefined) return fail(row.seq, 'altered', `record seq ${row.seq} is not valid JSON`);
    if (computed !== row.hash) return fail(row.seq, 'altered', `record seq ${row.seq} does not match its hash`);
    if (row.event_time !== eventTimeOf(parsed)) {
      return fail(row.seq, 'altered', `the event_time column of seq ${row.seq} does not match the record's eventTime`);
    }
    records += 1;
    if (wanted.has(row.seq)) hashes.set(row.seq, row.hash);
    prevHash = row.hash;
    head = { seq: row.seq, hash: row.hash };
    expectedSeq += 1;
  }
  return { ok: true, records, head, ...(anchor ? { anchor } : {}) };
}

const NOT_JSON = Symbol('not JSON');

function parseRecord(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    if (err instanceof SyntaxError) return NOT_JSON;
    throw err;
  }
}

function eventTimeOf(record: unknown): number {
  const time = (record as { eventTime?: unknown } | null)?.eventTime;
  return typeof time === 'string' ? Date.parse(time) : Number.NaN;
}
