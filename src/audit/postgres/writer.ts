// The audit writer of a deployment on PostgreSQL: every node appends to ONE chain in the shared
// database. A batch (AuditTrail's group commit) is one transaction that locks the head row, links
// its records onto the head, inserts them and moves the head; another node's batch waits for the
// lock and chains after it. The commit waits for PostgreSQL's WAL flush (synchronous_commit), so a
// resolved append is durable as in the SQLite file.
//
// Canonical JSON (the costly part of hashing) is computed before the transaction; only SHA-256
// runs while the head is locked.
//
// Retention and digests follow the SQLite writer's rules (../writer-worker.ts): a signed trail
// cuts only at a stored digest's head; a digest is stored only after the latest one it was signed
// against (another node may have stored one first: then nothing is stored). Both lock the head row
// too, so they never interleave with an append or with each other on any node.
//
// Nothing is kept between calls but the pool: the head, the anchor and the latest digest are read
// in each transaction, as other nodes move them. When PostgreSQL is unreachable every call rejects
// within the connection and statement limits, and the next call tries again.

import type pg from 'pg';
import type { Logger } from 'pino';
import { createPool, transaction, type PostgresConnectionOptions } from '../../store/postgres/connection.js';
import { canonicalJson, GENESIS_HASH, linkHash } from '../chain.js';
import { AuditWriteError, type AuditWriter, type DigestState, type DigestToStore } from '../writer.js';
import type { RetentionOptions } from '../writer-protocol.js';
import { migrateAuditTables } from './schema.js';

const DAY_MS = 86_400_000;
/** Rows removed per retention transaction, so a backlog never holds the head lock for long. */
const PRUNE_STEP = 10_000;
/** How often this node checks the age limit between appends. */
const AGE_CHECK_INTERVAL_MS = 60_000;

interface Head {
  readonly seq: number;
  readonly hash: string;
}

export class PostgresAuditWriter implements AuditWriter {
  readonly #pool: pg.Pool;
  readonly #retention: RetentionOptions;
  readonly #signed: boolean;
  readonly #logger: Logger;
  readonly #node: string;
  #lastAgeCheck = 0;
  #pruning = false;

  private constructor(pool: pg.Pool, retention: RetentionOptions, signed: boolean, logger: Logger, node: string) {
    this.#pool = pool;
    this.#node = node;
    this.#retention = retention;
    this.#signed = signed;
    this.#logger = logger;
  }

  /** `node` names this node in the records it writes (audit_records.written_by). */
  static async open(options: {
    connection: PostgresConnectionOptions; retention: RetentionOptions; signed: boolean; logger: Logger; node: string;
  }): Promise<PostgresAuditWriter> {
    const pool = createPool({
      ...options.connection,
      // Appends are serialised per node by AuditTrail; digests and retention may run beside them.
      maxConnections: 3,
      onIdleError: (err) => options.logger.warn({ err: err.message }, 'a PostgreSQL connection of the audit trail failed while idle; it is replaced on next use'),
    });
    try {
      await migrateAuditTables(pool);
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw asWriteError('cannot open the audit trail in PostgreSQL', err);
    }
    return new PostgresAuditWriter(pool, options.retention, options.signed, options.logger, options.node);
  }

