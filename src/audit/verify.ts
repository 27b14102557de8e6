// Walks the audit chain from its anchor (or genesis) to its head and reports the FIRST problem:
// a record whose content no longer matches its hash (altered), a missing seq or a prevHash that
// matches no record (removed), a prevHash that points at another record (reordered), or an
// anchor that does not lead into the first remaining record (anchor altered).
//
// What it cannot see: records cut off the END of the chain leave a shorter, valid chain. Keep the
// head (seq and hash, printed by `keybridge audit verify`) somewhere else and compare.

import type Database from 'better-sqlite3';
import { canonicalJson, GENESIS_HASH, linkHash } from './chain.js';
import { openForReading, readAnchor, type StoredRow } from './schema.js';

export type ProblemKind = 'altered' | 'removed' | 'reordered' | 'anchor-altered';

export interface ChainProblem {
  readonly seq: number;
  readonly kind: ProblemKind;
  readonly detail: string;
}

export interface VerifyResult {
  readonly ok: boolean;
  /** Records checked and found intact (before the problem, if any). */
  readonly records: number;
  /** Seq and hash of the last intact record (the anchor's, or 0 and the genesis hash, when none). */
  readonly head: { readonly seq: number; readonly hash: string };
  readonly anchor?: { readonly seq: number; readonly hash: string };
  readonly problem?: ChainProblem;
}

export function verifyAuditFile(path: string): VerifyResult {
  const db = openForReading(path);
  try {
    return verifyChain(db);
  } finally {
    db.close();
  }
}

export function verifyChain(db: Database.Database): VerifyResult {
  // One read transaction: a concurrent writer's commits do not show up half-way through.
  return db.transaction(() => walk(db))();
}

function walk(db: Database.Database): VerifyResult {
  const anchorRow = readAnchor(db);
  const anchor = anchorRow ? { seq: anchorRow.seq, hash: anchorRow.hash } : undefined;
  const seqOfHash = db.prepare<[string], number>('SELECT seq FROM audit_records WHERE hash = ? LIMIT 1').pluck();
  let expectedSeq = (anchor?.seq ?? 0) + 1;
  let prevHash = anchor?.hash ?? GENESIS_HASH;
  let head = { seq: expectedSeq - 1, hash: prevHash };
  let records = 0;
  const fail = (seq: number, kind: ProblemKind, detail: string): VerifyResult => ({
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
