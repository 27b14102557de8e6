// The MetadataStore port on PostgreSQL (node-postgres), for several keybridge nodes sharing one
// database (docs/multi-node.md).
//
// Every method is one statement (atomic on its own) or one READ COMMITTED transaction that locks
// the rows it reads before writing (SELECT … FOR UPDATE), so nodes running the same method on the
// same key at once queue instead of overwriting each other. A resolved promise means committed;
// with PostgreSQL's default synchronous_commit that is flushed to its WAL (the port's durability).
// Ordered columns use COLLATE "C" (migrations.ts), the byte order the store contract pins.
//
// The row shapes and their mapping are shared with the SQLite adapter (store/rows.ts).

import type pg from 'pg';
import type { CustomKeyStoreRecord } from '../../domain/custom-key-store.js';
import type { GrantRecord } from '../../domain/grant.js';
import type { KeyRecord } from '../../domain/key.js';
import {
  StoreError,
  type AccessKeyRecord,
  type AccessKeyStatus,
  type AliasRecord,
  type CustomKeyStorePatch,
  type ImportWrappingKeyRecord,
  type KeyMaterialImport,
  type KeyMaterialRecord,
  type KeyPatch,
  type MetadataStore,
  type NewKeyMaterial,
  type PerKeyLimit,
  type PrincipalRecord,
  type RotationSchedule,
  type Tag,
  type NodeReport,
} from '../../ports/store.js';
import type { XksStore } from '../../ports/xks-store.js';
import {
  accessKeyToRow,
  customKeyStoreToRow,
  grantToRow,
  keyToRow,
  principalToRow,
  rowToAccessKey,
  rowToAlias,
  rowToCustomKeyStore,
  rowToGrant,
  rowToImportWrappingKey,
  rowToKey,
  rowToKeyMaterial,
  rowToPrincipal,
  type AccessKeyRow,
  type AliasRow,
  type CustomKeyStoreRow,
  type GrantRow,
  type ImportWrappingKeyRow,
  type KeyMaterialRow,
  type KeyRow,
  type PrincipalPolicyRow,
  type PrincipalRow,
  type RotationScheduleRow,
  type TagRow,
} from '../rows.js';
import { createPool, insertStatement, inTransaction, queryRows, toStoreError, type PostgresConnectionOptions } from './connection.js';
import { applyPostgresMigrations } from './migrations.js';
import { applyCustomKeyStorePatch, applyKeyPatch } from '../patches.js';
import { PostgresXksStore } from './postgres-xks-store.js';
import { PostgresChangeFeed } from './change-feed.js';

/** Advisory lock key serialising custom key store creations under a count limit (any constant: "kbcks" in ASCII as a number). */
const CUSTOM_KEY_STORE_COUNT_LOCK = '461212183411';

const KEY_COLUMNS = [
  'key_id', 'arn', 'account_id', 'region', 'created_at', 'description', 'key_usage', 'key_spec', 'origin', 'state',
  'deletion_date', 'pending_window_days', 'policy', 'backing_key_id', 'custom_key_store_id', 'public_key', 'symmetric_suite', 'xks_key_id',
] as const satisfies readonly (keyof KeyRow)[];
const KEY_COLS = KEY_COLUMNS.join(', ');
const MATERIAL_COLUMNS = [
  'key_id', 'ordinal', 'material_id', 'created_at', 'rotation_date', 'rotation_type', 'import_state', 'expiration_model', 'valid_to', 'description', 'suite',
] as const satisfies readonly (keyof KeyMaterialRow)[];
const MATERIAL_COLS = MATERIAL_COLUMNS.join(', ');
const ALIAS_COLS = 'alias_name, key_id, created_at, updated_at';
// want_connected is a BOOLEAN here and 0/1 in the shared row shape.
const CKS_COLS =
  'id, name, type, cluster_id, trust_anchor_certificate, sealed_password, created_at, connection_state, connection_error_code, ' +
  'want_connected::int AS want_connected, xks_proxy';
const PRINCIPAL_COLUMNS = ['arn', 'account_id', 'type', 'name', 'path', 'created_at'] as const satisfies readonly (keyof PrincipalRow)[];
const ACCESS_KEY_COLUMNS = ['access_key_id', 'principal_arn', 'sealed_secret', 'status', 'created_at'] as const satisfies readonly (keyof AccessKeyRow)[];
const GRANT_COLUMNS = [
  'grant_id', 'key_id', 'name', 'grantee_principal', 'retiring_principal', 'operations', 'constraints', 'issuing_account', 'created_at', 'token_key',
] as const satisfies readonly (keyof GrantRow)[];
const GRANT_COLS = GRANT_COLUMNS.join(', ');

/** The import columns of a generated material's key_materials row. */
const NOT_IMPORTED = { import_state: null, expiration_model: null, valid_to: null, description: null } as const;

export class PostgresStore implements MetadataStore {
  readonly #pool: pg.Pool;
  #closed = false;
  /** The XKS proxy's records in the same database (migration 8). */
  readonly xks: XksStore;
  /** What every node's writes notify (migration 10's triggers). */
  readonly changes: PostgresChangeFeed;

