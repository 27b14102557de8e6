// The MetadataStore port on an embedded SQLite file (better-sqlite3).
//
// better-sqlite3 is synchronous: each call runs to completion on the main thread, so every method
// here is atomic with respect to the others without extra locking. The async signatures exist for
// the port (a PostgreSQL adapter needs them); errors surface as rejections, never as throws.
//
// Durability: WAL with synchronous=FULL fsyncs the WAL at every commit, so a resolved promise
// means the change survives power loss (the port's contract). Ordering and cursors use SQLite's
// BINARY collation, i.e. byte order of the UTF-8 text, which for the ASCII names KMS allows is
// the same order as JavaScript's default sort.

import { closeSync, constants, openSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { KeyOrigin, KeyRecord, KeySpec, KeyState, KeyUsage } from '../../domain/key.js';
import {
  StoreError,
  type AliasRecord,
  type KeyPatch,
  type MetadataStore,
  type Tag,
} from '../../ports/store.js';
import { applyMigrations } from './migrations.js';

/** What the connection actually runs with, read back from SQLite (for tests and health checks). */
export interface SqliteConnectionSettings {
  readonly journalMode: string;
  /** 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA. */
  readonly synchronous: number;
  readonly foreignKeys: number;
  readonly busyTimeoutMs: number;
}

const BUSY_TIMEOUT_MS = 5000;
const IN_MEMORY = ':memory:';

export class SqliteStore implements MetadataStore {
  readonly #db: Database.Database;
  readonly #stmts: Statements;
  readonly #createKeyTx: (row: KeyRow, tags: readonly Tag[]) => void;
  readonly #updateKeyTx: (keyId: string, patch: KeyPatch) => KeyRecord;
  readonly #putTagsTx: (keyId: string, tags: readonly Tag[]) => void;
  readonly #removeTagsTx: (keyId: string, tagKeys: readonly string[]) => void;
  #closed = false;

  private constructor(db: Database.Database) {
    this.#db = db;
    const s = prepareStatements(db);
    this.#stmts = s;

    this.#createKeyTx = db.transaction((row: KeyRow, tags: readonly Tag[]) => {
      s.insertKey.run(row);
      // Upsert, not insert: a repeated tag key in one request means "last wins", the same as
      // putTags. A plain insert would fail with a constraint error that reads as CONFLICT, which
      // callers take to mean "the key already exists".
      for (const t of tags) s.upsertTag.run(row.key_id, t.key, t.value);
    });

    this.#updateKeyTx = db.transaction((keyId: string, patch: KeyPatch): KeyRecord => {
      const current = s.getKey.get(keyId);
      if (current === undefined) throw new StoreError('NOT_FOUND', `key ${keyId} does not exist`);
      const next = applyPatch(rowToKey(current), patch);
      s.updateKey.run({
        key_id: keyId,
        state: next.state,
        description: next.description,
        deletion_date: next.deletionDate,
        pending_window_days: next.pendingWindowDays,
        policy: next.policy,
      });
      return next;
    });

    this.#putTagsTx = db.transaction((keyId: string, tags: readonly Tag[]) => {
      for (const t of tags) s.upsertTag.run(keyId, t.key, t.value);
    });

    this.#removeTagsTx = db.transaction((keyId: string, tagKeys: readonly string[]) => {
      for (const k of tagKeys) s.deleteTag.run(keyId, k);
    });
  }

  /**
   * Opens (creating if absent, with mode 0600) the database file at `path`, sets the connection's
   * PRAGMAs and applies pending migrations. The parent directory must exist. `:memory:` is
   * accepted for tests that do not care about durability (it cannot use WAL).
   */
  static open(path: string): SqliteStore {
    const memory = path === IN_MEMORY;
    let db: Database.Database | undefined;
    try {
      // SQLite would create the file with 0644 (minus umask); metadata names every key and its
      // policy, so create it ourselves first. The -wal and -shm files inherit this mode.
      if (!memory) closeSync(openSync(path, constants.O_CREAT | constants.O_RDWR, 0o600));
      db = new Database(path, { timeout: BUSY_TIMEOUT_MS });
      configure(db, memory);
      applyMigrations(db);
      return new SqliteStore(db);
    } catch (err) {
      db?.close();
      throw new StoreError('STORE_FAILED', `cannot open metadata store at ${path}`, { cause: err });
    }
  }

  connectionSettings(): SqliteConnectionSettings {
    return this.#guard('connectionSettings', () => ({
      journalMode: String(this.#db.pragma('journal_mode', { simple: true })),
      synchronous: Number(this.#db.pragma('synchronous', { simple: true })),
      foreignKeys: Number(this.#db.pragma('foreign_keys', { simple: true })),
      busyTimeoutMs: Number(this.#db.pragma('busy_timeout', { simple: true })),
    }));
  }

  async createKey(key: KeyRecord, tags: readonly Tag[]): Promise<void> {
    this.#guard('createKey', () => this.#createKeyTx(keyToRow(key), tags));
  }

  async getKey(keyId: string): Promise<KeyRecord | undefined> {
    return this.#guard('getKey', () => {
      const row = this.#stmts.getKey.get(keyId);
      return row === undefined ? undefined : rowToKey(row);
    });
  }

  async listKeys(afterKeyId: string | undefined, limit: number): Promise<KeyRecord[]> {
    return this.#guard('listKeys', () => {
      const n = checkLimit(limit);
      const rows =
        afterKeyId === undefined
          ? this.#stmts.listKeys.all(n)
          : this.#stmts.listKeysAfter.all(afterKeyId, n);
      return rows.map(rowToKey);
    });
  }

  async updateKey(keyId: string, patch: KeyPatch): Promise<KeyRecord> {
    return this.#guard('updateKey', () => this.#updateKeyTx(keyId, patch));
  }

  async deleteKey(keyId: string): Promise<void> {
    // One statement, so atomic on its own; ON DELETE CASCADE removes the aliases and tags.
    this.#guard('deleteKey', () => this.#stmts.deleteKey.run(keyId));
  }

  async keysDueForDeletion(now: number): Promise<KeyRecord[]> {
    return this.#guard('keysDueForDeletion', () => this.#stmts.keysDue.all(now).map(rowToKey));
  }

  async allBackingKeyIds(): Promise<Array<{ keyId: string; backingKeyId: string }>> {
    return this.#guard('allBackingKeyIds', () =>
      this.#stmts.backingKeyIds.all().map((r) => ({ keyId: r.key_id, backingKeyId: r.backing_key_id })),
    );
  }

  async getAlias(aliasName: string): Promise<AliasRecord | undefined> {
    return this.#guard('getAlias', () => {
      const row = this.#stmts.getAlias.get(aliasName);
      return row === undefined ? undefined : rowToAlias(row);
    });
  }

  async createAlias(alias: AliasRecord): Promise<void> {
    this.#guard('createAlias', () =>
      this.#stmts.insertAlias.run(alias.aliasName, alias.keyId, alias.createdAt, alias.updatedAt),
    );
  }

  async updateAlias(aliasName: string, keyId: string, updatedAt: number): Promise<void> {
    this.#guard('updateAlias', () => {
      const { changes } = this.#stmts.updateAlias.run(keyId, updatedAt, aliasName);
      if (changes === 0) throw new StoreError('NOT_FOUND', `alias ${aliasName} does not exist`);
    });
  }

  async deleteAlias(aliasName: string): Promise<boolean> {
    return this.#guard('deleteAlias', () => this.#stmts.deleteAlias.run(aliasName).changes > 0);
  }

  async listAliases(options: {
    keyId?: string;
    afterAliasName?: string;
    limit: number;
  }): Promise<AliasRecord[]> {
    return this.#guard('listAliases', () => {
      const n = checkLimit(options.limit);
      const { keyId, afterAliasName: after } = options;
      const s = this.#stmts;
      let rows: AliasRow[];
      if (keyId === undefined) {
        rows = after === undefined ? s.listAliases.all(n) : s.listAliasesAfter.all(after, n);
      } else {
        rows =
          after === undefined
            ? s.listAliasesOfKey.all(keyId, n)
            : s.listAliasesOfKeyAfter.all(keyId, after, n);
      }
      return rows.map(rowToAlias);
    });
  }

  async countAliases(keyId: string): Promise<number> {
    return this.#guard('countAliases', () => this.#stmts.countAliases.get(keyId) ?? 0);
  }

  async putTags(keyId: string, tags: readonly Tag[]): Promise<void> {
    this.#guard('putTags', () => this.#putTagsTx(keyId, tags));
  }

  async removeTags(keyId: string, tagKeys: readonly string[]): Promise<void> {
    this.#guard('removeTags', () => this.#removeTagsTx(keyId, tagKeys));
  }

  async listTags(keyId: string, afterTagKey: string | undefined, limit: number): Promise<Tag[]> {
    return this.#guard('listTags', () => {
      const n = checkLimit(limit);
      const rows =
        afterTagKey === undefined
          ? this.#stmts.listTags.all(keyId, n)
          : this.#stmts.listTagsAfter.all(keyId, afterTagKey, n);
      return rows.map((r) => ({ key: r.tag_key, value: r.tag_value }));
    });
  }

  /** Closes the connection (checkpointing the WAL). Safe to call more than once. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#db.close();
    } catch (err) {
      throw toStoreError(err, 'close');
    }
  }

  /** Runs a synchronous database call, turning whatever it throws into a StoreError. */
  #guard<T>(operation: string, fn: () => T): T {
    if (this.#closed) throw new StoreError('STORE_FAILED', `${operation}: metadata store is closed`);
    try {
      return fn();
    } catch (err) {
      throw toStoreError(err, operation);
    }
  }
}

