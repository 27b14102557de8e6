// Schema migrations for the PostgreSQL metadata store, applied by PostgresStore.open.
//
// The numbers and names match store/sqlite/migrations.ts one for one: version N means the same
// schema on both engines, in each engine's own dialect. A migration and its ledger row commit in
// one transaction (PostgreSQL's DDL is transactional), so a crash leaves all of it or none.
//
// Several nodes may start at the same moment on an empty database: the whole run holds a
// transaction-scoped advisory lock, so the second node waits, then finds every migration recorded
// and applies nothing.
//
// WARNING: never edit or renumber a migration that has shipped; add a new one, to both engines.
// A database recording a version this build does not know was written by a newer keybridge and is
// refused rather than used with a schema we do not understand.
//
// Column choices: text columns that the store orders or pages by use COLLATE "C" (byte order, the
// order the store contract pins, whatever the database's locale); timestamps are epoch milliseconds
// in BIGINT (read back as JavaScript numbers by the adapter's type parser).

import type { PoolClient } from 'pg';

export interface PostgresMigration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

/** The advisory lock key migrations hold: any constant; this is "keybridg" in ASCII (0x6b65796272696467) as a bigint. */
export const MIGRATION_LOCK_KEY = '7738724998439330919';

export const POSTGRES_MIGRATIONS: readonly PostgresMigration[] = [
  {
    version: 1,
    name: 'keys, aliases, tags',
    sql: `
      CREATE TABLE keys (
        key_id              TEXT COLLATE "C" NOT NULL PRIMARY KEY,
        arn                 TEXT    NOT NULL,
        account_id          TEXT    NOT NULL,
        region              TEXT    NOT NULL,
        created_at          BIGINT  NOT NULL,
        description         TEXT    NOT NULL,
        key_usage           TEXT    NOT NULL,
        key_spec            TEXT    NOT NULL,
        origin              TEXT    NOT NULL,
        state               TEXT    NOT NULL,
        deletion_date       BIGINT,
        pending_window_days INTEGER,
        policy              TEXT    NOT NULL,
        -- Unique: two key records naming one HSM object would let deleting one destroy the other's material.
        backing_key_id      TEXT    NOT NULL UNIQUE
      );
      -- Serves the deletion sweeper without scanning every key.
      CREATE INDEX keys_pending_deletion ON keys (deletion_date) WHERE state = 'PendingDeletion';

      CREATE TABLE aliases (
        alias_name TEXT COLLATE "C" NOT NULL PRIMARY KEY,
        key_id     TEXT COLLATE "C" NOT NULL REFERENCES keys (key_id) ON DELETE CASCADE,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL
      );
      CREATE INDEX aliases_key_id ON aliases (key_id, alias_name);

      CREATE TABLE tags (
        key_id    TEXT COLLATE "C" NOT NULL REFERENCES keys (key_id) ON DELETE CASCADE,
        tag_key   TEXT COLLATE "C" NOT NULL,
        tag_value TEXT NOT NULL,
        PRIMARY KEY (key_id, tag_key)
      );
    `,
  },
  {
    version: 2,
    name: 'custom key stores',
    sql: `
      CREATE TABLE custom_key_stores (
        id                       TEXT COLLATE "C" NOT NULL PRIMARY KEY,
        name                     TEXT    NOT NULL UNIQUE,
        type                     TEXT    NOT NULL,
        cluster_id               TEXT    NOT NULL,
        trust_anchor_certificate TEXT    NOT NULL,
        sealed_password          TEXT    NOT NULL,
        created_at               BIGINT  NOT NULL,
        connection_state         TEXT    NOT NULL,
        connection_error_code    TEXT,
        want_connected           BOOLEAN NOT NULL
      );
      -- No ON DELETE action: deleting a custom key store that keys still refer to must fail.
      ALTER TABLE keys ADD COLUMN custom_key_store_id TEXT COLLATE "C" REFERENCES custom_key_stores (id);
      CREATE INDEX keys_custom_key_store_id ON keys (custom_key_store_id);
    `,
  },
  {
    version: 3,
    name: 'principals, access keys, grants',
    sql: `
      CREATE TABLE principals (
        arn        TEXT COLLATE "C" NOT NULL PRIMARY KEY,
        account_id TEXT   NOT NULL,
        type       TEXT   NOT NULL,
        name       TEXT   NOT NULL,
        path       TEXT   NOT NULL,
        created_at BIGINT NOT NULL
      );
      CREATE TABLE principal_policies (
        principal_arn TEXT COLLATE "C" NOT NULL REFERENCES principals (arn) ON DELETE CASCADE,
        policy_name   TEXT COLLATE "C" NOT NULL,
        document      TEXT NOT NULL,
        PRIMARY KEY (principal_arn, policy_name)
      );
      -- The secret is only ever stored sealed under the HSM's internal key (SecretSealer).
      CREATE TABLE access_keys (
        access_key_id TEXT COLLATE "C" NOT NULL PRIMARY KEY,
        principal_arn TEXT COLLATE "C" NOT NULL REFERENCES principals (arn) ON DELETE CASCADE,
        sealed_secret TEXT   NOT NULL,
        status        TEXT   NOT NULL,
        created_at    BIGINT NOT NULL
      );
      CREATE INDEX access_keys_principal ON access_keys (principal_arn);
      -- Ids of deleted access keys (no secret): a copy left in a credentials file must never come back.
      CREATE TABLE deleted_access_keys (
        access_key_id TEXT   NOT NULL PRIMARY KEY,
        deleted_at    BIGINT NOT NULL
      );
      CREATE TABLE grants (
        grant_id           TEXT COLLATE "C" NOT NULL PRIMARY KEY,
        key_id             TEXT COLLATE "C" NOT NULL REFERENCES keys (key_id) ON DELETE CASCADE,
        name               TEXT,
        grantee_principal  TEXT   NOT NULL,
        retiring_principal TEXT,
        operations         TEXT   NOT NULL,
        constraints        TEXT,
        issuing_account    TEXT   NOT NULL,
        created_at         BIGINT NOT NULL,
        -- Per-grant HMAC key that makes grant tokens unforgeable (not a caller secret).
        token_key          TEXT   NOT NULL
      );
      CREATE INDEX grants_key ON grants (key_id, grant_id);
      CREATE INDEX grants_retiring ON grants (retiring_principal, grant_id);
    `,
  },
  {
    version: 4,
    name: 'public keys of asymmetric keys',
    sql: `ALTER TABLE keys ADD COLUMN public_key TEXT;`,
  },
  {
    version: 5,
    name: 'key materials and rotation schedules',
    sql: `
      CREATE TABLE key_materials (
        key_id        TEXT COLLATE "C" NOT NULL REFERENCES keys (key_id) ON DELETE CASCADE,
        ordinal       INTEGER NOT NULL,
        -- Unique across keys, like keys.backing_key_id.
        material_id   TEXT    NOT NULL UNIQUE,
        created_at    BIGINT  NOT NULL,
        rotation_date BIGINT,
        rotation_type TEXT,
        PRIMARY KEY (key_id, ordinal)
      );
      INSERT INTO key_materials (key_id, ordinal, material_id, created_at)
        SELECT key_id, 1, backing_key_id, created_at FROM keys;
      CREATE TABLE rotation_schedules (
        key_id           TEXT COLLATE "C" NOT NULL PRIMARY KEY REFERENCES keys (key_id) ON DELETE CASCADE,
        period_days      INTEGER,
        next_rotation_at BIGINT,
        on_demand_count  INTEGER NOT NULL DEFAULT 0
      );
      CREATE INDEX rotation_due ON rotation_schedules (next_rotation_at) WHERE period_days IS NOT NULL;
    `,
  },
  {
    version: 6,
    name: 'imported key material',
    sql: `
      ALTER TABLE key_materials ADD COLUMN import_state TEXT
        CHECK (import_state IS NULL OR import_state IN ('IMPORTED', 'PENDING_IMPORT'));
      ALTER TABLE key_materials ADD COLUMN expiration_model TEXT;
      ALTER TABLE key_materials ADD COLUMN valid_to BIGINT;
      ALTER TABLE key_materials ADD COLUMN description TEXT;
      CREATE INDEX key_materials_expiry ON key_materials (valid_to) WHERE import_state = 'IMPORTED' AND valid_to IS NOT NULL;
      -- No foreign key: the HSM objects outlive a deleted key until their expiry removes them.
      CREATE TABLE import_wrapping_keys (
        wrapping_key_id TEXT   NOT NULL PRIMARY KEY,
        key_id          TEXT   NOT NULL,
        valid_to        BIGINT NOT NULL
      );
      CREATE INDEX import_wrapping_keys_expiry ON import_wrapping_keys (valid_to);
    `,
  },
  {
    version: 7,
    name: 'symmetric suites',
    sql: `
      ALTER TABLE key_materials ADD COLUMN suite TEXT
        CHECK (suite IS NULL OR suite IN ('AES_256_GCM', 'AES_256_CBC_HMAC_SHA_256'));
      ALTER TABLE keys ADD COLUMN symmetric_suite TEXT
        CHECK (symmetric_suite IS NULL OR symmetric_suite IN ('AES_256_GCM', 'AES_256_CBC_HMAC_SHA_256'));
    `,
  },
  {
    version: 8,
    name: 'xks proxy keys and credentials',
    sql: `
      CREATE TABLE xks_keys (
        xks_key_id          TEXT COLLATE "C" NOT NULL PRIMARY KEY,
        uri_path            TEXT COLLATE "C" NOT NULL,
        custom_key_store_id TEXT,
        backing_key_id      TEXT   NOT NULL,
        usage               TEXT   NOT NULL,
        status              TEXT   NOT NULL CHECK (status IN ('ENABLED', 'DISABLED')),
        description         TEXT   NOT NULL,
        created_at          BIGINT NOT NULL
      );
      CREATE INDEX xks_keys_by_path ON xks_keys (uri_path, xks_key_id);
      CREATE TABLE xks_credentials (
        access_key_id TEXT COLLATE "C" NOT NULL PRIMARY KEY,
        uri_path      TEXT COLLATE "C" NOT NULL,
        sealed_secret TEXT   NOT NULL,
        created_at    BIGINT NOT NULL
      );
      CREATE INDEX xks_credentials_by_path ON xks_credentials (uri_path, created_at);
    `,
  },
  {
    version: 9,
    name: 'external key stores',
    sql: `
      ALTER TABLE custom_key_stores ADD COLUMN xks_proxy TEXT;
      ALTER TABLE keys ADD COLUMN xks_key_id TEXT;
      CREATE UNIQUE INDEX keys_xks_key_id ON keys (custom_key_store_id, xks_key_id) WHERE xks_key_id IS NOT NULL;
    `,
  },
  {
    version: 10,
    name: 'work claims, one store per cluster',
    sql: `
      CREATE TABLE work_claims (
        item        TEXT   NOT NULL PRIMARY KEY,
        owner       TEXT   NOT NULL,
        lease_until BIGINT NOT NULL
      );
      CREATE UNIQUE INDEX custom_key_stores_cluster ON custom_key_stores (cluster_id) WHERE type = 'AWS_CLOUDHSM';

      -- Nodes keep some tables in memory (access keys, XKS credentials, XKS keys, which custom key
      -- stores to connect): every change, by any node or by hand, tells every node which table
      -- changed. NOTIFY is sent at commit and collapsed within a transaction (store/postgres/change-feed.ts).
      CREATE FUNCTION keybridge_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM pg_notify('keybridge_changes', TG_ARGV[0]);
        RETURN NULL;
      END;
      $$;
      CREATE TRIGGER principals_changed AFTER INSERT OR UPDATE OR DELETE ON principals
        FOR EACH STATEMENT EXECUTE FUNCTION keybridge_notify_change('principals');
      CREATE TRIGGER principal_policies_changed AFTER INSERT OR UPDATE OR DELETE ON principal_policies
        FOR EACH STATEMENT EXECUTE FUNCTION keybridge_notify_change('principals');
      CREATE TRIGGER access_keys_changed AFTER INSERT OR UPDATE OR DELETE ON access_keys
        FOR EACH STATEMENT EXECUTE FUNCTION keybridge_notify_change('principals');
      CREATE TRIGGER xks_credentials_changed AFTER INSERT OR UPDATE OR DELETE ON xks_credentials
        FOR EACH STATEMENT EXECUTE FUNCTION keybridge_notify_change('xks-credentials');
      CREATE TRIGGER xks_keys_changed AFTER INSERT OR UPDATE OR DELETE ON xks_keys
        FOR EACH STATEMENT EXECUTE FUNCTION keybridge_notify_change('xks-keys');
      CREATE TRIGGER custom_key_stores_changed AFTER INSERT OR UPDATE OR DELETE ON custom_key_stores
        FOR EACH STATEMENT EXECUTE FUNCTION keybridge_notify_change('custom-key-stores');
    `,
  },
  {
    version: 11,
    name: 'node reports',
    sql: `
      CREATE TABLE node_reports (
        node        TEXT COLLATE "C" NOT NULL,
        subject     TEXT COLLATE "C" NOT NULL,
        report      TEXT   NOT NULL,
        reported_at BIGINT NOT NULL,
        PRIMARY KEY (subject, node)
      );
    `,
  },
];