  private constructor(pool: pg.Pool, changes: PostgresChangeFeed) {
    this.#pool = pool;
    this.changes = changes;
    this.xks = new PostgresXksStore(pool, (operation) => this.#checkOpen(operation));
  }

  /**
   * Connects, applies pending migrations (serialised across nodes by an advisory lock) and returns
   * the store. Fails with STORE_FAILED when the server cannot be reached or the schema is newer
   * than this build.
   */
  static async open(options: PostgresConnectionOptions): Promise<PostgresStore> {
    const pool = createPool(options);
    const changes = new PostgresChangeFeed(options);
    try {
      const client = await pool.connect();
      try {
        await applyPostgresMigrations(client);
      } finally {
        client.release();
      }
      await changes.start();
      return new PostgresStore(pool, changes);
    } catch (err) {
      await changes.close();
      await pool.end().catch(() => undefined);
      throw new StoreError('STORE_FAILED', `cannot open the PostgreSQL metadata store: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  }

  // ---- keys -------------------------------------------------------------------------------------

  async createKey(key: KeyRecord, tags: readonly Tag[]): Promise<void> {
    const row = keyToRow(key);
    await this.#tx('createKey', async (c) => {
      const insert = insertStatement('keys', KEY_COLUMNS, row);
      await c.query(insert.text, insert.values);
      // A key of origin EXTERNAL gets its first material when it is imported.
      if (row.origin !== 'EXTERNAL') {
        await insertMaterial(c, {
          ...NOT_IMPORTED,
          key_id: row.key_id,
          ordinal: 1,
          material_id: row.backing_key_id,
          created_at: row.created_at,
          rotation_date: null,
          rotation_type: null,
          suite: row.symmetric_suite,
        });
      }
      await upsertTags(c, row.key_id, tags);
    });
  }

  async getKey(keyId: string): Promise<KeyRecord | undefined> {
    const { rows } = await this.#query<KeyRow>('getKey', `SELECT ${KEY_COLS} FROM keys WHERE key_id = $1`, [keyId]);
    return rows[0] === undefined ? undefined : rowToKey(rows[0]);
  }

  async listKeys(afterKeyId: string | undefined, limit: number): Promise<KeyRecord[]> {
    const { rows } = await this.#query<KeyRow>(
      'listKeys',
      `SELECT ${KEY_COLS} FROM keys WHERE ($1::text IS NULL OR key_id > $1) ORDER BY key_id LIMIT $2`,
      [afterKeyId ?? null, checkLimit(limit)],
    );
    return rows.map(rowToKey);
  }

  async updateKey(keyId: string, patch: KeyPatch): Promise<KeyRecord> {
    return this.#tx('updateKey', async (c) => {
      const current = await lockKey(c, keyId);
      const next = applyKeyPatch(rowToKey(current), patch);
      await c.query(
        'UPDATE keys SET state = $2, description = $3, deletion_date = $4, pending_window_days = $5, policy = $6 WHERE key_id = $1',
        [keyId, next.state, next.description, next.deletionDate, next.pendingWindowDays, next.policy],
      );
      return next;
    });
  }

  async deleteKey(keyId: string): Promise<void> {
    // One statement; ON DELETE CASCADE removes the aliases, tags, grants, materials and schedule.
    await this.#query('deleteKey', 'DELETE FROM keys WHERE key_id = $1', [keyId]);
  }

  async keysDueForDeletion(now: number): Promise<KeyRecord[]> {
    const { rows } = await this.#query<KeyRow>(
      'keysDueForDeletion',
      `SELECT ${KEY_COLS} FROM keys WHERE state = 'PendingDeletion' AND deletion_date <= $1 ORDER BY deletion_date, key_id`,
      [now],
    );
    return rows.map(rowToKey);
  }

  async allBackingKeyIds(): Promise<Array<{ keyId: string; backingKeyId: string }>> {
    // Imported material that was deleted or expired is not in the HSM, by design.
    const { rows } = await this.#query<{ key_id: string; material_id: string }>(
      'allBackingKeyIds',
      "SELECT key_id, material_id FROM key_materials WHERE import_state IS DISTINCT FROM 'PENDING_IMPORT' ORDER BY key_id, ordinal",
    );
    return rows.map((r) => ({ keyId: r.key_id, backingKeyId: r.material_id }));
  }

  // ---- materials, rotation, import ---------------------------------------------------------------

  async listKeyMaterials(keyId: string): Promise<KeyMaterialRecord[]> {
    const { rows } = await this.#query<KeyMaterialRow>('listKeyMaterials', `SELECT ${MATERIAL_COLS} FROM key_materials WHERE key_id = $1 ORDER BY ordinal`, [keyId]);
    return rows.map(rowToKeyMaterial);
  }

  async getRotationSchedule(keyId: string): Promise<RotationSchedule> {
    const { rows } = await this.#query<RotationScheduleRow>(
      'getRotationSchedule',
      'SELECT key_id, period_days, next_rotation_at, on_demand_count FROM rotation_schedules WHERE key_id = $1',
      [keyId],
    );
    const row = rows[0];
    return { periodDays: row?.period_days ?? null, nextRotationAt: row?.next_rotation_at ?? null, onDemandRotations: row?.on_demand_count ?? 0 };
  }

  async setRotationSchedule(keyId: string, periodDays: number | null, nextRotationAt: number | null): Promise<void> {
    await this.#tx('setRotationSchedule', async (c) => {
      await lockKey(c, keyId);
      await c.query(
        'INSERT INTO rotation_schedules (key_id, period_days, next_rotation_at) VALUES ($1, $2, $3) ' +
          'ON CONFLICT (key_id) DO UPDATE SET period_days = excluded.period_days, next_rotation_at = excluded.next_rotation_at',
        [keyId, periodDays, nextRotationAt],
      );
    });
  }

  async rotateKeyMaterial(keyId: string, fromMaterialId: string, material: NewKeyMaterial, nextRotationAt?: number): Promise<KeyRecord> {
    return this.#tx('rotateKeyMaterial', async (c) => {
      const current = await lockKey(c, keyId);
      if (current.backing_key_id !== fromMaterialId) throw new StoreError('CONFLICT', `key ${keyId} was rotated meanwhile`);
      const { rows } = await c.query<{ last: number }>('SELECT COALESCE(MAX(ordinal), 0) AS last FROM key_materials WHERE key_id = $1', [keyId]);
      await insertMaterial(c, {
        ...NOT_IMPORTED,
        key_id: keyId,
        ordinal: rows[0]!.last + 1,
        material_id: material.materialId,
        created_at: material.createdAt,
        rotation_date: material.rotationDate,
        rotation_type: material.rotationType,
        suite: material.suite ?? null,
      });
      await c.query('UPDATE keys SET backing_key_id = $2, symmetric_suite = $3 WHERE key_id = $1', [keyId, material.materialId, material.suite ?? null]);
      if (material.rotationType === 'ON_DEMAND') {
        await c.query(
          'INSERT INTO rotation_schedules (key_id, on_demand_count) VALUES ($1, 1) ON CONFLICT (key_id) DO UPDATE SET on_demand_count = rotation_schedules.on_demand_count + 1',
          [keyId],
        );
      }
      if (nextRotationAt !== undefined) await c.query('UPDATE rotation_schedules SET next_rotation_at = $2 WHERE key_id = $1', [keyId, nextRotationAt]);
      return rowToKey({ ...current, backing_key_id: material.materialId, symmetric_suite: material.suite ?? null });
    });
  }

  async keysDueForRotation(now: number): Promise<KeyRecord[]> {
    const { rows } = await this.#query<KeyRow>(
      'keysDueForRotation',
      `SELECT ${KEY_COLUMNS.map((c) => `k.${c}`).join(', ')} FROM rotation_schedules r JOIN keys k USING (key_id) ` +
        "WHERE r.period_days IS NOT NULL AND r.next_rotation_at <= $1 AND k.state = 'Enabled' ORDER BY r.next_rotation_at, k.key_id",
      [now],
    );
    return rows.map(rowToKey);
  }

  async recordImportedMaterial(keyId: string, material: KeyMaterialImport): Promise<KeyRecord> {
    return this.#tx('recordImportedMaterial', async (c) => {
      const key = rowToKey(await lockKey(c, keyId));
      const existing = await getMaterial(c, keyId, material.materialId);
      if (existing === undefined) {
        if (key.backingKeyId !== '') throw new StoreError('CONFLICT', `key ${keyId} has other key material`);
        await insertMaterial(c, {
          key_id: keyId,
          ordinal: 1,
          material_id: material.materialId,
          created_at: material.importedAt,
          rotation_date: null,
          rotation_type: null,
          import_state: 'IMPORTED',
          expiration_model: material.expirationModel,
          valid_to: material.validTo,
          description: material.description ?? '',
          suite: null,
        });
        await c.query('UPDATE keys SET backing_key_id = $2, symmetric_suite = NULL WHERE key_id = $1', [keyId, material.materialId]);
        if (material.publicKey !== undefined) await c.query('UPDATE keys SET public_key = $2 WHERE key_id = $1', [keyId, material.publicKey]);
      } else {
        await setMaterialImport(c, keyId, material.materialId, 'IMPORTED', material.expirationModel, material.validTo, material.description ?? existing.description);
      }
      if (key.state === 'PendingImport') {
        const { rows } = await c.query<{ n: number }>("SELECT count(*) AS n FROM key_materials WHERE key_id = $1 AND import_state IS DISTINCT FROM 'IMPORTED'", [keyId]);
        if (rows[0]!.n === 0) await c.query("UPDATE keys SET state = 'Enabled' WHERE key_id = $1", [keyId]);
      }
      return rowToKey(await lockKey(c, keyId));
    });
  }

  async recordImportedMaterialDeleted(keyId: string, materialId: string): Promise<KeyRecord> {
    return this.#tx('recordImportedMaterialDeleted', async (c) => {
      const current = await lockKey(c, keyId);
      const existing = await getMaterial(c, keyId, materialId);
      if (existing === undefined || existing.import_state === null) throw new StoreError('NOT_FOUND', `key ${keyId} has no imported material ${materialId}`);
      await setMaterialImport(c, keyId, materialId, 'PENDING_IMPORT', existing.expiration_model, null, existing.description);
      // A key waiting for deletion keeps waiting; any other key waits for its material again.
      if (current.state !== 'PendingDeletion') await c.query("UPDATE keys SET state = 'PendingImport' WHERE key_id = $1", [keyId]);
      return rowToKey(await lockKey(c, keyId));
    });
  }

  async importedMaterialsExpiredBy(now: number): Promise<Array<{ key: KeyRecord; material: KeyMaterialRecord }>> {
    const { rows } = await this.#query<KeyMaterialRow & { key: KeyRow }>(
      'importedMaterialsExpiredBy',
      `SELECT ${MATERIAL_COLUMNS.map((c) => `m.${c}`).join(', ')}, row_to_json(k) AS key FROM key_materials m JOIN keys k USING (key_id) ` +
        "WHERE m.import_state = 'IMPORTED' AND m.valid_to IS NOT NULL AND m.valid_to <= $1 ORDER BY m.valid_to, m.key_id",
      [now],
    );
    // row_to_json keeps BIGINTs as JSON numbers, which are exact for epoch milliseconds.
    return rows.map((r) => ({ key: rowToKey(r.key), material: rowToKeyMaterial(r) }));
  }

  async addImportWrappingKey(record: ImportWrappingKeyRecord): Promise<void> {
    await this.#query('addImportWrappingKey', 'INSERT INTO import_wrapping_keys (wrapping_key_id, key_id, valid_to) VALUES ($1, $2, $3)', [
      record.wrappingKeyId,
      record.keyId,
      record.validTo,
    ]);
  }

  async importWrappingKeysExpiredBy(now: number): Promise<ImportWrappingKeyRecord[]> {
    const { rows } = await this.#query<ImportWrappingKeyRow>(
      'importWrappingKeysExpiredBy',
      'SELECT wrapping_key_id, key_id, valid_to FROM import_wrapping_keys WHERE valid_to <= $1 ORDER BY valid_to',
      [now],
    );
    return rows.map(rowToImportWrappingKey);
  }

  async deleteImportWrappingKey(wrappingKeyId: string): Promise<void> {
    await this.#query('deleteImportWrappingKey', 'DELETE FROM import_wrapping_keys WHERE wrapping_key_id = $1', [wrappingKeyId]);
  }

  // ---- aliases and tags ---------------------------------------------------------------------------

  async getAlias(aliasName: string): Promise<AliasRecord | undefined> {
    const { rows } = await this.#query<AliasRow>('getAlias', `SELECT ${ALIAS_COLS} FROM aliases WHERE alias_name = $1`, [aliasName]);
    return rows[0] === undefined ? undefined : rowToAlias(rows[0]);
  }

  async createAlias(alias: AliasRecord, limits?: PerKeyLimit): Promise<void> {
    const text = `INSERT INTO aliases (${ALIAS_COLS}) VALUES ($1, $2, $3, $4)`;
    const values = [alias.aliasName, alias.keyId, alias.createdAt, alias.updatedAt];
    if (limits === undefined) {
      await this.#query('createAlias', text, values);
      return;
    }
    await this.#tx('createAlias', async (c) => {
      await checkRoom(c, 'aliases', alias.keyId, limits);
      await c.query(text, values);
    });
  }

  async updateAlias(aliasName: string, keyId: string, updatedAt: number, expectedKeyId?: string, limits?: PerKeyLimit): Promise<void> {
    await this.#tx('updateAlias', async (c) => {
      const { rows } = await c.query<{ key_id: string }>('SELECT key_id FROM aliases WHERE alias_name = $1 FOR UPDATE', [aliasName]);
      if (limits !== undefined && rows[0] !== undefined && rows[0].key_id !== keyId) await checkRoom(c, 'aliases', keyId, limits);
      const { rowCount } = await c.query(
        'UPDATE aliases SET key_id = $2, updated_at = $3 WHERE alias_name = $1 AND ($4::text IS NULL OR key_id = $4)',
        [aliasName, keyId, updatedAt, expectedKeyId ?? null],
      );
      if (rowCount === 0) {
        throw new StoreError('NOT_FOUND', expectedKeyId === undefined ? `alias ${aliasName} does not exist` : `alias ${aliasName} does not point at key ${expectedKeyId}`);
      }
    });
  }

  async deleteAlias(aliasName: string, expectedKeyId?: string): Promise<boolean> {
    const { rowCount } = await this.#query('deleteAlias', 'DELETE FROM aliases WHERE alias_name = $1 AND ($2::text IS NULL OR key_id = $2)', [
      aliasName,
      expectedKeyId ?? null,
    ]);
    return (rowCount ?? 0) > 0;
  }

  async listAliases(options: { keyId?: string; afterAliasName?: string; limit: number }): Promise<AliasRecord[]> {
    const { rows } = await this.#query<AliasRow>(
      'listAliases',
      `SELECT ${ALIAS_COLS} FROM aliases WHERE ($1::text IS NULL OR key_id = $1) AND ($2::text IS NULL OR alias_name > $2) ORDER BY alias_name LIMIT $3`,
      [options.keyId ?? null, options.afterAliasName ?? null, checkLimit(options.limit)],
    );
    return rows.map(rowToAlias);
  }

  async countAliases(keyId: string): Promise<number> {
    return this.#count('countAliases', 'SELECT count(*) AS n FROM aliases WHERE key_id = $1', [keyId]);
  }

  async putTags(keyId: string, tags: readonly Tag[]): Promise<void> {
    await this.#tx('putTags', (c) => upsertTags(c, keyId, tags));
  }

  async removeTags(keyId: string, tagKeys: readonly string[]): Promise<void> {
    await this.#query('removeTags', 'DELETE FROM tags WHERE key_id = $1 AND tag_key = ANY($2::text[])', [keyId, [...tagKeys]]);
  }

  async listTags(keyId: string, afterTagKey: string | undefined, limit: number): Promise<Tag[]> {
    const { rows } = await this.#query<TagRow>(
      'listTags',
      'SELECT tag_key, tag_value FROM tags WHERE key_id = $1 AND ($2::text IS NULL OR tag_key > $2) ORDER BY tag_key LIMIT $3',
      [keyId, afterTagKey ?? null, checkLimit(limit)],
    );
    return rows.map((r) => ({ key: r.tag_key, value: r.tag_value }));
  }

  // ---- custom key stores --------------------------------------------------------------------------

  async createCustomKeyStore(store: CustomKeyStoreRecord, maxStores?: number): Promise<void> {
    const r = customKeyStoreToRow(store);
    await this.#tx('createCustomKeyStore', async (c) => {
      if (maxStores !== undefined) {
        // Creations take turns on this lock, so a count and its insert are never overtaken by another node's.
        await c.query(`SELECT pg_advisory_xact_lock(${CUSTOM_KEY_STORE_COUNT_LOCK})`);
        const { rows } = await c.query<{ n: number }>('SELECT count(*) AS n FROM custom_key_stores');
        if (rows[0]!.n >= maxStores) throw new StoreError('LIMIT_EXCEEDED', `${rows[0]!.n} custom key stores exist already`);
      }
      await c.query(
        'INSERT INTO custom_key_stores (id, name, type, cluster_id, trust_anchor_certificate, sealed_password, created_at, ' +
          'connection_state, connection_error_code, want_connected, xks_proxy) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)',
        [r.id, r.name, r.type, r.cluster_id, r.trust_anchor_certificate, r.sealed_password, r.created_at, r.connection_state, r.connection_error_code, r.want_connected === 1, r.xks_proxy],
      );
    });
  }

  async getCustomKeyStore(id: string): Promise<CustomKeyStoreRecord | undefined> {
    const { rows } = await this.#query<CustomKeyStoreRow>('getCustomKeyStore', `SELECT ${CKS_COLS} FROM custom_key_stores WHERE id = $1`, [id]);
    return rows[0] === undefined ? undefined : rowToCustomKeyStore(rows[0]);
  }

  async getCustomKeyStoreByName(name: string): Promise<CustomKeyStoreRecord | undefined> {
    const { rows } = await this.#query<CustomKeyStoreRow>('getCustomKeyStoreByName', `SELECT ${CKS_COLS} FROM custom_key_stores WHERE name = $1`, [name]);
    return rows[0] === undefined ? undefined : rowToCustomKeyStore(rows[0]);
  }

  async listCustomKeyStores(afterId: string | undefined, limit: number): Promise<CustomKeyStoreRecord[]> {
    const { rows } = await this.#query<CustomKeyStoreRow>(
      'listCustomKeyStores',
      `SELECT ${CKS_COLS} FROM custom_key_stores WHERE ($1::text IS NULL OR id > $1) ORDER BY id LIMIT $2`,
      [afterId ?? null, checkLimit(limit)],
    );
    return rows.map(rowToCustomKeyStore);
  }

  async updateCustomKeyStore(id: string, patch: CustomKeyStorePatch): Promise<CustomKeyStoreRecord> {
    return this.#tx('updateCustomKeyStore', async (c) => {
      const { rows } = await c.query<CustomKeyStoreRow>(`SELECT ${CKS_COLS} FROM custom_key_stores WHERE id = $1 FOR UPDATE`, [id]);
      if (rows[0] === undefined) throw new StoreError('NOT_FOUND', `custom key store ${id} does not exist`);
      const next = applyCustomKeyStorePatch(rowToCustomKeyStore(rows[0]), patch);
      const r = customKeyStoreToRow(next);
      // A taken name fails the UNIQUE constraint, which toStoreError reports as CONFLICT.
      await c.query(
        'UPDATE custom_key_stores SET name = $2, cluster_id = $3, sealed_password = $4, connection_state = $5, ' +
          'connection_error_code = $6, want_connected = $7, xks_proxy = $8 WHERE id = $1',
        [id, r.name, r.cluster_id, r.sealed_password, r.connection_state, r.connection_error_code, r.want_connected === 1, r.xks_proxy],
      );
      return next;
    });
  }

  async deleteCustomKeyStore(id: string): Promise<boolean> {
    return this.#tx('deleteCustomKeyStore', async (c) => {
      // Locking the row makes a concurrent CreateKey in this store (its foreign-key check) wait for us.
      const { rowCount } = await c.query('SELECT 1 FROM custom_key_stores WHERE id = $1 FOR UPDATE', [id]);
      if (rowCount === 0) return false;
      const { rows } = await c.query<{ n: number }>('SELECT count(*) AS n FROM keys WHERE custom_key_store_id = $1', [id]);
      if (rows[0]!.n > 0) throw new StoreError('CONFLICT', `custom key store ${id} still has ${rows[0]!.n} key(s)`);
      await c.query('DELETE FROM custom_key_stores WHERE id = $1', [id]);
      return true;
    });
  }

  async countCustomKeyStores(): Promise<number> {
    return this.#count('countCustomKeyStores', 'SELECT count(*) AS n FROM custom_key_stores');
  }

  async countKeysInCustomKeyStore(id: string): Promise<number> {
    return this.#count('countKeysInCustomKeyStore', 'SELECT count(*) AS n FROM keys WHERE custom_key_store_id = $1', [id]);
  }

  // ---- principals and access keys -----------------------------------------------------------------

  async createPrincipal(principal: PrincipalRecord): Promise<void> {
    await this.#tx('createPrincipal', async (c) => {
      const insert = insertStatement('principals', PRINCIPAL_COLUMNS, principalToRow(principal));
      await c.query(insert.text, insert.values);
      for (const [name, document] of Object.entries(principal.policies)) await upsertPolicy(c, principal.arn, name, document);
    });
  }

  async getPrincipal(arn: string): Promise<PrincipalRecord | undefined> {
    const { rows } = await this.#query<PrincipalRow>('getPrincipal', `SELECT ${PRINCIPAL_COLUMNS.join(', ')} FROM principals WHERE arn = $1`, [arn]);
    return rows[0] === undefined ? undefined : this.#withPolicies(rows[0]);
  }

  async listPrincipals(afterArn: string | undefined, limit: number): Promise<PrincipalRecord[]> {
    const { rows } = await this.#query<PrincipalRow>(
      'listPrincipals',
      `SELECT ${PRINCIPAL_COLUMNS.join(', ')} FROM principals WHERE ($1::text IS NULL OR arn > $1) ORDER BY arn LIMIT $2`,
      [afterArn ?? null, checkLimit(limit)],
    );
    return Promise.all(rows.map((r) => this.#withPolicies(r)));
  }

  async deletePrincipal(arn: string): Promise<boolean> {
    return this.#tx('deletePrincipal', async (c) => {
      // Remember the keys first: ON DELETE CASCADE removes them with the principal.
      await c.query(
        'INSERT INTO deleted_access_keys (access_key_id, deleted_at) SELECT access_key_id, $2 FROM access_keys WHERE principal_arn = $1 ON CONFLICT DO NOTHING',
        [arn, Date.now()],
      );
      const { rowCount } = await c.query('DELETE FROM principals WHERE arn = $1', [arn]);
      return (rowCount ?? 0) > 0;
    });
  }

  async putPrincipalPolicy(arn: string, policyName: string, document: string): Promise<void> {
    // A missing principal fails the foreign key, which toStoreError reports as NOT_FOUND.
    try {
      await upsertPolicy(this.#pool, arn, policyName, document);
    } catch (err) {
      throw toStoreError(err, 'putPrincipalPolicy');
    }
  }

  async deletePrincipalPolicy(arn: string, policyName: string): Promise<boolean> {
    const { rowCount } = await this.#query('deletePrincipalPolicy', 'DELETE FROM principal_policies WHERE principal_arn = $1 AND policy_name = $2', [arn, policyName]);
    return (rowCount ?? 0) > 0;
  }

  async createAccessKey(key: AccessKeyRecord): Promise<void> {
    await this.#tx('createAccessKey', async (c) => {
      const { rowCount } = await c.query('SELECT 1 FROM deleted_access_keys WHERE access_key_id = $1', [key.accessKeyId]);
      if ((rowCount ?? 0) > 0) throw new StoreError('CONFLICT', `access key ${key.accessKeyId} was deleted and cannot be reused`);
      const insert = insertStatement('access_keys', ACCESS_KEY_COLUMNS, accessKeyToRow(key));
      await c.query(insert.text, insert.values);
    });
  }

  async getAccessKey(accessKeyId: string): Promise<AccessKeyRecord | undefined> {
    const { rows } = await this.#query<AccessKeyRow>('getAccessKey', `SELECT ${ACCESS_KEY_COLUMNS.join(', ')} FROM access_keys WHERE access_key_id = $1`, [accessKeyId]);
    return rows[0] === undefined ? undefined : rowToAccessKey(rows[0]);
  }

  async listAccessKeys(principalArn?: string): Promise<AccessKeyRecord[]> {
    const { rows } = await this.#query<AccessKeyRow>(
      'listAccessKeys',
      `SELECT ${ACCESS_KEY_COLUMNS.join(', ')} FROM access_keys WHERE ($1::text IS NULL OR principal_arn = $1) ORDER BY access_key_id`,
      [principalArn ?? null],
    );
    return rows.map(rowToAccessKey);
  }

  async setAccessKeyStatus(accessKeyId: string, status: AccessKeyStatus): Promise<void> {
    const { rowCount } = await this.#query('setAccessKeyStatus', 'UPDATE access_keys SET status = $2 WHERE access_key_id = $1', [accessKeyId, status]);
    if (rowCount === 0) throw new StoreError('NOT_FOUND', `access key ${accessKeyId} does not exist`);
  }

  async deleteAccessKey(accessKeyId: string): Promise<boolean> {
    return this.#tx('deleteAccessKey', async (c) => {
      const { rowCount } = await c.query('DELETE FROM access_keys WHERE access_key_id = $1', [accessKeyId]);
      if ((rowCount ?? 0) === 0) return false;
      await c.query('INSERT INTO deleted_access_keys (access_key_id, deleted_at) VALUES ($1, $2) ON CONFLICT DO NOTHING', [accessKeyId, Date.now()]);
      return true;
    });
  }

  async isAccessKeyDeleted(accessKeyId: string): Promise<boolean> {
    const { rowCount } = await this.#query('isAccessKeyDeleted', 'SELECT 1 FROM deleted_access_keys WHERE access_key_id = $1', [accessKeyId]);
    return (rowCount ?? 0) > 0;
  }

  // ---- grants -------------------------------------------------------------------------------------

  async createGrant(grant: GrantRecord, limits?: PerKeyLimit): Promise<void> {
    const insert = insertStatement('grants', GRANT_COLUMNS, grantToRow(grant));
    if (limits === undefined) {
      await this.#query('createGrant', insert.text, insert.values);
      return;
    }
    await this.#tx('createGrant', async (c) => {
      await checkRoom(c, 'grants', grant.keyId, limits);
      await c.query(insert.text, insert.values);
    });
  }

  async getGrant(grantId: string): Promise<GrantRecord | undefined> {
    const { rows } = await this.#query<GrantRow>('getGrant', `SELECT ${GRANT_COLS} FROM grants WHERE grant_id = $1`, [grantId]);
    return rows[0] === undefined ? undefined : rowToGrant(rows[0]);
  }

  async listGrants(options: { keyId: string; afterGrantId?: string; grantId?: string; granteePrincipal?: string; limit: number }): Promise<GrantRecord[]> {
    const { rows } = await this.#query<GrantRow>(
      'listGrants',
      `SELECT ${GRANT_COLS} FROM grants WHERE key_id = $1 AND ($2::text IS NULL OR grant_id > $2) AND ($3::text IS NULL OR grant_id = $3) ` +
        'AND ($4::text IS NULL OR grantee_principal = $4) ORDER BY grant_id LIMIT $5',
      [options.keyId, options.afterGrantId ?? null, options.grantId ?? null, options.granteePrincipal ?? null, checkLimit(options.limit)],
    );
    return rows.map(rowToGrant);
  }

  async listRetirableGrants(options: { retiringPrincipal: string; afterGrantId?: string; limit: number }): Promise<GrantRecord[]> {
    const { rows } = await this.#query<GrantRow>(
      'listRetirableGrants',
      `SELECT ${GRANT_COLS} FROM grants WHERE retiring_principal = $1 AND ($2::text IS NULL OR grant_id > $2) ORDER BY grant_id LIMIT $3`,
      [options.retiringPrincipal, options.afterGrantId ?? null, checkLimit(options.limit)],
    );
    return rows.map(rowToGrant);
  }

  async findGrantsByName(keyId: string, name: string): Promise<GrantRecord[]> {
    const { rows } = await this.#query<GrantRow>('findGrantsByName', `SELECT ${GRANT_COLS} FROM grants WHERE key_id = $1 AND name = $2 ORDER BY created_at, grant_id`, [keyId, name]);
    return rows.map(rowToGrant);
  }

  async grantsForGrantee(keyId: string, granteePrincipal: string): Promise<GrantRecord[]> {
    const { rows } = await this.#query<GrantRow>(
      'grantsForGrantee',
      `SELECT ${GRANT_COLS} FROM grants WHERE key_id = $1 AND grantee_principal = $2 ORDER BY grant_id`,
      [keyId, granteePrincipal],
    );
    return rows.map(rowToGrant);
  }

  async countGrants(keyId: string): Promise<number> {
    return this.#count('countGrants', 'SELECT count(*) AS n FROM grants WHERE key_id = $1', [keyId]);
  }

  async deleteGrant(grantId: string): Promise<boolean> {
    const { rowCount } = await this.#query('deleteGrant', 'DELETE FROM grants WHERE grant_id = $1', [grantId]);
    return (rowCount ?? 0) > 0;
  }

  // ---- background work ------------------------------------------------------------------------------

  async claimWork(item: string, owner: string, now: number, leaseMs: number): Promise<boolean> {
    // One statement: the row lock of the conflicting row decides between two nodes claiming at once.
    const { rowCount } = await this.#query(
      'claimWork',
      'INSERT INTO work_claims (item, owner, lease_until) VALUES ($1, $2, $4) ' +
        'ON CONFLICT (item) DO UPDATE SET owner = excluded.owner, lease_until = excluded.lease_until ' +
        'WHERE work_claims.lease_until <= $3 OR work_claims.owner = excluded.owner',
      [item, owner, now, now + leaseMs],
    );
    return (rowCount ?? 0) > 0;
  }

  async releaseWork(item: string, owner: string): Promise<void> {
    await this.#query('releaseWork', 'DELETE FROM work_claims WHERE item = $1 AND owner = $2', [item, owner]);
  }

  // ---- node reports ----------------------------------------------------------------------------------

  async putNodeReport(r: NodeReport): Promise<void> {
    await this.#query(
      'putNodeReport',
      'INSERT INTO node_reports (node, subject, report, reported_at) VALUES ($1, $2, $3, $4) ' +
        'ON CONFLICT (subject, node) DO UPDATE SET report = excluded.report, reported_at = excluded.reported_at',
      [r.node, r.subject, r.report, r.reportedAt],
    );
  }

  async nodeReports(subject: string, since: number): Promise<NodeReport[]> {
    const { rows } = await this.#query<{ node: string; subject: string; report: string; reported_at: number }>(
      'nodeReports',
      'SELECT node, subject, report, reported_at FROM node_reports WHERE subject = $1 AND reported_at >= $2 ORDER BY node',
      [subject, since],
    );
    return rows.map((row) => ({ node: row.node, subject: row.subject, report: row.report, reportedAt: row.reported_at }));
  }

  async deleteNodeReports(which: { readonly node: string } | { readonly before: number }): Promise<void> {
    if ('node' in which) await this.#query('deleteNodeReports', 'DELETE FROM node_reports WHERE node = $1', [which.node]);
    else await this.#query('deleteNodeReports', 'DELETE FROM node_reports WHERE reported_at < $1', [which.before]);
  }

  /** Ends the change feed and the pool (waits for checked-out connections). Safe to call more than once. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      await this.changes.close();
      await this.#pool.end();
    } catch (err) {
      throw toStoreError(err, 'close');
    }
  }

  // ---- plumbing -------------------------------------------------------------------------------------

  async #withPolicies(row: PrincipalRow): Promise<PrincipalRecord> {
    const { rows } = await this.#query<PrincipalPolicyRow>(
      'principalPolicies',
      'SELECT policy_name, document FROM principal_policies WHERE principal_arn = $1 ORDER BY policy_name',
      [row.arn],
    );
    return rowToPrincipal(row, rows);
  }

  #checkOpen(operation: string): void {
    if (this.#closed) throw new StoreError('STORE_FAILED', `${operation}: metadata store is closed`);
  }

  async #query<R extends pg.QueryResultRow>(operation: string, text: string, values: readonly unknown[] = []): Promise<pg.QueryResult<R>> {
    this.#checkOpen(operation);
    return queryRows<R>(this.#pool, operation, text, values);
  }

  async #count(operation: string, text: string, values: readonly unknown[] = []): Promise<number> {
    const { rows } = await this.#query<{ n: number }>(operation, text, values);
    return rows[0]?.n ?? 0;
  }

  async #tx<T>(operation: string, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    this.#checkOpen(operation);
    return inTransaction(this.#pool, operation, fn);
  }
}

// ---- statements used inside transactions ----------------------------------------------------------

/**
 * LIMIT_EXCEEDED when the key already has `maxPerKey` aliases or grants. Locks the key's row first,
 * so that two nodes adding to one key count one after the other. NOT_FOUND without the key.
 */
async function checkRoom(c: pg.PoolClient, table: 'aliases' | 'grants', keyId: string, limits: PerKeyLimit): Promise<void> {
  await lockKey(c, keyId);
  const { rows } = await c.query<{ n: number }>(`SELECT count(*) AS n FROM ${table} WHERE key_id = $1`, [keyId]);
  if (rows[0]!.n >= limits.maxPerKey) throw new StoreError('LIMIT_EXCEEDED', `key ${keyId} already has ${rows[0]!.n} ${table}`);
}

/** The key's row, locked until the transaction ends; NOT_FOUND without it. */
async function lockKey(c: pg.PoolClient, keyId: string): Promise<KeyRow> {
  const { rows } = await c.query<KeyRow>(`SELECT ${KEY_COLS} FROM keys WHERE key_id = $1 FOR UPDATE`, [keyId]);
  if (rows[0] === undefined) throw new StoreError('NOT_FOUND', `key ${keyId} does not exist`);
  return rows[0];
}

async function insertMaterial(c: pg.PoolClient, row: KeyMaterialRow): Promise<void> {
  const insert = insertStatement('key_materials', MATERIAL_COLUMNS, row);
  await c.query(insert.text, insert.values);
}

async function getMaterial(c: pg.PoolClient, keyId: string, materialId: string): Promise<KeyMaterialRow | undefined> {
  const { rows } = await c.query<KeyMaterialRow>(`SELECT ${MATERIAL_COLS} FROM key_materials WHERE key_id = $1 AND material_id = $2`, [keyId, materialId]);
  return rows[0];
}

async function setMaterialImport(
  c: pg.PoolClient,
  keyId: string,
  materialId: string,
  importState: 'IMPORTED' | 'PENDING_IMPORT',
  expirationModel: string | null,
  validTo: number | null,
  description: string | null,
): Promise<void> {
  await c.query(
    'UPDATE key_materials SET import_state = $3, expiration_model = $4, valid_to = $5, description = $6 WHERE key_id = $1 AND material_id = $2',
    [keyId, materialId, importState, expirationModel, validTo, description],
  );
}

/**
 * Inserts or overwrites tags in one statement. A tag key repeated in one request means "last wins"
 * (one statement may not update a row twice, so the repeats are folded first); a missing key fails
 * the foreign key (NOT_FOUND).
 */
async function upsertTags(c: pg.PoolClient, keyId: string, tags: readonly Tag[]): Promise<void> {
  if (tags.length === 0) return;
  const lastWins = new Map(tags.map((t) => [t.key, t.value]));
  await c.query(
    'INSERT INTO tags (key_id, tag_key, tag_value) SELECT $1, k, v FROM unnest($2::text[], $3::text[]) AS t (k, v) ' +
      'ON CONFLICT (key_id, tag_key) DO UPDATE SET tag_value = excluded.tag_value',
    [keyId, [...lastWins.keys()], [...lastWins.values()]],
  );
}

async function upsertPolicy(c: pg.Pool | pg.PoolClient, arn: string, name: string, document: string): Promise<void> {
  await c.query(
    'INSERT INTO principal_policies (principal_arn, policy_name, document) VALUES ($1, $2, $3) ' +
      'ON CONFLICT (principal_arn, policy_name) DO UPDATE SET document = excluded.document',
    [arn, name, document],
  );
}

function checkLimit(limit: number): number {
  // A caller bug should not turn into a full scan.
  if (!Number.isSafeInteger(limit) || limit < 1) throw new StoreError('STORE_FAILED', `limit must be a positive integer, got ${limit}`);
  return limit;
}