function configure(db: Database.Database, memory: boolean): void {
  // busy_timeout first, so that switching to WAL waits for another process's lock.
  db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  const mode = String(db.pragma('journal_mode = WAL', { simple: true }));
  // SQLite answers with the mode it actually uses; on some filesystems (no shared memory) it
  // silently stays in rollback mode, which would void the durability/concurrency assumptions.
  if (!memory && mode.toLowerCase() !== 'wal') {
    throw new Error(`journal_mode is ${mode}, expected wal`);
  }
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
}

function checkLimit(limit: number): number {
  // SQLite reads a negative LIMIT as "no limit"; a caller bug should not turn into a full scan.
  if (!Number.isSafeInteger(limit) || limit < 1) {
    throw new StoreError('STORE_FAILED', `limit must be a positive integer, got ${limit}`);
  }
  return limit;
}

function toStoreError(err: unknown, operation: string): StoreError {
  if (err instanceof StoreError) return err;
  if (err instanceof Database.SqliteError) {
    // Extended result codes name the constraint kind; branch on them, not on message text.
    switch (err.code) {
      case 'SQLITE_CONSTRAINT_PRIMARYKEY':
      case 'SQLITE_CONSTRAINT_UNIQUE':
        return new StoreError('CONFLICT', `${operation}: already exists`, { cause: err });
      case 'SQLITE_CONSTRAINT_FOREIGNKEY':
        // The referenced key is gone (e.g. deleted between the caller's check and this write).
        return new StoreError('NOT_FOUND', `${operation}: key does not exist`, { cause: err });
    }
  }
  return new StoreError('STORE_FAILED', `${operation} failed`, { cause: err });
}

