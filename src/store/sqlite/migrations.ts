// Schema migrations for the SQLite metadata store, applied by SqliteStore.open.
//
// Each migration has a number and runs once; applied numbers are recorded in `schema_migrations`
// in the same transaction as the migration itself, so a crash leaves either all of a migration
// or none of it. The whole run takes the write lock up front (BEGIN IMMEDIATE), so two processes
// opening the same file cannot both apply migration N.
//
// WARNING: never edit or renumber a migration that has shipped; add a new one. A database whose
// highest applied number is unknown to this build was written by a newer keybridge and is refused
// rather than silently used with a schema we do not understand.
//
// WARNING: `PRAGMA foreign_keys` cannot change inside a transaction. A future migration that
// rebuilds a table (the SQLite way to alter constraints) must follow the "12-step" procedure
// and cannot rely on switching foreign keys off here.

import type Database from 'better-sqlite3';

export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

// Column types are STRICT so a wrong-typed bind fails loudly instead of being stored as text.
// Timestamps are epoch milliseconds (INTEGER, exact up to 2^53 in JS).
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'keys, aliases, tags',
    sql: `
      CREATE TABLE keys (
        key_id              TEXT    NOT NULL PRIMARY KEY,
        arn                 TEXT    NOT NULL,
        account_id          TEXT    NOT NULL,
        region              TEXT    NOT NULL,
        created_at          INTEGER NOT NULL,
        description         TEXT    NOT NULL,
        key_usage           TEXT    NOT NULL,
        key_spec            TEXT    NOT NULL,
        origin              TEXT    NOT NULL,
        state               TEXT    NOT NULL,
        deletion_date       INTEGER,
        pending_window_days INTEGER,
        policy              TEXT    NOT NULL,
        -- Unique: two key records naming one HSM object would let deleting one destroy the
        -- other's material.
        backing_key_id      TEXT    NOT NULL UNIQUE
      ) STRICT;

      -- Serves the deletion sweeper without scanning every key.
      CREATE INDEX keys_pending_deletion ON keys (deletion_date)
        WHERE state = 'PendingDeletion';

      CREATE TABLE aliases (
        alias_name TEXT    NOT NULL PRIMARY KEY,
        key_id     TEXT    NOT NULL REFERENCES keys (key_id) ON DELETE CASCADE,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      ) STRICT;

      -- Serves listAliases/countAliases by key and the cascade on key deletion.
      CREATE INDEX aliases_key_id ON aliases (key_id, alias_name);

      CREATE TABLE tags (
        key_id    TEXT NOT NULL REFERENCES keys (key_id) ON DELETE CASCADE,
        tag_key   TEXT NOT NULL,
        tag_value TEXT NOT NULL,
        PRIMARY KEY (key_id, tag_key)
      ) STRICT;
    `,
  },
  {
    version: 2,
    name: 'custom key stores',
    sql: `
      CREATE TABLE custom_key_stores (
        id                       TEXT    NOT NULL PRIMARY KEY,
        name                     TEXT    NOT NULL UNIQUE,
        type                     TEXT    NOT NULL,
        cluster_id               TEXT    NOT NULL,
        trust_anchor_certificate TEXT    NOT NULL,
        sealed_password          TEXT    NOT NULL,
        created_at               INTEGER NOT NULL,
        connection_state         TEXT    NOT NULL,
        connection_error_code    TEXT,
        want_connected           INTEGER NOT NULL CHECK (want_connected IN (0, 1))
      ) STRICT;

      -- Existing keys get NULL (the default key store). No ON DELETE action: deleting a custom
      -- key store that keys still refer to must fail. ADD COLUMN with REFERENCES is allowed
      -- because the column's default is NULL.
      ALTER TABLE keys ADD COLUMN custom_key_store_id TEXT REFERENCES custom_key_stores (id);

      -- Serves countKeysInCustomKeyStore and the foreign-key check when a store is deleted.
      CREATE INDEX keys_custom_key_store_id ON keys (custom_key_store_id);
    `,
  },
  {
    version: 3,
    name: 'principals, access keys, grants',
    sql: `
      CREATE TABLE principals (
        arn        TEXT    NOT NULL PRIMARY KEY,
        account_id TEXT    NOT NULL,
        type       TEXT    NOT NULL,
        name       TEXT    NOT NULL,
        path       TEXT    NOT NULL,
        created_at INTEGER NOT NULL
      ) STRICT;

      -- Documents are stored as given; the policy parser validates them before they get here.
      CREATE TABLE principal_policies (
        principal_arn TEXT NOT NULL REFERENCES principals (arn) ON DELETE CASCADE,
        policy_name   TEXT NOT NULL,
        document      TEXT NOT NULL,
        PRIMARY KEY (principal_arn, policy_name)
      ) STRICT;

      -- The secret is only ever stored sealed under the HSM's internal key (SecretSealer).
      CREATE TABLE access_keys (
        access_key_id TEXT    NOT NULL PRIMARY KEY,
        principal_arn TEXT    NOT NULL REFERENCES principals (arn) ON DELETE CASCADE,
        sealed_secret TEXT    NOT NULL,
        status        TEXT    NOT NULL,
        created_at    INTEGER NOT NULL
      ) STRICT;

      CREATE INDEX access_keys_principal ON access_keys (principal_arn);

      -- Ids of deleted access keys (no secret): a copy left behind in a credentials file must
      -- never come back to life as some other principal.
      CREATE TABLE deleted_access_keys (
        access_key_id TEXT    NOT NULL PRIMARY KEY,
        deleted_at    INTEGER NOT NULL
      ) STRICT;

      CREATE TABLE grants (
        grant_id           TEXT    NOT NULL PRIMARY KEY,
        key_id             TEXT    NOT NULL REFERENCES keys (key_id) ON DELETE CASCADE,
        name               TEXT,
        grantee_principal  TEXT    NOT NULL,
        retiring_principal TEXT,
        operations         TEXT    NOT NULL,
        constraints        TEXT,
        issuing_account    TEXT    NOT NULL,
        created_at         INTEGER NOT NULL,
        -- Per-grant HMAC key that makes grant tokens unforgeable (not a caller secret).
        token_key          TEXT    NOT NULL
      ) STRICT;

      CREATE INDEX grants_key ON grants (key_id, grant_id);
      CREATE INDEX grants_retiring ON grants (retiring_principal, grant_id);
    `,
  },
  {
    version: 4,
    name: 'public keys of asymmetric keys',
    sql: `
      -- DER SubjectPublicKeyInfo (base64) of asymmetric keys, read from the HSM at CreateKey;
      -- NULL for symmetric and HMAC keys. key_usage and key_spec already hold any AWS value.
      ALTER TABLE keys ADD COLUMN public_key TEXT;
    `,
  },
  {
    version: 5,
    name: 'key materials and rotation schedules',
    sql: `
      -- Every HSM object a key has had as its material, the first one included; keys.backing_key_id
      -- names the current one. Old materials stay for decryption (the ciphertext names its own).
      CREATE TABLE key_materials (
        key_id        TEXT    NOT NULL REFERENCES keys (key_id) ON DELETE CASCADE,
        ordinal       INTEGER NOT NULL,
        -- hex of the HSM object's CKA_ID: AWS's KeyMaterialId. Unique across keys, like
        -- keys.backing_key_id: destroying one key's material must never touch another's.
        material_id   TEXT    NOT NULL UNIQUE,
        created_at    INTEGER NOT NULL,
        -- NULL for the first material; AUTOMATIC or ON_DEMAND for a rotation's.
        rotation_date INTEGER,
        rotation_type TEXT,
        PRIMARY KEY (key_id, ordinal)
      ) STRICT;
      INSERT INTO key_materials (key_id, ordinal, material_id, created_at)
        SELECT key_id, 1, backing_key_id, created_at FROM keys;

      -- Automatic rotation (period_days NULL = off) and the on-demand count, per key.
      CREATE TABLE rotation_schedules (
        key_id             TEXT    NOT NULL PRIMARY KEY REFERENCES keys (key_id) ON DELETE CASCADE,
        period_days        INTEGER,
        next_rotation_at   INTEGER,
        on_demand_count    INTEGER NOT NULL DEFAULT 0
      ) STRICT;
      -- Serves the rotation scheduler without scanning every key.
      CREATE INDEX rotation_due ON rotation_schedules (next_rotation_at) WHERE period_days IS NOT NULL;
    `,
  },
  {
    version: 6,
    name: 'imported key material',
    sql: `
      -- Imported material (keys of origin EXTERNAL): NULL import_state for generated material.
      -- IMPORTED while the HSM holds it; PENDING_IMPORT after DeleteImportedKeyMaterial or expiry,
      -- kept so that a re-import of the same material gets the same id back.
      ALTER TABLE key_materials ADD COLUMN import_state TEXT
        CHECK (import_state IS NULL OR import_state IN ('IMPORTED', 'PENDING_IMPORT'));
      ALTER TABLE key_materials ADD COLUMN expiration_model TEXT;
      ALTER TABLE key_materials ADD COLUMN valid_to INTEGER;
      ALTER TABLE key_materials ADD COLUMN description TEXT;
      -- Serves the expiry job without scanning every material.
      CREATE INDEX key_materials_expiry ON key_materials (valid_to) WHERE import_state = 'IMPORTED' AND valid_to IS NOT NULL;

      -- The RSA key pairs GetParametersForImport made in the HSM; destroyed once expired. No
      -- foreign key: the HSM objects outlive a deleted key until their expiry removes them.
      CREATE TABLE import_wrapping_keys (
        wrapping_key_id TEXT    NOT NULL PRIMARY KEY,
        key_id          TEXT    NOT NULL,
        valid_to        INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX import_wrapping_keys_expiry ON import_wrapping_keys (valid_to);
    `,
  },
  {
    version: 7,
    name: 'symmetric suites',
    sql: `
      -- How a symmetric material encrypts (docs/ciphertext-format.md). NULL is AES_256_GCM, what
      -- every material made before this version is; keys.symmetric_suite is the current material's.
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
      -- The XKS proxy's external keys (src/ports/xks-store.ts). usage is a comma-separated subset
      -- of ENCRYPT,DECRYPT. No foreign key to custom_key_stores: a store is not deleted while its
      -- keys exist (the XKS service checks), and the key's HSM object is what matters.
      CREATE TABLE xks_keys (
        xks_key_id          TEXT    NOT NULL PRIMARY KEY,
        uri_path            TEXT    NOT NULL,
        custom_key_store_id TEXT,
        backing_key_id      TEXT    NOT NULL,
        usage               TEXT    NOT NULL,
        status              TEXT    NOT NULL CHECK (status IN ('ENABLED', 'DISABLED')),
        description         TEXT    NOT NULL,
        created_at          INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX xks_keys_by_path ON xks_keys (uri_path, xks_key_id);

      -- SigV4 credential sets AWS KMS signs proxy requests with; the secret is sealed.
      CREATE TABLE xks_credentials (
        access_key_id TEXT    NOT NULL PRIMARY KEY,
        uri_path      TEXT    NOT NULL,
        sealed_secret TEXT    NOT NULL,
        created_at    INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX xks_credentials_by_path ON xks_credentials (uri_path, created_at);
    `,
  },
  {
    version: 9,
    name: 'external key stores',
    sql: `
      -- EXTERNAL_KEY_STORE custom key stores: how to reach the proxy (JSON of
      -- XksProxyConfiguration; the credential's secret is in sealed_password). NULL for CloudHSM stores.
      ALTER TABLE custom_key_stores ADD COLUMN xks_proxy TEXT;
      -- Keys of origin EXTERNAL_KEY_STORE: the external key's id at the proxy. One KMS key per
      -- external key in a store (AWS's XksKeyAlreadyInUseException), held by the index.
      ALTER TABLE keys ADD COLUMN xks_key_id TEXT;
      CREATE UNIQUE INDEX keys_xks_key_id ON keys (custom_key_store_id, xks_key_id) WHERE xks_key_id IS NOT NULL;
    `,
  },
  {
    version: 10,
    name: 'work claims, one store per cluster',
    sql: `
      -- Background work items (a key to delete, to rotate, a material to expire) claimed by one
      -- node until lease_until (epoch ms); another node takes an item over once its lease ends.
      CREATE TABLE work_claims (
        item        TEXT    NOT NULL PRIMARY KEY,
        owner       TEXT    NOT NULL,
        lease_until INTEGER NOT NULL
      ) STRICT;
      -- One CloudHSM-type custom key store per cluster (AWS's CloudHsmClusterInUseException), held
      -- by the database even when two nodes create stores at the same moment.
      CREATE UNIQUE INDEX custom_key_stores_cluster ON custom_key_stores (cluster_id) WHERE type = 'AWS_CLOUDHSM';
    `,
  },
  {
    version: 11,
    name: 'node reports',
    sql: `
      -- What each node reports about itself for operators (services/node-reports.ts): one JSON
      -- report per node and subject (a custom key store's member health), replaced every few
      -- seconds; readers ignore stale rows and nodes remove their own when they stop.
      CREATE TABLE node_reports (
        node        TEXT    NOT NULL,
        subject     TEXT    NOT NULL,
        report      TEXT    NOT NULL,
        reported_at INTEGER NOT NULL,
        PRIMARY KEY (subject, node)
      ) STRICT;
    `,
  },
];