  async append(texts: readonly string[], times: readonly number[]): Promise<number> {
    const canonical = texts.map((t) => canonicalJson(JSON.parse(t)));
    const { head, anchorSeq } = await this.#transaction('audit write failed', async (client) => {
      let { seq, hash } = await lockHead(client);
      const seqs: number[] = [];
      const prevHashes: string[] = [];
      const hashes: string[] = [];
      for (const text of canonical) {
        seqs.push(++seq);
        prevHashes.push(hash);
        hash = linkHash(seq, hash, text);
        hashes.push(hash);
      }
      await client.query(
        'INSERT INTO audit_records (seq, prev_hash, hash, event_time, record, written_by) ' +
          'SELECT *, $6 FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::text[])',
        [seqs, prevHashes, hashes, times, texts, this.#node],
      );
      await client.query('UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1', [seq, hash]);
      return { head: { seq, hash }, anchorSeq: await anchorSeqOf(client) };
    });
    // Retention after the reply, so it never delays the requests of this batch.
    if (this.#retentionDue(head.seq, anchorSeq, Date.now())) {
      this.#pruning = true;
      void this.#pruneAll(Date.now(), false)
        .catch((err: unknown) =>
          this.#logger.error({ err: { message: messageOf(err), code: codeOf(err) } }, 'audit retention failed; records are kept and retention is retried'),
        )
        .finally(() => (this.#pruning = false));
    }
    return head.seq;
  }

  async digestState(): Promise<DigestState> {
    try {
      const { rows } = await this.#pool.query<{
        seq: number; hash: string; anchor_seq: number | null; anchor_hash: string | null; digest_seq: number | null; signature: Buffer | null;
      }>(
        'SELECT h.seq, h.hash, a.seq AS anchor_seq, a.hash AS anchor_hash, d.head_seq AS digest_seq, d.signature ' +
          'FROM audit_head h LEFT JOIN audit_anchor a ON a.id = 1 ' +
          'LEFT JOIN LATERAL (SELECT head_seq, signature FROM audit_digests ORDER BY head_seq DESC LIMIT 1) d ON true WHERE h.id = 1',
      );
      const row = rows[0];
      if (!row) throw new Error('the audit_head row is missing');
      const anchorSeq = row.anchor_seq ?? 0;
      return {
        headSeq: row.seq,
        headHash: row.hash,
        anchor: row.anchor_seq === null ? null : { seq: row.anchor_seq, hash: row.anchor_hash! },
        records: row.seq - anchorSeq,
        lastDigestHeadSeq: row.digest_seq ?? 0,
        previousSignature: row.signature === null ? null : row.signature.toString('base64'),
      };
    } catch (err) {
      throw asWriteError('audit digest state could not be read', err);
    }
  }