// ---- rows -----------------------------------------------------------------------------------

interface KeyRow {
  key_id: string;
  arn: string;
  account_id: string;
  region: string;
  created_at: number;
  description: string;
  key_usage: string;
  key_spec: string;
  origin: string;
  state: string;
  deletion_date: number | null;
  pending_window_days: number | null;
  policy: string;
  backing_key_id: string;
}

interface AliasRow {
  alias_name: string;
  key_id: string;
  created_at: number;
  updated_at: number;
}

interface TagRow {
  tag_key: string;
  tag_value: string;
}

// The columns are TEXT, so a value written by another build (or by hand) could be anything;
// fail on read rather than hand the domain a state its switch statements do not know.
const KEY_STATES = ['Enabled', 'Disabled', 'PendingDeletion'] as const satisfies readonly KeyState[];
const KEY_USAGES = ['ENCRYPT_DECRYPT'] as const satisfies readonly KeyUsage[];
const KEY_SPECS = ['SYMMETRIC_DEFAULT'] as const satisfies readonly KeySpec[];
const KEY_ORIGINS = ['AWS_KMS'] as const satisfies readonly KeyOrigin[];

function oneOf<T extends string>(allowed: readonly T[], value: string, column: string): T {
  const found = allowed.find((a) => a === value);
  if (found === undefined) throw new Error(`unexpected ${column} ${JSON.stringify(value)} in store`);
  return found;
}

