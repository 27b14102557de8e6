// SqliteStore: the shared store contract on a temporary file, plus what only SQLite has —
// connection PRAGMAs, the file's permissions and the migration ledger.

import assert from 'node:assert/strict';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { applyMigrations, MIGRATIONS } from '../../src/store/sqlite/migrations.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { assertStoreError, makeKey, runStoreContract } from './store-contract.js';

async function tempDir(): Promise<{ dir: string; path: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'keybridge-store-'));
  return { dir, path: join(dir, 'metadata.db'), cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Opens a store on a fresh temp file and closes it (and removes the file) whatever `fn` does. */
async function withFileStore(fn: (store: SqliteStore, path: string) => Promise<void>): Promise<void> {
  const { path, cleanup } = await tempDir();
  const store = SqliteStore.open(path);
  try {
    await fn(store, path);
  } finally {
    await store.close();
    await cleanup();
  }
}

function ledger(path: string): Array<{ version: number; name: string }> {
  const db = new Database(path, { readonly: true });
  try {
    return db
      .prepare<[], { version: number; name: string }>('SELECT version, name FROM schema_migrations ORDER BY version')
      .all();
  } finally {
    db.close();
  }
}

runStoreContract('SqliteStore', async () => {
  const { path, cleanup } = await tempDir();
  return { store: SqliteStore.open(path), reopen: async () => SqliteStore.open(path), cleanup };
});

describe('SqliteStore specifics', () => {
  test('the connection runs with WAL, synchronous=FULL, foreign keys on and a busy timeout', () =>
    withFileStore(async (store) => {
      assert.deepEqual(store.connectionSettings(), {
        journalMode: 'wal',
        synchronous: 2,
        foreignKeys: 1,
        busyTimeoutMs: 5000,
      });
    }));

  test('the database file and its WAL are created with mode 0600', () =>
    withFileStore(async (store, path) => {
      assert.equal((await stat(path)).mode & 0o777, 0o600);
      await store.createKey(makeKey(), []);
      assert.equal((await stat(`${path}-wal`)).mode & 0o777, 0o600);
    }));

  test('reopening applies no migration twice', async () => {
    const { path, cleanup } = await tempDir();
    try {
      await SqliteStore.open(path).close();
      const first = ledger(path);
      assert.deepEqual(
        first.map((m) => m.version),
        MIGRATIONS.map((m) => m.version),
      );

      const again = SqliteStore.open(path);
      await again.createKey(makeKey(), []);
      await again.close();
      assert.deepEqual(ledger(path), first);

      // Called directly on a current database, the runner has nothing to do.
      const db = new Database(path);
      try {
        assert.deepEqual(applyMigrations(db), []);
      } finally {
        db.close();
      }
      assert.deepEqual(ledger(path), first);
    } finally {
      await cleanup();
    }
  });

  test('a database migrated by a newer build is refused, not used', async () => {
    const { path, cleanup } = await tempDir();
    try {
      await SqliteStore.open(path).close();
      const db = new Database(path);
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(
        MIGRATIONS.length + 1,
        'from the future',
        Date.now(),
      );
      db.close();
      assert.throws(
        () => SqliteStore.open(path),
        (err: unknown) => err instanceof Error && 'code' in err && err.code === 'STORE_FAILED',
      );
    } finally {
      await cleanup();
    }
  });

  test('a file that is not a database fails to open with STORE_FAILED', async () => {
    const { path, cleanup } = await tempDir();
    try {
      await writeFile(path, 'this is not an sqlite database, just some text long enough'.repeat(10));
      assert.throws(
        () => SqliteStore.open(path),
        (err: unknown) => err instanceof Error && 'code' in err && err.code === 'STORE_FAILED',
      );
    } finally {
      await cleanup();
    }
  });

  test('a non-positive limit is refused rather than read as "no limit"', () =>
    withFileStore(async (store) => {
      await assertStoreError(store.listKeys(undefined, 0), 'STORE_FAILED');
      await assertStoreError(store.listAliases({ limit: -1 }), 'STORE_FAILED');
      await assertStoreError(store.listTags('k', undefined, 1.5), 'STORE_FAILED');
    }));
});
