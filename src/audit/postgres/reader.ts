// Reading the audit trail that nodes share in PostgreSQL, for the operator's tools.
//
// verify, export and digests work on a SQLite trail file (../verify.ts, ../export.ts,
// ../digest-files.ts); snapshot() copies the database's records, anchor and digests into such a
// file VERBATIM, in one REPEATABLE READ transaction (a consistent cut while nodes keep appending),
// so those tools check exactly what the database holds, with the same code. tail reads the
// database directly.

import type pg from 'pg';
import { createPool, type PostgresConnectionOptions } from '../../store/postgres/connection.js';
import { openForWriting, type StoredRow } from '../schema.js';
import type { TailRecord, TailSource } from '../tail.js';

/** Rows copied per round trip. */
const PAGE = 5000;

export class PostgresAuditReader {
  readonly #pool: pg.Pool;

  constructor(connection: PostgresConnectionOptions) {
    // Copying a large trail takes longer than a request's statement limit.
    this.#pool = createPool({ maxConnections: 1, ...connection, queryTimeoutMs: Math.max(connection.queryTimeoutMs ?? 0, 120_000) });
  }

  /**
   * Writes the whole trail into a new SQLite trail file at `path` (which must not exist). Throws
   * when the database has no audit trail (no keybridge node ever opened it).
   */
  async snapshot(path: string): Promise<{ records: number }> {
    const client = await this.#pool.connect();
    const file = openForWriting(path);
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      await requireTrail(client);
      const copyRecords = file.prepare('INSERT INTO audit_records (seq, prev_hash, hash, event_time, record) VALUES (?, ?, ?, ?, ?)');
      const copyRows = file.transaction((rows: readonly StoredRow[]) => {
        for (const r of rows) copyRecords.run(r.seq, r.prev_hash, r.hash, r.event_time, r.record);
      });
      const anchor = (await client.query<{ seq: number; hash: string; pruned_at: number }>('SELECT seq, hash, pruned_at FROM audit_anchor WHERE id = 1')).rows[0];
      if (anchor) file.prepare('INSERT INTO audit_anchor (id, seq, hash, pruned_at) VALUES (1, ?, ?, ?)').run(anchor.seq, anchor.hash, anchor.pruned_at);
      const digests = await client.query<{ head_seq: number; head_hash: string; digest_time: number; digest: string; signature: Buffer }>(
        'SELECT head_seq, head_hash, digest_time, digest, signature FROM audit_digests ORDER BY head_seq',
      );
      const copyDigest = file.prepare('INSERT INTO audit_digests (head_seq, head_hash, digest_time, digest, signature) VALUES (?, ?, ?, ?, ?)');
      file.transaction(() => {
        for (const d of digests.rows) copyDigest.run(d.head_seq, d.head_hash, d.digest_time, d.digest, d.signature);
      })();
      let records = 0;
      for (let after = Number.MIN_SAFE_INTEGER; ; ) {
        const { rows } = await client.query<StoredRow>(
          'SELECT seq, prev_hash, hash, event_time, record FROM audit_records WHERE seq > $1 ORDER BY seq LIMIT $2',
          [after, PAGE],
        );
        if (rows.length === 0) break;
        copyRows(rows);
        records += rows.length;
        after = rows[rows.length - 1]!.seq;
      }
      await client.query('COMMIT');
      return { records };
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      file.close();
      client.release();
    }
  }

  /** The last `n` records, oldest first. */
  async lastRecords(n: number): Promise<TailRecord[]> {
    await requireTrail(this.#pool);
    const { rows } = await this.#pool.query<Pick<StoredRow, 'seq' | 'record'>>(
      'SELECT seq, record FROM (SELECT seq, record FROM audit_records ORDER BY seq DESC LIMIT $1) r ORDER BY seq',
      [n],
    );
    return rows.map(toTail);
  }

  /** Records after `seq`, oldest first, at most `limit`. */
  async recordsAfter(seq: number, limit = 1000): Promise<TailRecord[]> {
    const { rows } = await this.#pool.query<Pick<StoredRow, 'seq' | 'record'>>('SELECT seq, record FROM audit_records WHERE seq > $1 ORDER BY seq LIMIT $2', [seq, limit]);
    return rows.map(toTail);
  }

  async headSeq(): Promise<number> {
    await requireTrail(this.#pool);
    const { rows } = await this.#pool.query<{ seq: number | null }>('SELECT max(seq) AS seq FROM audit_records');
    return rows[0]?.seq ?? 0;
  }

  /** LookupEvents' source (../lookup.ts): records below a seq in a time range, newest first. */
  async newestBefore(beforeSeq: number | undefined, startMs: number, endMs: number, limit: number): Promise<TailRecord[]> {
    await requireTrail(this.#pool);
    const { rows } = await this.#pool.query<Pick<StoredRow, 'seq' | 'record'>>(
      'SELECT seq, record FROM audit_records WHERE seq < $1 AND event_time BETWEEN $2 AND $3 ORDER BY seq DESC LIMIT $4',
      [beforeSeq ?? Number.MAX_SAFE_INTEGER, startMs, endMs, limit],
    );
    return rows.map(toTail);
  }

  /** This reader as `audit tail`'s source. */
  tailSource(): TailSource {
    return { last: (n) => this.lastRecords(n), after: (seq) => this.recordsAfter(seq), headSeq: () => this.headSeq(), close: () => this.close() };
  }

  async close(): Promise<void> {
    await this.#pool.end();
  }
}

async function requireTrail(client: pg.Pool | pg.PoolClient): Promise<void> {
  const { rows } = await client.query<{ found: string | null }>("SELECT to_regclass('audit_records')::text AS found");
  if (rows[0]?.found == null) throw new Error('the PostgreSQL database has no audit trail yet: no keybridge node has run on it');
}

function toTail(row: Pick<StoredRow, 'seq' | 'record'>): TailRecord {
  return { seq: row.seq, record: JSON.parse(row.record) as Record<string, unknown> };
}