  storeDigest(digest: DigestToStore): Promise<boolean> {
    return this.#transaction('audit digest could not be stored', async (client) => {
      await lockHead(client);
      const { rows } = await client.query<{ head_seq: number; signature: Buffer }>('SELECT head_seq, signature FROM audit_digests ORDER BY head_seq DESC LIMIT 1');
      const latest = rows[0];
      if ((latest ? latest.signature.toString('base64') : null) !== digest.previousSignature) return false; // another node's digest came first
      if (digest.headSeq <= (latest?.head_seq ?? 0)) throw new Error(`internal: digest head ${digest.headSeq} is not after the latest digest's`);
      if ((await hashAt(client, digest.headSeq)) !== digest.headHash) throw new Error(`internal: digest head ${digest.headSeq} is not the chain's record at that seq`);
      await client.query('INSERT INTO audit_digests (head_seq, head_hash, digest_time, digest, signature) VALUES ($1, $2, $3, $4, $5)', [
        digest.headSeq, digest.headHash, digest.digestTime, digest.text, Buffer.from(digest.signature),
      ]);
      return true;
    });
  }

  prune(now: number): Promise<number> {
    return this.#pruneAll(now, true);
  }

  async close(): Promise<void> {
    await this.#pool.end();
  }

  onDead(): void {
    // Never dead: every call gets a connection of its own, and the next one tries again.
  }

  #retentionDue(headSeq: number, anchorSeq: number, now: number): boolean {
    if (this.#pruning) return false;
    const r = this.#retention;
    if (r.maxRecords !== undefined && headSeq - anchorSeq > r.maxRecords) return true;
    if (r.maxAgeDays !== undefined && now - this.#lastAgeCheck >= AGE_CHECK_INTERVAL_MS) return true;
    return false;
  }

  async #pruneAll(now: number, force: boolean): Promise<number> {
    let total = 0;
    for (let n = await this.#pruneStep(now, force); n > 0; n = await this.#pruneStep(now, true)) total += n;
    return total;
  }

  /** One bounded retention transaction; resolves to the records removed (0: nothing due). */
  #pruneStep(now: number, force: boolean): Promise<number> {
    return this.#transaction('audit retention failed', async (client) => {
      const head = await lockHead(client);
      const anchorSeq = await anchorSeqOf(client);
      const r = this.#retention;
      let upTo = anchorSeq;
      if (r.maxRecords !== undefined && head.seq - anchorSeq > r.maxRecords) upTo = head.seq - r.maxRecords;
      if (r.maxAgeDays !== undefined && (force || now - this.#lastAgeCheck >= AGE_CHECK_INTERVAL_MS)) {
        this.#lastAgeCheck = now;
        const { rows } = await client.query<{ young: number | null }>('SELECT min(seq) AS young FROM audit_records WHERE event_time >= $1', [now - r.maxAgeDays * DAY_MS]);
        const young = rows[0]?.young ?? null;
        upTo = Math.max(upTo, young === null ? head.seq : young - 1);
      }
      upTo = this.#signed ? await signedCut(client, anchorSeq, upTo) : Math.min(upTo, anchorSeq + PRUNE_STEP);
      if (upTo <= anchorSeq) return 0;
      const hash = await hashAt(client, upTo);
      if (hash === undefined) throw new Error(`internal: no audit record ${upTo} to anchor on`);
      if (this.#signed) {
        const { rows } = await client.query<{ head_hash: string }>('SELECT head_hash FROM audit_digests WHERE head_seq = $1', [upTo]);
        // The records no longer match what was signed: keep everything for `audit verify` to report.
        if (rows[0]?.head_hash !== hash) throw new Error(`audit record ${upTo} does not match the signed digest at that seq; nothing is pruned`);
      }
      const removed = (await client.query('DELETE FROM audit_records WHERE seq <= $1', [upTo])).rowCount ?? 0;
      await client.query(
        'INSERT INTO audit_anchor (id, seq, hash, pruned_at) VALUES (1, $1, $2, $3) ' +
          'ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, pruned_at = excluded.pruned_at',
        [upTo, hash, now],
      );
      return removed;
    });
  }

  /** Runs `fn` in a transaction (connection.ts); any failure rolls it back and rejects with AuditWriteError. */
  #transaction<T>(what: string, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    return transaction(this.#pool, fn, (err) => asWriteError(what, err));
  }
}

/** Locks the head row until the transaction ends; every writer of the chain takes this lock first. */
async function lockHead(client: pg.PoolClient): Promise<Head> {
  const { rows } = await client.query<Head>('SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE');
  return rows[0] ?? { seq: 0, hash: GENESIS_HASH };
}

async function anchorSeqOf(client: pg.PoolClient): Promise<number> {
  const { rows } = await client.query<{ seq: number }>('SELECT seq FROM audit_anchor WHERE id = 1');
  return rows[0]?.seq ?? 0;
}

async function hashAt(client: pg.PoolClient, seq: number): Promise<string | undefined> {
  const { rows } = await client.query<{ hash: string }>('SELECT hash FROM audit_records WHERE seq = $1', [seq]);
  return rows[0]?.hash;
}

/** Where a signed trail may cut (../writer-worker.ts signedCut): only at a stored digest's head. */
async function signedCut(client: pg.PoolClient, anchorSeq: number, want: number): Promise<number> {
  if (want <= anchorSeq) return anchorSeq;
  const { rows } = await client.query<{ latest: number | null; earliest: number | null }>(
    'SELECT (SELECT max(head_seq) FROM audit_digests WHERE head_seq > $1 AND head_seq <= $2) AS latest, ' +
      '(SELECT min(head_seq) FROM audit_digests WHERE head_seq > $1 AND head_seq <= $3) AS earliest',
    [anchorSeq, Math.min(want, anchorSeq + PRUNE_STEP), want],
  );
  return rows[0]?.latest ?? rows[0]?.earliest ?? anchorSeq;
}

function asWriteError(what: string, err: unknown): AuditWriteError {
  return new AuditWriteError(`${what}: ${messageOf(err)}`, codeOf(err));
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}