const CREATE_LEDGER = `
  CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER NOT NULL PRIMARY KEY,
    name       TEXT    NOT NULL,
    applied_at INTEGER NOT NULL
  ) STRICT
`;

/**
 * Applies every migration in `migrations` not yet recorded, in order, in one immediate
 * transaction. Returns the versions it applied (empty when the schema was already current).
 * Throws when the database records a version this build does not know.
 */
export function applyMigrations(
  db: Database.Database,
  migrations: readonly Migration[] = MIGRATIONS,
  now: () => number = Date.now,
): number[] {
  assertWellFormed(migrations);
  const run = db.transaction((): number[] => {
    db.exec(CREATE_LEDGER);
    const applied = new Set(
      db.prepare<[], number>('SELECT version FROM schema_migrations').pluck().all(),
    );
    const known = new Set(migrations.map((m) => m.version));
    const unknown = [...applied].filter((v) => !known.has(v));
    if (unknown.length > 0) {
      throw new Error(
        `database has schema migration(s) ${unknown.join(', ')} unknown to this build; ` +
          'it was written by a newer keybridge',
      );
    }
    const record = db.prepare<[number, string, number]>(
      'INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)',
    );
    const done: number[] = [];
    for (const m of migrations) {
      if (applied.has(m.version)) continue;
      db.exec(m.sql);
      record.run(m.version, m.name, now());
      done.push(m.version);
    }
    return done;
  });
  return run.immediate();
}

/** Versions must be 1, 2, 3... in order: a gap or a duplicate is a merge mistake. */
function assertWellFormed(migrations: readonly Migration[]): void {
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) {
      throw new Error(`migration #${i} has version ${m.version}; expected ${i + 1}`);
    }
  });
}