/** The ledger of applied migrations: `schema_migrations` for the store, another table for another schema (the audit trail's). */
function createLedger(ledger: string): string {
  return `
    CREATE TABLE IF NOT EXISTS ${ledger} (
      version    INTEGER NOT NULL PRIMARY KEY,
      name       TEXT    NOT NULL,
      applied_at BIGINT  NOT NULL
    )
  `;
}

/**
 * Applies every migration not yet recorded, in order, in one transaction under the migration
 * advisory lock. Returns the versions it applied (empty when the schema was current). Throws when
 * the database records a version this build does not know. `client` must not be in a transaction.
 * `ledger` names the table that records them (one per schema sharing the database).
 */
export async function applyPostgresMigrations(
  client: PoolClient,
  migrations: readonly PostgresMigration[] = POSTGRES_MIGRATIONS,
  now: () => number = Date.now,
  ledger = 'schema_migrations',
): Promise<number[]> {
  if (!/^[a-z_]+$/.test(ledger)) throw new Error(`internal: ledger table name ${JSON.stringify(ledger)}`);
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`migration #${i} has version ${m.version}; expected ${i + 1}`);
  });
  await client.query('BEGIN');
  try {
    // Released by COMMIT or ROLLBACK; a second node blocks here until the first is done.
    await client.query(`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK_KEY})`);
    await client.query(createLedger(ledger));
    const { rows } = await client.query<{ version: number }>(`SELECT version FROM ${ledger}`);
    const applied = new Set(rows.map((r) => Number(r.version)));
    const known = new Set(migrations.map((m) => m.version));
    const unknown = [...applied].filter((v) => !known.has(v));
    if (unknown.length > 0) {
      throw new Error(`database has schema migration(s) ${unknown.join(', ')} unknown to this build; it was written by a newer keybridge`);
    }
    const done: number[] = [];
    for (const m of migrations) {
      if (applied.has(m.version)) continue;
      await client.query(m.sql);
      await client.query(`INSERT INTO ${ledger} (version, name, applied_at) VALUES ($1, $2, $3)`, [m.version, m.name, now()]);
      done.push(m.version);
    }
    await client.query('COMMIT');
    return done;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}
