// PostgresStore: the shared store contract on a fresh database of a throw-away PostgreSQL cluster
// (scripts/postgres-lab.sh), plus what only PostgreSQL has — migrations serialised across nodes,
// the schema ledger, and behaviour while the server is away.
//
// Skips only when PostgreSQL's server is not installed (Debian package `postgresql`), and not
// even then under CI=true: CI installs it, so a missing server there is a failure.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import pg from 'pg';
import { StoreError } from '../../src/ports/store.js';
import { applyPostgresMigrations, POSTGRES_MIGRATIONS } from '../../src/store/postgres/migrations.js';
import { PostgresStore } from '../../src/store/postgres/postgres-store.js';
import { MIGRATIONS as SQLITE_MIGRATIONS } from '../../src/store/sqlite/migrations.js';
import { createTestDatabase, postgresLabMissing, startPostgresLab } from '../support/postgres-lab.js';
import { assertStoreError, makeKey, runStoreContract } from './store-contract.js';

const missing = process.env.CI === 'true' ? undefined : postgresLabMissing();

async function ledger(url: string): Promise<Array<{ version: number; name: string }>> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ version: number; name: string }>('SELECT version, name FROM schema_migrations ORDER BY version');
    return rows;
  } finally {
    await client.end();
  }
}

if (missing !== undefined) {
  test('PostgresStore', { skip: missing }, () => undefined);
} else {
  runStoreContract('PostgresStore', async () => {
    const db = await createTestDatabase();
    const open = () => PostgresStore.open({ connectionString: db.url });
    return { store: await open(), reopen: open, another: open, cleanup: () => db.drop() };
  }, { sharedByNodes: true });

  describe('PostgresStore specifics', () => {
    test('both engines have the same migrations, by number and name', () => {
      assert.deepEqual(
        POSTGRES_MIGRATIONS.map((m) => [m.version, m.name]),
        SQLITE_MIGRATIONS.map((m) => [m.version, m.name]),
      );
    });

    test('nodes starting at the same moment on an empty database migrate it once, and all of them work', async () => {
      const db = await createTestDatabase();
      const stores: PostgresStore[] = [];
      try {
        stores.push(...(await Promise.all([1, 2, 3, 4].map(() => PostgresStore.open({ connectionString: db.url })))));
        const rows = await ledger(db.url);
        assert.deepEqual(rows.map((r) => r.version), POSTGRES_MIGRATIONS.map((m) => m.version));
        const key = makeKey();
        await stores[0]!.createKey(key, []);
        for (const s of stores) assert.deepEqual(await s.getKey(key.keyId), key);
      } finally {
        await Promise.all(stores.map((s) => s.close()));
        await db.drop();
      }
    });

    test('reopening applies nothing; the runner on a current database has nothing to do', async () => {
      const db = await createTestDatabase();
      try {
        await (await PostgresStore.open({ connectionString: db.url })).close();
        const first = await ledger(db.url);
        await (await PostgresStore.open({ connectionString: db.url })).close();
        assert.deepEqual(await ledger(db.url), first);
        const pool = new pg.Pool({ connectionString: db.url });
        const client = await pool.connect();
        try {
          assert.deepEqual(await applyPostgresMigrations(client), []);
        } finally {
          client.release();
          await pool.end();
        }
      } finally {
        await db.drop();
      }
    });

    test('a database migrated by a newer build is refused with STORE_FAILED', async () => {
      const db = await createTestDatabase();
      try {
        await (await PostgresStore.open({ connectionString: db.url })).close();
        const client = new pg.Client({ connectionString: db.url });
        await client.connect();
        await client.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [POSTGRES_MIGRATIONS.length + 1, 'from the future', Date.now()]);
        await client.end();
        await assert.rejects(PostgresStore.open({ connectionString: db.url }), (err: unknown) => err instanceof StoreError && err.code === 'STORE_FAILED' && /newer keybridge/.test(err.message));
      } finally {
        await db.drop();
      }
    });

    test('a wrong password or an unreachable server fails to open with STORE_FAILED, quickly', async () => {
      const db = await createTestDatabase();
      try {
        const wrong = new URL(db.url);
        wrong.password = 'not-the-password';
        await assert.rejects(PostgresStore.open({ connectionString: wrong.href }), (err: unknown) => err instanceof StoreError && err.code === 'STORE_FAILED');
        const closedPort = new URL(db.url);
        closedPort.port = '1';
        const started = Date.now();
        await assert.rejects(PostgresStore.open({ connectionString: closedPort.href, connectTimeoutMs: 2000 }), (err: unknown) => err instanceof StoreError && err.code === 'STORE_FAILED');
        assert.ok(Date.now() - started < 5000, 'an unreachable server must not hang the open');
      } finally {
        await db.drop();
      }
    });

    test('while the server is stopped every call fails with STORE_FAILED within its time limits; once it is back the same store works, with nothing lost, and its change feed says resync', async () => {
      // Its own cluster: this test stops the server.
      const lab = await startPostgresLab();
      try {
        const db = await createTestDatabase(lab);
        const store = await PostgresStore.open({ connectionString: db.url, connectTimeoutMs: 1000, queryTimeoutMs: 2000 });
        try {
          const heard: string[] = [];
          store.changes.subscribe((c) => heard.push(c));
          const kept = makeKey();
          await store.createKey(kept, [{ key: 'a', value: '1' }]);
          await lab.halt();
          const started = Date.now();
          await assertStoreError(store.getKey(kept.keyId), 'STORE_FAILED');
          await assertStoreError(store.createKey(makeKey(), []), 'STORE_FAILED');
          await assertStoreError(store.updateKey(kept.keyId, { state: 'Disabled' }), 'STORE_FAILED');
          assert.ok(Date.now() - started < 10_000, `calls against a stopped server took ${Date.now() - started} ms`);
          await lab.startAgain();
          // The change feed reconnects by itself and tells its listeners to reload what they keep.
          for (let i = 0; i < 100 && !heard.includes('resync'); i++) await new Promise((r) => setTimeout(r, 100));
          assert.ok(heard.includes('resync'), `the change feed did not say resync after the server came back: ${JSON.stringify(heard)}`);
          assert.deepEqual(await store.getKey(kept.keyId), kept);
          assert.deepEqual(await store.listTags(kept.keyId, undefined, 10), [{ key: 'a', value: '1' }]);
          const after = await store.updateKey(kept.keyId, { state: 'Disabled' });
          assert.equal(after.state, 'Disabled');
        } finally {
          await store.close();
        }
      } finally {
        await lab.stop();
      }
    });

    test('epoch milliseconds round-trip exactly as numbers', async () => {
      const db = await createTestDatabase();
      const store = await PostgresStore.open({ connectionString: db.url });
      try {
        const key = makeKey({ createdAt: 8_640_000_000_000_000, state: 'PendingDeletion', deletionDate: Number.MAX_SAFE_INTEGER, pendingWindowDays: 30 });
        await store.createKey(key, []);
        const back = await store.getKey(key.keyId);
        assert.deepEqual(back, key);
        assert.equal(typeof back!.createdAt, 'number');
      } finally {
        await store.close();
        await db.drop();
      }
    });
  });
}
