// Reading the newest records, and the records after a seq (`audit tail --follow` polls for them:
// the writer is another process).

import type Database from 'better-sqlite3';
import type { LookupSource } from './lookup.js';
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

/** Records below `beforeSeq` (any when undefined) whose event_time is in [startMs, endMs], newest first, at most `limit`. */
export function newestBefore(db: Database.Database, beforeSeq: number | undefined, startMs: number, endMs: number, limit: number): TailRecord[] {
  return db
    .prepare<[number, number, number, number], StoredRow>(
      'SELECT seq, record FROM audit_records WHERE seq < ? AND event_time BETWEEN ? AND ? ORDER BY seq DESC LIMIT ?',
    )
    .all(beforeSeq ?? Number.MAX_SAFE_INTEGER, startMs, endMs, limit)
    .map(toTail);
}

/** The trail file as LookupEvents' source (lookup.ts); a fresh read-only connection per call, as below. */
export function fileLookupSource(path: string): LookupSource {
  return {
    newestBefore: (beforeSeq, startMs, endMs, limit) => {
      const db = openForReading(path);
      try {
        return Promise.resolve(newestBefore(db, beforeSeq, startMs, endMs, limit));
      } finally {
        db.close();
      }
    },
  };
}

/** The highest seq in the trail (0 when empty). */
export function headSeq(db: Database.Database): number {
  return (db.prepare('SELECT max(seq) FROM audit_records').pluck().get() as number | null) ?? 0;
}

/**
 * The newest records and the records after a seq, from a trail file. Each call opens a fresh
 * read-only connection: a read-only connection opened while the writer had the file closed (no
 * -wal/-shm files) does not see the WAL the writer creates later, and the writer deletes the WAL
 * again when it closes.
 */
export function fileTailSource(path: string): TailSource {
  const withDb = <T>(fn: (db: Database.Database) => T): Promise<T> => {
    const db = openForReading(path);
    try {
      return Promise.resolve(fn(db));
    } finally {
      db.close();
    }
  };
  return {
    last: (n) => withDb((db) => lastRecords(db, n)),
    after: (seq) => withDb((db) => recordsAfter(db, seq)),
    headSeq: () => withDb(headSeq),
    close: () => Promise.resolve(),
  };
}

/** Where `audit tail` reads: a trail file (above) or the PostgreSQL trail (postgres/reader.ts). */
export interface TailSource {
  last(n: number): Promise<TailRecord[]>;
  after(seq: number): Promise<TailRecord[]>;
  headSeq(): Promise<number>;
  close(): Promise<void>;
}

function toTail(row: Pick<StoredRow, 'seq' | 'record'>): TailRecord {
  return { seq: row.seq, record: JSON.parse(row.record) as Record<string, unknown> };
}
