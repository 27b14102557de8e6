// The PostgreSQL connection pool the store runs on, and what every query shares: number parsing,
// time limits, transactions with retry, and the mapping of PostgreSQL's errors to StoreError.

import pg from 'pg';
import { StoreError } from '../../ports/store.js';

export interface PostgresConnectionOptions {
  /** postgres://user@host:port/database?…; the password is better given apart (from a file). */
  readonly connectionString?: string;
  readonly host?: string;
  readonly port?: number;
  readonly database?: string;
  readonly user?: string;
  readonly password?: string;
  /** TLS to the server: `true` verifies against Node's roots; an object is passed to tls.connect. */
  readonly ssl?: boolean | { readonly ca?: string; readonly rejectUnauthorized?: boolean; readonly servername?: string };
  /** Connections this process keeps at most (default 10). */
  readonly maxConnections?: number;
  /** Time to get a connection, a new one included, before the call fails (default 3 s). */
  readonly connectTimeoutMs?: number;
  /** Time one statement may take, enforced by the server and, for a dead server, by the client (default 5 s). */
  readonly queryTimeoutMs?: number;
  /** Told about errors of idle connections (the server restarting, a network cut); they are dropped from the pool. */
  readonly onIdleError?: (err: Error) => void;
}

/** BIGINT columns (epoch ms, counts) as JavaScript numbers; anything beyond 2^53 is a corrupt row. */
function parseInt8(text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new Error(`bigint ${text} does not fit a JavaScript number`);
  return n;
}

const INT8_OID = 20;
const TYPES: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: string) =>
    oid === INT8_OID && format !== 'binary' ? parseInt8 : pg.types.getTypeParser(oid, format as 'text')) as pg.CustomTypesConfig['getTypeParser'],
};

/** Where and as whom to connect: what the pool's connections and the change feed's share. */
export function clientConfig(options: PostgresConnectionOptions): pg.ClientConfig {
  return {
    ...(options.connectionString === undefined ? {} : { connectionString: options.connectionString }),
    ...(options.host === undefined ? {} : { host: options.host }),
    ...(options.port === undefined ? {} : { port: options.port }),
    ...(options.database === undefined ? {} : { database: options.database }),
    ...(options.user === undefined ? {} : { user: options.user }),
    ...(options.password === undefined ? {} : { password: options.password }),
    ...(options.ssl === undefined ? {} : { ssl: options.ssl }),
    connectionTimeoutMillis: options.connectTimeoutMs ?? 3000,
    types: TYPES,
  };
}

export function createPool(options: PostgresConnectionOptions): pg.Pool {
  const queryTimeoutMs = options.queryTimeoutMs ?? 5000;
  const pool = new pg.Pool({
    ...clientConfig(options),
    max: options.maxConnections ?? 10,
    // The server cancels a statement past its limit; the client gives up a little later, for a
    // server that no longer answers at all (stopped, partitioned).
    statement_timeout: queryTimeoutMs,
    query_timeout: queryTimeoutMs + 1000,
    idleTimeoutMillis: 30_000,
    application_name: 'keybridge',
  });
  // Without a listener an idle connection's error (the server restarting) would end the process.
  pool.on('error', (err) => options.onIdleError?.(err));
  // The pool listens to its idle connections only: one checked out (in a transaction, between two
  // statements) that loses its server emits 'error' with nobody listening, which ends the process.
  // This listener keeps the process alive; the failure reaches the caller through its next
  // statement, which rejects, and the connection is released as broken.
  pool.on('connect', (client) => client.on('error', () => undefined));
  return pool;
}

/** SQLSTATE classes worth one more try of the whole transaction. */
const RETRYABLE = new Set(['40001', '40P01']); // serialization_failure, deadlock_detected
const MAX_ATTEMPTS = 3;

/**
 * Runs `fn` in a READ COMMITTED transaction on one connection: committed when it resolves, rolled
 * back when it throws. Serialization failures and deadlocks run it again (up to three times).
 * Methods that read and then write lock what they read (SELECT … FOR UPDATE).
 */
export function inTransaction<T>(pool: pg.Pool, operation: string, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  return transaction(pool, fn, (err) => toStoreError(err, operation));
}

/** inTransaction with the caller's own error type: `toError` maps whatever failed (connecting included). */
export async function transaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>, toError: (err: unknown) => Error): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    let client: pg.PoolClient;
    try {
      client = await pool.connect();
    } catch (err) {
      throw toError(err);
    }
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      try {
        await client.query('ROLLBACK');
      } catch (rollbackErr) {
        // The connection is unusable; the pool must not hand it out again.
        broken = rollbackErr instanceof Error ? rollbackErr : new Error(String(rollbackErr));
      }
      if (attempt < MAX_ATTEMPTS && RETRYABLE.has(sqlState(err) ?? '')) continue;
      throw toError(err);
    } finally {
      client.release(broken);
    }
  }
}

/** One statement outside an explicit transaction (PostgreSQL commits it on its own). */
export async function queryRows<R extends pg.QueryResultRow>(pool: pg.Pool | pg.PoolClient, operation: string, text: string, values: readonly unknown[] = []): Promise<pg.QueryResult<R>> {
  try {
    return await pool.query<R>(text, values as unknown[]);
  } catch (err) {
    throw toStoreError(err, operation);
  }
}

function sqlState(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

export function toStoreError(err: unknown, operation: string): StoreError {
  if (err instanceof StoreError) return err;
  switch (sqlState(err)) {
    case '23505': // unique_violation
      return new StoreError('CONFLICT', `${operation}: already exists`, { cause: err });
    case '23503': // foreign_key_violation: a write referring to a row that is gone
      return new StoreError('NOT_FOUND', `${operation}: the record it refers to does not exist`, { cause: err });
  }
  // Connection refused or lost, time-outs, the server shutting down: nothing was changed that a
  // caller could rely on; the next call tries again on a fresh connection.
  return new StoreError('STORE_FAILED', `${operation} failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
}

/** `INSERT INTO table (c1, …) VALUES ($1, …)` and the values of `row` in the same order. */
export function insertStatement<R extends object>(table: string, columns: readonly (keyof R & string)[], row: R): { text: string; values: unknown[] } {
  const placeholders = columns.map((_, i) => `$${i + 1}`).join(', ');
  return { text: `INSERT INTO ${table} (${columns.join(', ')}) VALUES (${placeholders})`, values: columns.map((c) => row[c]) };
}
