// The audit trail's tables in the shared PostgreSQL database: the same records, anchor and digests
// as the SQLite file (../schema.ts), so the same chain rules hold (chain.ts) and `audit verify`
// checks them with the same code (reader.ts copies them verbatim). Their own ledger
// (audit_schema_migrations) keeps their versions apart from the metadata store's.
//
// WARNING: never edit or renumber a migration that has shipped; add a new one.

import type pg from 'pg';
import { applyPostgresMigrations, type PostgresMigration } from '../../store/postgres/migrations.js';
import { GENESIS_HASH } from '../chain.js';

export const AUDIT_LEDGER = 'audit_schema_migrations';

export const AUDIT_POSTGRES_MIGRATIONS: readonly PostgresMigration[] = [
  {
    version: 1,
    name: 'audit records, anchor, digests and the chain head',
    sql: `
      -- One row per CloudTrail event, exactly as in the SQLite trail. record is TEXT, not JSONB: the
      -- stored text stays byte for byte what was written (the hash covers its canonical form).
      -- written_by names the node that appended the record (host:pid:random, as in work claims):
      -- for operators following one node's requests; it is NOT covered by the hash chain.
      CREATE TABLE audit_records (
        seq        BIGINT NOT NULL PRIMARY KEY,
        prev_hash  TEXT   NOT NULL,
        hash       TEXT   NOT NULL,
        event_time BIGINT NOT NULL,
        record     TEXT   NOT NULL,
        written_by TEXT   NOT NULL
      );
      CREATE INDEX audit_records_event_time ON audit_records (event_time);

      CREATE TABLE audit_anchor (
        id        INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
        seq       BIGINT  NOT NULL,
        hash      TEXT    NOT NULL,
        pruned_at BIGINT  NOT NULL
      );

      CREATE TABLE audit_digests (
        head_seq    BIGINT NOT NULL PRIMARY KEY,
        head_hash   TEXT   NOT NULL,
        digest_time BIGINT NOT NULL,
        digest      TEXT   NOT NULL,
        signature   BYTEA  NOT NULL
      );

      -- The chain's head, one row: every node's append locks it (SELECT … FOR UPDATE), so the
      -- nodes' batches join ONE chain one after another, each committed whole or not at all.
      -- verify never trusts it; it only says where the next record goes.
      CREATE TABLE audit_head (
        id   INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
        seq  BIGINT  NOT NULL,
        hash TEXT    NOT NULL
      );
      INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '${GENESIS_HASH}');
    `,
  },
];

/** Creates or updates the audit tables; safe when several nodes start at once (migrations.ts). */
export async function migrateAuditTables(pool: pg.Pool): Promise<void> {
  const client = await pool.connect();
  try {
    await applyPostgresMigrations(client, AUDIT_POSTGRES_MIGRATIONS, Date.now, AUDIT_LEDGER);
  } finally {
    client.release();
  }
}
