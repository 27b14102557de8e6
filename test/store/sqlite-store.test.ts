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
import { assertStoreError, makeCustomKeyStore, makeKey, runStoreContract } from './store-contract.js';

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
  return { store: SqliteStore.open(path), reopen: async () => SqliteStore.open(path), another: async () => SqliteStore.open(path), cleanup };
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
      await assertStoreError(store.listCustomKeyStores(undefined, 0), 'STORE_FAILED');
    }));

  test('a database at migration 1 upgrades to migration 2 with its keys intact', async () => {
    const { path, cleanup } = await tempDir();
    try {
      const key = makeKey({ description: 'from before custom key stores' });
      const db = new Database(path);
      try {
        assert.deepEqual(applyMigrations(db, MIGRATIONS.slice(0, 1)), [1]);
        db.prepare(
          'INSERT INTO keys (key_id, arn, account_id, region, created_at, description, key_usage, ' +
            'key_spec, origin, state, deletion_date, pending_window_days, policy, backing_key_id) ' +
            'VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
        ).run(
          key.keyId, key.arn, key.accountId, key.region, key.createdAt, key.description, key.keyUsage,
          key.keySpec, key.origin, key.state, key.deletionDate, key.pendingWindowDays, key.policy, key.backingKeyId,
        );
        db.prepare('INSERT INTO tags (key_id, tag_key, tag_value) VALUES (?, ?, ?)').run(key.keyId, 'env', 'old');
      } finally {
        db.close();
      }
      assert.deepEqual(
        ledger(path).map((m) => m.version),
        [1],
      );

      const store = SqliteStore.open(path);
      try {
        assert.deepEqual(
          ledger(path).map((m) => m.version),
          MIGRATIONS.map((m) => m.version),
        );
        const upgraded = await store.getKey(key.keyId);
        assert.equal(upgraded?.customKeyStoreId, null);
        assert.deepEqual(upgraded, key);
        assert.deepEqual(await store.listTags(key.keyId, undefined, 10), [{ key: 'env', value: 'old' }]);
        // Migration 5: the key's one material is recorded as its first, rotation off.
        assert.deepEqual(await store.listKeyMaterials(key.keyId), [
          { keyId: key.keyId, ordinal: 1, materialId: key.backingKeyId, createdAt: key.createdAt, rotationDate: null, rotationType: null },
        ]);
        assert.deepEqual(await store.getRotationSchedule(key.keyId), { periodDays: null, nextRotationAt: null, onDemandRotations: 0 });
        // And the new schema is usable at once.
        const cks = makeCustomKeyStore();
        await store.createCustomKeyStore(cks);
        const inStore = makeKey({ origin: 'AWS_CLOUDHSM', customKeyStoreId: cks.id });
        await store.createKey(inStore, []);
        assert.deepEqual(await store.getKey(inStore.keyId), inStore);
        assert.equal(await store.countKeysInCustomKeyStore(cks.id), 1);
      } finally {
        await store.close();
      }
    } finally {
      await cleanup();
    }
  });

  // The port's CONFLICT must not rest on the adapter's own check alone: the schema refuses too.
  test('the schema refuses to delete a custom key store that keys refer to', () =>
    withFileStore(async (store, path) => {
      const cks = makeCustomKeyStore();
      await store.createCustomKeyStore(cks);
      await store.createKey(makeKey({ origin: 'AWS_CLOUDHSM', customKeyStoreId: cks.id }), []);
      const db = new Database(path);
      try {
        db.pragma('foreign_keys = ON');
        assert.throws(
          () => db.prepare('DELETE FROM custom_key_stores WHERE id = ?').run(cks.id),
          (err: unknown) => err instanceof Database.SqliteError && err.code === 'SQLITE_CONSTRAINT_FOREIGNKEY',
        );
      } finally {
        db.close();
      }
      assert.deepEqual(await store.getCustomKeyStore(cks.id), cks);
    }));

  test('a custom key store row with a value this build does not know fails to read', () =>
    withFileStore(async (store, path) => {
      const bad = [
        ['connection_state', 'HALF_CONNECTED'],
        ['connection_error_code', 'SUBNET_NOT_FOUND'],
        ['type', 'HARDWARE_SECURITY_MODULE'],
      ] as const;
      const records = bad.map(() => makeCustomKeyStore());
      for (const r of records) await store.createCustomKeyStore(r);
      const db = new Database(path);
      try {
        bad.forEach(([column, value], i) =>
          db.prepare(`UPDATE custom_key_stores SET ${column} = ? WHERE id = ?`).run(value, records[i]?.id),
        );
        // The CHECK keeps want_connected to 0/1.
        assert.throws(
          () => db.prepare('UPDATE custom_key_stores SET want_connected = 2 WHERE id = ?').run(records[0]?.id),
          (err: unknown) => err instanceof Database.SqliteError && err.code === 'SQLITE_CONSTRAINT_CHECK',
        );
      } finally {
        db.close();
      }
      for (const r of records) {
        await assertStoreError(store.getCustomKeyStore(r.id), 'STORE_FAILED');
        await assertStoreError(store.getCustomKeyStoreByName(r.name), 'STORE_FAILED');
      }
      await assertStoreError(store.listCustomKeyStores(undefined, 10), 'STORE_FAILED');
      await assertStoreError(store.updateCustomKeyStore(records[0]?.id ?? '', {}), 'STORE_FAILED');
    }));
});
