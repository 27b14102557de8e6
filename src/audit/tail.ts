// Reading the newest records, and following the trail as records are appended (by polling the
// database for seq greater than the last one seen: the writer is another process).

import type Database from 'better-sqlite3';
import { openForReading, type StoredRow } from './schema.js';

export interface TailRecord {
  readonly seq: number;
  readonly record: Record<string, unknown>;
}

/** The last `n` records, oldest first. */
export function lastRecords(db: Database.Database, n: number): TailRecord[] {
  return db
    .prepare<[number], StoredRow>('SELECT seq, record FROM (SELECT seq, record FROM audit_records ORDER BY seq DESC LIMIT ?) ORDER BY seq')
    .all(n)
    .map(toTail);
}

/** Records after `seq`, oldest first, at most `limit`. */
export function recordsAfter(db: Database.Database, seq: number, limit = 1000): TailRecord[] {
  return db.prepare<[number, number], StoredRow>('SELECT seq, record FROM audit_records WHERE seq > ? ORDER BY seq LIMIT ?').all(seq, limit).map(toTail);
}

/**
 * Calls `onRecord` for every record appended after `afterSeq` until `signal` aborts, polling
 * every `intervalMs`. Resolves when aborted.
 *
 * Each poll opens a fresh read-only connection: a read-only connection opened while the writer
 * had the file closed (no -wal/-shm files) does not see the WAL the writer creates later, and the
 * writer deletes the WAL again when it closes.
 */
export async function follow(
  path: string,
  afterSeq: number,
  onRecord: (r: TailRecord) => void,
  options: { intervalMs: number; signal: AbortSignal; sleep: (ms: number) => Promise<void> },
): Promise<void> {
  let seq = afterSeq;
  while (!options.signal.aborted) {
    const db = openForReading(path);
    let batch: TailRecord[];
    try {
      batch = recordsAfter(db, seq);
    } finally {
      db.close();
    }
    for (const r of batch) {
      onRecord(r);
      seq = r.seq;
    }
    if (batch.length === 0) await options.sleep(options.intervalMs);
  }
}

function toTail(row: Pick<StoredRow, 'seq' | 'record'>): TailRecord {
  return { seq: row.seq, record: JSON.parse(row.record) as Record<string, unknown> };
}
