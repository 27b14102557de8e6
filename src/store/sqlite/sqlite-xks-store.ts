// The XksStore port on the metadata store's SQLite connection (migration 8). Shares the
// connection and the error mapping of SqliteStore, which hands it out (SqliteStore.xks).

import type Database from 'better-sqlite3';
import type { XksCredentialRecord, XksKeyRecord, XksKeyStatus, XksStore } from '../../ports/xks-store.js';
import { StoreError, type StoreChange } from '../../ports/store.js';
import { rowToXksCredential, rowToXksKey, xksKeyToRow, type XksCredentialRow, type XksKeyRow } from '../xks-rows.js';

/** Runs a synchronous database call, mapping what it throws to StoreError (SqliteStore's #guard). */
export type Guard = <T>(operation: string, fn: () => T) => T;

export class SqliteXksStore implements XksStore {
  readonly #guard: Guard;
  readonly #stmts;
  readonly #createCredentialTx: Database.Transaction<(row: XksCredentialRow, maxPerPath: number) => boolean>;

  readonly #changed: (change: StoreChange) => void;

  /** `changed` is told about every write that succeeded (SqliteStore's change feed). */
  constructor(db: Database.Database, guard: Guard, changed: (change: StoreChange) => void) {
    this.#guard = guard;
    this.#changed = changed;
    this.#stmts = {
      insertKey: db.prepare<XksKeyRow>(
        `INSERT INTO xks_keys (xks_key_id, uri_path, custom_key_store_id, backing_key_id, usage, status, description, created_at)
         VALUES (@xks_key_id, @uri_path, @custom_key_store_id, @backing_key_id, @usage, @status, @description, @created_at)`,
      ),
      getKey: db.prepare<[string], XksKeyRow>('SELECT * FROM xks_keys WHERE xks_key_id = ?'),
      listKeys: db.prepare<[], XksKeyRow>('SELECT * FROM xks_keys ORDER BY xks_key_id'),
      listKeysByPath: db.prepare<[string], XksKeyRow>('SELECT * FROM xks_keys WHERE uri_path = ? ORDER BY xks_key_id'),
      setKeyStatus: db.prepare<[string, string]>('UPDATE xks_keys SET status = ? WHERE xks_key_id = ?'),
      deleteKey: db.prepare<[string]>('DELETE FROM xks_keys WHERE xks_key_id = ?'),
      insertCredential: db.prepare<XksCredentialRow>(
        `INSERT INTO xks_credentials (access_key_id, uri_path, sealed_secret, created_at)
         VALUES (@access_key_id, @uri_path, @sealed_secret, @created_at)`,
      ),
      countCredentials: db.prepare<[string], number>('SELECT COUNT(*) FROM xks_credentials WHERE uri_path = ?').pluck(),
      getCredential: db.prepare<[string], XksCredentialRow>('SELECT * FROM xks_credentials WHERE access_key_id = ?'),
      listCredentials: db.prepare<[], XksCredentialRow>('SELECT * FROM xks_credentials ORDER BY uri_path, created_at, access_key_id'),
      listCredentialsByPath: db.prepare<[string], XksCredentialRow>(
        'SELECT * FROM xks_credentials WHERE uri_path = ? ORDER BY created_at, access_key_id',
      ),
      deleteCredential: db.prepare<[string]>('DELETE FROM xks_credentials WHERE access_key_id = ?'),
    };
    // Count and insert under one write lock: the limit holds against concurrent writers.
    this.#createCredentialTx = db.transaction((row: XksCredentialRow, maxPerPath: number): boolean => {
      if ((this.#stmts.countCredentials.get(row.uri_path) ?? 0) >= maxPerPath) return false;
      this.#stmts.insertCredential.run(row);
      return true;
    });
  }

  async createXksKey(key: XksKeyRecord): Promise<void> {
    this.#guard('createXksKey', () => this.#stmts.insertKey.run(xksKeyToRow(key)));
    this.#changed('xks-keys');
  }

  async getXksKey(xksKeyId: string): Promise<XksKeyRecord | undefined> {
    return this.#guard('getXksKey', () => {
      const row = this.#stmts.getKey.get(xksKeyId);
      return row === undefined ? undefined : rowToXksKey(row);
    });
  }

  async listXksKeys(uriPath?: string): Promise<XksKeyRecord[]> {
    return this.#guard('listXksKeys', () =>
      (uriPath === undefined ? this.#stmts.listKeys.all() : this.#stmts.listKeysByPath.all(uriPath)).map(rowToXksKey),
    );
  }

  async setXksKeyStatus(xksKeyId: string, status: XksKeyStatus): Promise<XksKeyRecord> {
    const updated = this.#guard('setXksKeyStatus', () => {
      if (this.#stmts.setKeyStatus.run(status, xksKeyId).changes === 0) {
        throw new StoreError('NOT_FOUND', `setXksKeyStatus: no XKS key ${xksKeyId}`);
      }
      return rowToXksKey(this.#stmts.getKey.get(xksKeyId)!);
    });
    this.#changed('xks-keys');
    return updated;
  }

  async deleteXksKey(xksKeyId: string): Promise<boolean> {
    const deleted = this.#guard('deleteXksKey', () => this.#stmts.deleteKey.run(xksKeyId).changes > 0);
    this.#changed('xks-keys');
    return deleted;
  }

  async createXksCredential(credential: XksCredentialRecord, maxPerPath: number): Promise<boolean> {
    const created = this.#guard('createXksCredential', () =>
      this.#createCredentialTx.immediate(
        {
          access_key_id: credential.accessKeyId,
          uri_path: credential.uriPath,
          sealed_secret: credential.sealedSecret,
          created_at: credential.createdAt,
        },
        maxPerPath,
      ),
    );
    if (created) this.#changed('xks-credentials');
    return created;
  }

  async getXksCredential(accessKeyId: string): Promise<XksCredentialRecord | undefined> {
    return this.#guard('getXksCredential', () => {
      const row = this.#stmts.getCredential.get(accessKeyId);
      return row === undefined ? undefined : rowToXksCredential(row);
    });
  }

  async listXksCredentials(uriPath?: string): Promise<XksCredentialRecord[]> {
    return this.#guard('listXksCredentials', () =>
      (uriPath === undefined ? this.#stmts.listCredentials.all() : this.#stmts.listCredentialsByPath.all(uriPath)).map(rowToXksCredential),
    );
  }

  async deleteXksCredential(accessKeyId: string): Promise<boolean> {
    const deleted = this.#guard('deleteXksCredential', () => this.#stmts.deleteCredential.run(accessKeyId).changes > 0);
    this.#changed('xks-credentials');
    return deleted;
  }
}