function rowToKey(r: KeyRow): KeyRecord {
  return {
    keyId: r.key_id,
    arn: r.arn,
    accountId: r.account_id,
    region: r.region,
    createdAt: r.created_at,
    description: r.description,
    keyUsage: oneOf(KEY_USAGES, r.key_usage, 'key_usage'),
    keySpec: oneOf(KEY_SPECS, r.key_spec, 'key_spec'),
    origin: oneOf(KEY_ORIGINS, r.origin, 'origin'),
    state: oneOf(KEY_STATES, r.state, 'state'),
    deletionDate: r.deletion_date,
    pendingWindowDays: r.pending_window_days,
    policy: r.policy,
    backingKeyId: r.backing_key_id,
  };
}

function keyToRow(k: KeyRecord): KeyRow {
  return {
    key_id: k.keyId,
    arn: k.arn,
    account_id: k.accountId,
    region: k.region,
    created_at: k.createdAt,
    description: k.description,
    key_usage: k.keyUsage,
    key_spec: k.keySpec,
    origin: k.origin,
    state: k.state,
    deletion_date: k.deletionDate,
    pending_window_days: k.pendingWindowDays,
    policy: k.policy,
    backing_key_id: k.backingKeyId,
  };
}

function rowToAlias(r: AliasRow): AliasRecord {
  return { aliasName: r.alias_name, keyId: r.key_id, createdAt: r.created_at, updatedAt: r.updated_at };
}

/** `undefined` means "leave as is"; `null` is a value (it clears deletionDate/pendingWindowDays). */
function applyPatch(current: KeyRecord, patch: KeyPatch): KeyRecord {
  const pick = <T>(next: T | undefined, cur: T): T => (next === undefined ? cur : next);
  return {
    ...current,
    state: pick(patch.state, current.state),
    description: pick(patch.description, current.description),
    deletionDate: pick(patch.deletionDate, current.deletionDate),
    pendingWindowDays: pick(patch.pendingWindowDays, current.pendingWindowDays),
    policy: pick(patch.policy, current.policy),
  };
}

// ---- statements, prepared once per connection -----------------------------------------------

type Statements = ReturnType<typeof prepareStatements>;

