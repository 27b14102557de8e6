// The audit database's schema (its own file, <dataDir>/audit.db, separate from the metadata
// store so that the trail can be copied, verified and retained on its own) and the connection
// settings shared by the writer and the read-only tools.
//
// WARNING: never edit or renumber a migration that has shipped; add a new one (same rules as
// src/store/sqlite/migrations.ts, whose runner applies these).

import { closeSync, constants, openSync } from 'node:fs';
import Database from 'better-sqlite3';
import { applyMigrations, type Migration } from '../store/sqlite/migrations.js';

export const AUDIT_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'audit records and retention anchor',
    sql: `
      -- One row per CloudTrail event. seq is the rowid; the chain fields are described in chain.ts.
      -- event_time (epoch ms, = the record's eventTime) serves time-window exports and retention.
      CREATE TABLE audit_records (
        seq        INTEGER NOT NULL PRIMARY KEY,
        prev_hash  TEXT    NOT NULL,
        hash       TEXT    NOT NULL,
        event_time INTEGER NOT NULL,
        record     TEXT    NOT NULL
      ) STRICT;

      CREATE INDEX audit_records_event_time ON audit_records (event_time);

      -- Where the chain starts after retention removed its oldest records: the seq and hash of the
      -- last record removed. Absent until the first prune (the chain then starts at genesis).
      CREATE TABLE audit_anchor (
        id        INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
        seq       INTEGER NOT NULL,
        hash      TEXT    NOT NULL,
        pruned_at INTEGER NOT NULL
      ) STRICT;
    `,
  },
  {
    version: 2,
    name: 'signed audit digests',
    sql: `
      -- One row per signed digest (digest.ts): digest is the exact signed text (canonical JSON),
      -- signature the DER ECDSA P-256 signature over SHA-256 of its UTF-8 bytes. head_seq and
      -- head_hash repeat the text's headSeq and headHash for the writer's retention queries only;
      -- verify trusts the signed text, never these columns.
      CREATE TABLE audit_digests (
        head_seq    INTEGER NOT NULL PRIMARY KEY,
        head_hash   TEXT    NOT NULL,
        digest_time INTEGER NOT NULL,
        digest      TEXT    NOT NULL,
        signature   BLOB    NOT NULL
      ) STRICT;
    `,
  },
];

const BUSY_TIMEOUT_MS = 5000;

/** Opens (creating with mode 0600) the audit database for writing, in WAL with synchronous=FULL. */
export function openForWriting(path: string): Database.Database {
  // SQLite would create the file 0644 (minus umask); the trail names every caller and key.
  closeSync(openSync(path, constants.O_CREAT | constants.O_RDWR, 0o600));
  const db = new Database(path, { timeout: BUSY_TIMEOUT_MS });
  try {
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    const mode = String(db.pragma('journal_mode = WAL', { simple: true }));
    if (mode.toLowerCase() !== 'wal') throw new Error(`journal_mode is ${mode}, expected wal`);
    // FULL: the WAL is fsynced at every commit, so a resolved append survives power loss.
    db.pragma('synchronous = FULL');
    applyMigrations(db, AUDIT_MIGRATIONS);
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

/** Read-only access for verify, export and tail: they never change the trail. */
export function openForReading(path: string): Database.Database {
  const db = new Database(path, { readonly: true, fileMustExist: true, timeout: BUSY_TIMEOUT_MS });
  db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  return db;
}

export interface Anchor {
  readonly seq: number;
  readonly hash: string;
  readonly prunedAt: number;
}

export function readAnchor(db: Database.Database): Anchor | undefined {
  const row = db.prepare<[], { seq: number; hash: string; pruned_at: number }>('SELECT seq, hash, pruned_at FROM audit_anchor WHERE id = 1').get();
  return row ? { seq: row.seq, hash: row.hash, prunedAt: row.pruned_at } : undefined;
}

export interface StoredRow {
  readonly seq: number;
  readonly prev_hash: string;
  readonly hash: string;
  readonly event_time: number;
  readonly record: string;
}

export interface StoredDigest {
  readonly head_seq: number;
  readonly head_hash: string;
  readonly digest_time: number;
  readonly digest: string;
  readonly signature: Buffer;
}
