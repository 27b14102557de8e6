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
//
// Row types and their mapping live in rows.ts, the SQL in statements.ts, the schema in migrations.ts.

import type { XksStore } from '../../ports/xks-store.js';
import { SqliteXksStore } from './sqlite-xks-store.js';
import { closeSync, constants, openSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { CustomKeyStoreRecord } from '../../domain/custom-key-store.js';
import type { GrantRecord } from '../../domain/grant.js';
import type { KeyRecord } from '../../domain/key.js';
import {
  StoreError,
  type AccessKeyRecord,
  type AccessKeyStatus,
  type AliasRecord,
  type PrincipalRecord,
  type CustomKeyStorePatch,
  type ImportWrappingKeyRecord,
  type KeyMaterialImport,
  type KeyMaterialRecord,
  type KeyPatch,
  type MetadataStore,
  type NewKeyMaterial,
  type PerKeyLimit,
  type RotationSchedule,
  type StoreChange,
  type Tag,
  type NodeReport,
} from '../../ports/store.js';
import { applyMigrations } from './migrations.js';
import { LocalChangeFeed } from '../change-feed.js';
import { applyCustomKeyStorePatch, applyKeyPatch } from '../patches.js';
import {
  accessKeyToRow,
  grantToRow,
  principalToRow,
  rowToAccessKey,
  rowToGrant,
  rowToPrincipal,
  type PrincipalRow,
  customKeyStoreToRow,
  keyToRow,
  rowToAlias,
  rowToCustomKeyStore,
  rowToKey,
  rowToImportWrappingKey,
  rowToKeyMaterial,
  type AliasRow,
  type KeyRow,
} from '../rows.js';
import { prepareStatements, type Statements } from './statements.js';

/** What the connection actually runs with, read back from SQLite (for tests and health checks). */
export interface SqliteConnectionSettings {
  readonly journalMode: string;
  /** 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA. */
  readonly synchronous: number;
  readonly foreignKeys: number;
  readonly busyTimeoutMs: number;
}

const BUSY_TIMEOUT_MS = 5000;
/** The import columns of a generated material's key_materials row. */
const NOT_IMPORTED = { import_state: null, expiration_model: null, valid_to: null, description: null } as const;
const IN_MEMORY = ':memory:';

export class SqliteStore implements MetadataStore {
  readonly #db: Database.Database;
  readonly #stmts: Statements;
  readonly #createKeyTx: (row: KeyRow, tags: readonly Tag[]) => void;
  readonly #updateKeyTx: (keyId: string, patch: KeyPatch) => KeyRecord;
  readonly #rotateTx: (keyId: string, fromMaterialId: string, material: NewKeyMaterial, nextRotationAt: number | undefined) => KeyRecord;
  readonly #recordImportTx: (keyId: string, material: KeyMaterialImport) => KeyRecord;
  readonly #recordImportDeletedTx: (keyId: string, materialId: string) => KeyRecord;
  readonly #setScheduleTx: (keyId: string, periodDays: number | null, nextRotationAt: number | null) => void;
  readonly #putTagsTx: (keyId: string, tags: readonly Tag[]) => void;
  readonly #removeTagsTx: (keyId: string, tagKeys: readonly string[]) => void;
  readonly #updateCustomKeyStoreTx: (id: string, patch: CustomKeyStorePatch) => CustomKeyStoreRecord;
  readonly #deleteCustomKeyStoreTx: (id: string) => boolean;
  readonly #createPrincipalTx: (principal: PrincipalRecord) => void;
  readonly #deletePrincipalTx: (arn: string) => boolean;
  readonly #createAccessKeyTx: (key: AccessKeyRecord) => void;
  readonly #deleteAccessKeyTx: (accessKeyId: string) => boolean;
  #closed = false;
  /** The XKS proxy's records on the same connection (migration 8). */
  readonly xks: XksStore;
  /** This process's own writes: a SQLite store has one node. */
  readonly changes = new LocalChangeFeed();

  private constructor(db: Database.Database) {
    this.#db = db;
    this.xks = new SqliteXksStore(db, (operation, fn) => this.#guard(operation, fn), (change) => this.changes.emit(change));
    const s = prepareStatements(db);
    this.#stmts = s;

    this.#createKeyTx = db.transaction((row: KeyRow, tags: readonly Tag[]) => {
      s.insertKey.run(row);
      // A key of origin EXTERNAL gets its first material when it is imported.
      if (row.origin !== 'EXTERNAL') {
        s.insertMaterial.run({
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
      // Upsert, not insert: a repeated tag key in one request means "last wins", the same as
      // putTags. A plain insert would fail with a constraint error that reads as CONFLICT, which
      // callers take to mean "the key already exists".
      for (const t of tags) s.upsertTag.run(row.key_id, t.key, t.value);
    });

    this.#rotateTx = db.transaction((keyId: string, fromMaterialId: string, material: NewKeyMaterial, nextRotationAt: number | undefined): KeyRecord => {
      const current = s.getKey.get(keyId);
      if (current === undefined) throw new StoreError('NOT_FOUND', `key ${keyId} does not exist`);
      if (current.backing_key_id !== fromMaterialId) throw new StoreError('CONFLICT', `key ${keyId} was rotated meanwhile`);
      const ordinal = (s.lastMaterialOrdinal.get(keyId) as number) + 1;
      s.insertMaterial.run({
        ...NOT_IMPORTED,
        key_id: keyId,
        ordinal,
        material_id: material.materialId,
        created_at: material.createdAt,
        rotation_date: material.rotationDate,
        rotation_type: material.rotationType,
        suite: material.suite ?? null,
      });
      s.setCurrentMaterial.run(material.materialId, material.suite ?? null, keyId);
      if (material.rotationType === 'ON_DEMAND') s.countOnDemand.run(keyId);
      if (nextRotationAt !== undefined) s.setNextRotation.run(nextRotationAt, keyId);
      return rowToKey({ ...current, backing_key_id: material.materialId, symmetric_suite: material.suite ?? null });
    });

    this.#recordImportTx = db.transaction((keyId: string, material: KeyMaterialImport): KeyRecord => {
      const current = s.getKey.get(keyId);
      if (current === undefined) throw new StoreError('NOT_FOUND', `key ${keyId} does not exist`);
      const key = rowToKey(current);
      const existing = s.getMaterial.get(keyId, material.materialId);
      if (existing === undefined) {
        if (key.backingKeyId !== '') throw new StoreError('CONFLICT', `key ${keyId} has other key material`);
        s.insertMaterial.run({
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
        s.setCurrentMaterial.run(material.materialId, null, keyId);
        if (material.publicKey !== undefined) s.setPublicKey.run(material.publicKey, keyId);
      } else {
        s.setMaterialImport.run({
          key_id: keyId,
          material_id: material.materialId,
          import_state: 'IMPORTED',
          expiration_model: material.expirationModel,
          valid_to: material.validTo,
          description: material.description ?? existing.description,
        });
      }
      let state = key.state;
      if (state === 'PendingImport' && s.countMaterialsNotImported.get(keyId) === 0) {
        state = 'Enabled';
        s.setKeyState.run(state, keyId);
      }
      const updated = s.getKey.get(keyId)!;
      return rowToKey(updated);
    });

    this.#recordImportDeletedTx = db.transaction((keyId: string, materialId: string): KeyRecord => {
      const current = s.getKey.get(keyId);
      if (current === undefined) throw new StoreError('NOT_FOUND', `key ${keyId} does not exist`);
      const existing = s.getMaterial.get(keyId, materialId);
      if (existing === undefined || existing.import_state === null) throw new StoreError('NOT_FOUND', `key ${keyId} has no imported material ${materialId}`);
      s.setMaterialImport.run({
        key_id: keyId,
        material_id: materialId,
        import_state: 'PENDING_IMPORT',
        expiration_model: existing.expiration_model,
        valid_to: null,
        description: existing.description,
      });
      // A key waiting for deletion keeps waiting; any other key waits for its material again.
      if (current.state !== 'PendingDeletion') s.setKeyState.run('PendingImport', keyId);
      return rowToKey(s.getKey.get(keyId)!);
    });

    this.#setScheduleTx = db.transaction((keyId: string, periodDays: number | null, nextRotationAt: number | null): void => {
      if (s.getKey.get(keyId) === undefined) throw new StoreError('NOT_FOUND', `key ${keyId} does not exist`);
      s.setSchedule.run(keyId, periodDays, nextRotationAt);
    });

    this.#updateKeyTx = db.transaction((keyId: string, patch: KeyPatch): KeyRecord => {
      const current = s.getKey.get(keyId);
      if (current === undefined) throw new StoreError('NOT_FOUND', `key ${keyId} does not exist`);
      const next = applyKeyPatch(rowToKey(current), patch);
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

    this.#updateCustomKeyStoreTx = db.transaction(
      (id: string, patch: CustomKeyStorePatch): CustomKeyStoreRecord => {
        const current = s.getCustomKeyStore.get(id);
        if (current === undefined) throw new StoreError('NOT_FOUND', `custom key store ${id} does not exist`);
        const next = applyCustomKeyStorePatch(rowToCustomKeyStore(current), patch);
        const row = customKeyStoreToRow(next);
        // A taken name fails the UNIQUE constraint, which toStoreError reports as CONFLICT.
        s.updateCustomKeyStore.run({
          id,
          name: row.name,
          cluster_id: row.cluster_id,
          sealed_password: row.sealed_password,
          connection_state: row.connection_state,
          connection_error_code: row.connection_error_code,
          want_connected: row.want_connected,
          xks_proxy: row.xks_proxy,
        });
        return next;
      },
    );

    this.#deleteCustomKeyStoreTx = db.transaction((id: string): boolean => {
      // The foreign key would refuse the delete anyway; checking first gives a clear message.
      const keys = s.countKeysInCustomKeyStore.get(id) ?? 0;
      if (keys > 0) throw new StoreError('CONFLICT', `custom key store ${id} still has ${keys} key(s)`);
      return s.deleteCustomKeyStore.run(id).changes > 0;
    });

    this.#createPrincipalTx = db.transaction((principal: PrincipalRecord) => {
      s.insertPrincipal.run(principalToRow(principal));
      for (const [name, document] of Object.entries(principal.policies)) s.upsertPolicy.run(principal.arn, name, document);
    });

    this.#deletePrincipalTx = db.transaction((arn: string): boolean => {
      // Remember the keys first: ON DELETE CASCADE removes them with the principal.
      const now = Date.now();
      for (const key of s.listAccessKeysOf.all(arn)) s.rememberDeletedAccessKey.run(key.access_key_id, now);
      return s.deletePrincipal.run(arn).changes > 0;
    });

    this.#createAccessKeyTx = db.transaction((key: AccessKeyRecord) => {
      if ((s.isAccessKeyDeleted.get(key.accessKeyId) ?? 0) > 0) {
        throw new StoreError('CONFLICT', `access key ${key.accessKeyId} was deleted and cannot be reused`);
      }
      s.insertAccessKey.run(accessKeyToRow(key));
    });

    this.#deleteAccessKeyTx = db.transaction((accessKeyId: string): boolean => {
      const deleted = s.deleteAccessKey.run(accessKeyId).changes > 0;
      if (deleted) s.rememberDeletedAccessKey.run(accessKeyId, Date.now());
      return deleted;
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
    // One statement, so atomic on its own; ON DELETE CASCADE removes the aliases, tags and grants.
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

  async listKeyMaterials(keyId: string): Promise<KeyMaterialRecord[]> {
    return this.#guard('listKeyMaterials', () => this.#stmts.listMaterials.all(keyId).map(rowToKeyMaterial));
  }

  async getRotationSchedule(keyId: string): Promise<RotationSchedule> {
    return this.#guard('getRotationSchedule', () => {
      const row = this.#stmts.getSchedule.get(keyId);
      return { periodDays: row?.period_days ?? null, nextRotationAt: row?.next_rotation_at ?? null, onDemandRotations: row?.on_demand_count ?? 0 };
    });
  }

  async setRotationSchedule(keyId: string, periodDays: number | null, nextRotationAt: number | null): Promise<void> {
    this.#guard('setRotationSchedule', () => this.#setScheduleTx(keyId, periodDays, nextRotationAt));
  }

  async rotateKeyMaterial(keyId: string, fromMaterialId: string, material: NewKeyMaterial, nextRotationAt?: number): Promise<KeyRecord> {
    return this.#guard('rotateKeyMaterial', () => this.#rotateTx(keyId, fromMaterialId, material, nextRotationAt));
  }

  async recordImportedMaterial(keyId: string, material: KeyMaterialImport): Promise<KeyRecord> {
    return this.#guard('recordImportedMaterial', () => this.#recordImportTx(keyId, material));
  }

  async recordImportedMaterialDeleted(keyId: string, materialId: string): Promise<KeyRecord> {
    return this.#guard('recordImportedMaterialDeleted', () => this.#recordImportDeletedTx(keyId, materialId));
  }

  async importedMaterialsExpiredBy(now: number): Promise<Array<{ key: KeyRecord; material: KeyMaterialRecord }>> {
    return this.#guard('importedMaterialsExpiredBy', () =>
      this.#stmts.materialsExpired.all(now).flatMap((row) => {
        const key = this.#stmts.getKey.get(row.key_id);
        return key === undefined ? [] : [{ key: rowToKey(key), material: rowToKeyMaterial(row) }];
      }),
    );
  }

  async addImportWrappingKey(record: ImportWrappingKeyRecord): Promise<void> {
    this.#guard('addImportWrappingKey', () => {
      this.#stmts.insertWrappingKey.run({ wrapping_key_id: record.wrappingKeyId, key_id: record.keyId, valid_to: record.validTo });
    });
  }

  async importWrappingKeysExpiredBy(now: number): Promise<ImportWrappingKeyRecord[]> {
    return this.#guard('importWrappingKeysExpiredBy', () => this.#stmts.wrappingKeysExpired.all(now).map(rowToImportWrappingKey));
  }

  async deleteImportWrappingKey(wrappingKeyId: string): Promise<void> {
    this.#guard('deleteImportWrappingKey', () => {
      this.#stmts.deleteWrappingKey.run(wrappingKeyId);
    });
  }

  async keysDueForRotation(now: number): Promise<KeyRecord[]> {
    return this.#guard('keysDueForRotation', () => this.#stmts.keysDueForRotation.all(now).map(rowToKey));
  }

  async getAlias(aliasName: string): Promise<AliasRecord | undefined> {
    return this.#guard('getAlias', () => {
      const row = this.#stmts.getAlias.get(aliasName);
      return row === undefined ? undefined : rowToAlias(row);
    });
  }

  async createAlias(alias: AliasRecord, limits?: PerKeyLimit): Promise<void> {
    this.#guard('createAlias', () =>
      this.#db.transaction(() => {
        this.#checkRoom('aliases', this.#stmts.countAliases.get(alias.keyId) ?? 0, alias.keyId, limits);
        this.#stmts.insertAlias.run(alias.aliasName, alias.keyId, alias.createdAt, alias.updatedAt);
      })(),
    );
  }

  async updateAlias(aliasName: string, keyId: string, updatedAt: number, expectedKeyId?: string, limits?: PerKeyLimit): Promise<void> {
    this.#guard('updateAlias', () => this.#db.transaction(() => {
      const target = this.#stmts.getAlias.get(aliasName);
      if (target !== undefined && target.key_id !== keyId) this.#checkRoom('aliases', this.#stmts.countAliases.get(keyId) ?? 0, keyId, limits);
      const { changes } =
        expectedKeyId === undefined
          ? this.#stmts.updateAlias.run(keyId, updatedAt, aliasName)
          : this.#stmts.updateAliasFrom.run(keyId, updatedAt, aliasName, expectedKeyId);
      if (changes === 0) {
        throw new StoreError('NOT_FOUND', expectedKeyId === undefined ? `alias ${aliasName} does not exist` : `alias ${aliasName} does not point at key ${expectedKeyId}`);
      }
    })());
  }

  async deleteAlias(aliasName: string, expectedKeyId?: string): Promise<boolean> {
    return this.#guard('deleteAlias', () =>
      (expectedKeyId === undefined ? this.#stmts.deleteAlias.run(aliasName) : this.#stmts.deleteAliasOf.run(aliasName, expectedKeyId)).changes > 0,
    );
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

  async createCustomKeyStore(store: CustomKeyStoreRecord, maxStores?: number): Promise<void> {
    this.#guard('createCustomKeyStore', () =>
      this.#db.transaction(() => {
        const count = this.#stmts.countCustomKeyStores.get() ?? 0;
        if (maxStores !== undefined && count >= maxStores) throw new StoreError('LIMIT_EXCEEDED', `${count} custom key stores exist already`);
        this.#stmts.insertCustomKeyStore.run(customKeyStoreToRow(store));
      }).immediate(),
    );
    this.changes.emit('custom-key-stores');
  }

  async getCustomKeyStore(id: string): Promise<CustomKeyStoreRecord | undefined> {
    return this.#guard('getCustomKeyStore', () => {
      const row = this.#stmts.getCustomKeyStore.get(id);
      return row === undefined ? undefined : rowToCustomKeyStore(row);
    });
  }

  async getCustomKeyStoreByName(name: string): Promise<CustomKeyStoreRecord | undefined> {
    return this.#guard('getCustomKeyStoreByName', () => {
      const row = this.#stmts.getCustomKeyStoreByName.get(name);
      return row === undefined ? undefined : rowToCustomKeyStore(row);
    });
  }

  async listCustomKeyStores(afterId: string | undefined, limit: number): Promise<CustomKeyStoreRecord[]> {
    return this.#guard('listCustomKeyStores', () => {
      const n = checkLimit(limit);
      const rows =
        afterId === undefined
          ? this.#stmts.listCustomKeyStores.all(n)
          : this.#stmts.listCustomKeyStoresAfter.all(afterId, n);
      return rows.map(rowToCustomKeyStore);
    });
  }

  async updateCustomKeyStore(id: string, patch: CustomKeyStorePatch): Promise<CustomKeyStoreRecord> {
    return this.#changed('custom-key-stores', this.#guard('updateCustomKeyStore', () => this.#updateCustomKeyStoreTx(id, patch)));
  }

  async deleteCustomKeyStore(id: string): Promise<boolean> {
    return this.#changed('custom-key-stores', this.#guard('deleteCustomKeyStore', () => this.#deleteCustomKeyStoreTx(id)));
  }

  async countCustomKeyStores(): Promise<number> {
    return this.#guard('countCustomKeyStores', () => this.#stmts.countCustomKeyStores.get() ?? 0);
  }

  async countKeysInCustomKeyStore(id: string): Promise<number> {
    return this.#guard('countKeysInCustomKeyStore', () => this.#stmts.countKeysInCustomKeyStore.get(id) ?? 0);
  }

  async createPrincipal(principal: PrincipalRecord): Promise<void> {
    this.#guard('createPrincipal', () => this.#createPrincipalTx(principal));
    this.changes.emit('principals');
  }

  async getPrincipal(arn: string): Promise<PrincipalRecord | undefined> {
    return this.#guard('getPrincipal', () => {
      const row = this.#stmts.getPrincipal.get(arn);
      return row === undefined ? undefined : this.#withPolicies(row);
    });
  }

  async listPrincipals(afterArn: string | undefined, limit: number): Promise<PrincipalRecord[]> {
    return this.#guard('listPrincipals', () => {
      const n = checkLimit(limit);
      const rows = afterArn === undefined ? this.#stmts.listPrincipals.all(n) : this.#stmts.listPrincipalsAfter.all(afterArn, n);
      return rows.map((r) => this.#withPolicies(r));
    });
  }

  async deletePrincipal(arn: string): Promise<boolean> {
    return this.#changed('principals', this.#guard('deletePrincipal', () => this.#deletePrincipalTx(arn)));
  }

  async putPrincipalPolicy(arn: string, policyName: string, document: string): Promise<void> {
    // A missing principal fails the foreign key, which toStoreError reports as NOT_FOUND.
    this.#guard('putPrincipalPolicy', () => this.#stmts.upsertPolicy.run(arn, policyName, document));
    this.changes.emit('principals');
  }

  async deletePrincipalPolicy(arn: string, policyName: string): Promise<boolean> {
    return this.#changed('principals', this.#guard('deletePrincipalPolicy', () => this.#stmts.deletePolicy.run(arn, policyName).changes > 0));
  }

  async createAccessKey(key: AccessKeyRecord): Promise<void> {
    this.#guard('createAccessKey', () => this.#createAccessKeyTx(key));
    this.changes.emit('principals');
  }

  async getAccessKey(accessKeyId: string): Promise<AccessKeyRecord | undefined> {
    return this.#guard('getAccessKey', () => {
      const row = this.#stmts.getAccessKey.get(accessKeyId);
      return row === undefined ? undefined : rowToAccessKey(row);
    });
  }

  async listAccessKeys(principalArn?: string): Promise<AccessKeyRecord[]> {
    return this.#guard('listAccessKeys', () =>
      (principalArn === undefined ? this.#stmts.listAccessKeys.all() : this.#stmts.listAccessKeysOf.all(principalArn)).map(rowToAccessKey),
    );
  }

  async setAccessKeyStatus(accessKeyId: string, status: AccessKeyStatus): Promise<void> {
    this.#guard('setAccessKeyStatus', () => {
      if (this.#stmts.setAccessKeyStatus.run(status, accessKeyId).changes === 0) {
        throw new StoreError('NOT_FOUND', `access key ${accessKeyId} does not exist`);
      }
    });
    this.changes.emit('principals');
  }

  async deleteAccessKey(accessKeyId: string): Promise<boolean> {
    return this.#changed('principals', this.#guard('deleteAccessKey', () => this.#deleteAccessKeyTx(accessKeyId)));
  }

  async isAccessKeyDeleted(accessKeyId: string): Promise<boolean> {
    return this.#guard('isAccessKeyDeleted', () => (this.#stmts.isAccessKeyDeleted.get(accessKeyId) ?? 0) > 0);
  }

  async createGrant(grant: GrantRecord, limits?: PerKeyLimit): Promise<void> {
    this.#guard('createGrant', () =>
      this.#db.transaction(() => {
        this.#checkRoom('grants', this.#stmts.countGrants.get(grant.keyId) ?? 0, grant.keyId, limits);
        this.#stmts.insertGrant.run(grantToRow(grant));
      })(),
    );
  }

  /** LIMIT_EXCEEDED when the key already has as many as the limit allows. */
  #checkRoom(what: string, count: number, keyId: string, limits: PerKeyLimit | undefined): void {
    if (limits !== undefined && count >= limits.maxPerKey) throw new StoreError('LIMIT_EXCEEDED', `key ${keyId} already has ${count} ${what}`);
  }

  async getGrant(grantId: string): Promise<GrantRecord | undefined> {
    return this.#guard('getGrant', () => {
      const row = this.#stmts.getGrant.get(grantId);
      return row === undefined ? undefined : rowToGrant(row);
    });
  }

  async listGrants(options: { keyId: string; afterGrantId?: string; grantId?: string; granteePrincipal?: string; limit: number }): Promise<GrantRecord[]> {
    return this.#guard('listGrants', () =>
      this.#stmts.listGrants
        .all({
          key_id: options.keyId,
          after: options.afterGrantId ?? null,
          grant_id: options.grantId ?? null,
          grantee: options.granteePrincipal ?? null,
          limit: checkLimit(options.limit),
        })
        .map(rowToGrant),
    );
  }

  async listRetirableGrants(options: { retiringPrincipal: string; afterGrantId?: string; limit: number }): Promise<GrantRecord[]> {
    return this.#guard('listRetirableGrants', () =>
      this.#stmts.listRetirableGrants
        .all({ retiring: options.retiringPrincipal, after: options.afterGrantId ?? null, limit: checkLimit(options.limit) })
        .map(rowToGrant),
    );
  }

  async findGrantsByName(keyId: string, name: string): Promise<GrantRecord[]> {
    return this.#guard('findGrantsByName', () => this.#stmts.grantsByName.all(keyId, name).map(rowToGrant));
  }

  async grantsForGrantee(keyId: string, granteePrincipal: string): Promise<GrantRecord[]> {
    return this.#guard('grantsForGrantee', () => this.#stmts.grantsForGrantee.all(keyId, granteePrincipal).map(rowToGrant));
  }

  async countGrants(keyId: string): Promise<number> {
    return this.#guard('countGrants', () => this.#stmts.countGrants.get(keyId) ?? 0);
  }

  async deleteGrant(grantId: string): Promise<boolean> {
    return this.#guard('deleteGrant', () => this.#stmts.deleteGrant.run(grantId).changes > 0);
  }

  async claimWork(item: string, owner: string, now: number, leaseMs: number): Promise<boolean> {
    return this.#guard('claimWork', () => this.#stmts.claimWork.run({ item, owner, now, lease_until: now + leaseMs }).changes > 0);
  }

  async releaseWork(item: string, owner: string): Promise<void> {
    this.#guard('releaseWork', () => this.#stmts.releaseWork.run(item, owner));
  }

  async putNodeReport(r: NodeReport): Promise<void> {
    this.#guard('putNodeReport', () => this.#stmts.putNodeReport.run({ node: r.node, subject: r.subject, report: r.report, reported_at: r.reportedAt }));
  }

  async nodeReports(subject: string, since: number): Promise<NodeReport[]> {
    return this.#guard('nodeReports', () =>
      this.#stmts.nodeReports.all(subject, since).map((row) => ({ node: row.node, subject: row.subject, report: row.report, reportedAt: row.reported_at })),
    );
  }

  async deleteNodeReports(which: { readonly node: string } | { readonly before: number }): Promise<void> {
    this.#guard('deleteNodeReports', () => ('node' in which ? this.#stmts.deleteNodeReportsOf.run(which.node) : this.#stmts.deleteNodeReportsBefore.run(which.before)));
  }

  /** Tells this process's listeners about a write that succeeded, and passes its result on. */
  #changed<T>(change: StoreChange, result: T): T {
    this.changes.emit(change);
    return result;
  }

  #withPolicies(row: PrincipalRow): PrincipalRecord {
    return rowToPrincipal(row, this.#stmts.policiesOf.all(row.arn));
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
        // Writes that reference a row: the key (alias, tag) or custom key store (key) is gone,
        // e.g. deleted between the caller's check and this write. Deleting a referenced row
        // cannot get here: deleteCustomKeyStore checks first, and keys cascade.
        return new StoreError('NOT_FOUND', `${operation}: the record it refers to does not exist`, { cause: err });
    }
  }
  return new StoreError('STORE_FAILED', `${operation} failed`, { cause: err });
}