function prepareStatements(db: Database.Database) {
  const keyCols =
    'key_id, arn, account_id, region, created_at, description, key_usage, key_spec, origin, ' +
    'state, deletion_date, pending_window_days, policy, backing_key_id';
  const aliasCols = 'alias_name, key_id, created_at, updated_at';
  return {
    insertKey: db.prepare<KeyRow>(
      `INSERT INTO keys (${keyCols}) VALUES (@key_id, @arn, @account_id, @region, @created_at, ` +
        '@description, @key_usage, @key_spec, @origin, @state, @deletion_date, ' +
        '@pending_window_days, @policy, @backing_key_id)',
    ),
    getKey: db.prepare<[string], KeyRow>(`SELECT ${keyCols} FROM keys WHERE key_id = ?`),
    listKeys: db.prepare<[number], KeyRow>(`SELECT ${keyCols} FROM keys ORDER BY key_id LIMIT ?`),
    listKeysAfter: db.prepare<[string, number], KeyRow>(
      `SELECT ${keyCols} FROM keys WHERE key_id > ? ORDER BY key_id LIMIT ?`,
    ),
    updateKey: db.prepare<Pick<KeyRow, 'key_id' | 'state' | 'description' | 'deletion_date' | 'pending_window_days' | 'policy'>>(
      'UPDATE keys SET state = @state, description = @description, deletion_date = @deletion_date, ' +
        'pending_window_days = @pending_window_days, policy = @policy WHERE key_id = @key_id',
    ),
    deleteKey: db.prepare<[string]>('DELETE FROM keys WHERE key_id = ?'),
    // Matches the partial index keys_pending_deletion.
    keysDue: db.prepare<[number], KeyRow>(
      `SELECT ${keyCols} FROM keys WHERE state = 'PendingDeletion' AND deletion_date <= ? ` +
        'ORDER BY deletion_date, key_id',
    ),
    backingKeyIds: db.prepare<[], Pick<KeyRow, 'key_id' | 'backing_key_id'>>(
      'SELECT key_id, backing_key_id FROM keys ORDER BY key_id',
    ),

    getAlias: db.prepare<[string], AliasRow>(`SELECT ${aliasCols} FROM aliases WHERE alias_name = ?`),
    insertAlias: db.prepare<[string, string, number, number]>(
      `INSERT INTO aliases (${aliasCols}) VALUES (?, ?, ?, ?)`,
    ),
    updateAlias: db.prepare<[string, number, string]>(
      'UPDATE aliases SET key_id = ?, updated_at = ? WHERE alias_name = ?',
    ),
    deleteAlias: db.prepare<[string]>('DELETE FROM aliases WHERE alias_name = ?'),
    listAliases: db.prepare<[number], AliasRow>(
      `SELECT ${aliasCols} FROM aliases ORDER BY alias_name LIMIT ?`,
    ),
    listAliasesAfter: db.prepare<[string, number], AliasRow>(
      `SELECT ${aliasCols} FROM aliases WHERE alias_name > ? ORDER BY alias_name LIMIT ?`,
    ),
    listAliasesOfKey: db.prepare<[string, number], AliasRow>(
      `SELECT ${aliasCols} FROM aliases WHERE key_id = ? ORDER BY alias_name LIMIT ?`,
    ),
    listAliasesOfKeyAfter: db.prepare<[string, string, number], AliasRow>(
      `SELECT ${aliasCols} FROM aliases WHERE key_id = ? AND alias_name > ? ORDER BY alias_name LIMIT ?`,
    ),
    countAliases: db
      .prepare<[string], number>('SELECT count(*) FROM aliases WHERE key_id = ?')
      .pluck(),

    upsertTag: db.prepare<[string, string, string]>(
      'INSERT INTO tags (key_id, tag_key, tag_value) VALUES (?, ?, ?) ' +
        'ON CONFLICT (key_id, tag_key) DO UPDATE SET tag_value = excluded.tag_value',
    ),
    deleteTag: db.prepare<[string, string]>('DELETE FROM tags WHERE key_id = ? AND tag_key = ?'),
    listTags: db.prepare<[string, number], TagRow>(
      'SELECT tag_key, tag_value FROM tags WHERE key_id = ? ORDER BY tag_key LIMIT ?',
    ),
    listTagsAfter: db.prepare<[string, string, number], TagRow>(
      'SELECT tag_key, tag_value FROM tags WHERE key_id = ? AND tag_key > ? ORDER BY tag_key LIMIT ?',
    ),
  };
}
