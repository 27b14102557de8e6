// The XksStore port on PostgreSQL (migration 8), sharing PostgresStore's pool (PostgresStore.xks).

import type pg from 'pg';
import { StoreError } from '../../ports/store.js';
import type { XksCredentialRecord, XksKeyRecord, XksKeyStatus, XksStore } from '../../ports/xks-store.js';
import { rowToXksCredential, rowToXksKey, xksKeyToRow, type XksCredentialRow, type XksKeyRow } from '../xks-rows.js';
import { insertStatement, inTransaction, queryRows } from './connection.js';

const KEY_COLUMNS = [
  'xks_key_id', 'uri_path', 'custom_key_store_id', 'backing_key_id', 'usage', 'status', 'description', 'created_at',
] as const satisfies readonly (keyof XksKeyRow)[];
const KEY_COLS = KEY_COLUMNS.join(', ');
const CREDENTIAL_COLUMNS = ['access_key_id', 'uri_path', 'sealed_secret', 'created_at'] as const satisfies readonly (keyof XksCredentialRow)[];
const CREDENTIAL_COLS = CREDENTIAL_COLUMNS.join(', ');

export class PostgresXksStore implements XksStore {
  readonly #pool: pg.Pool;
  readonly #checkOpen: (operation: string) => void;

  constructor(pool: pg.Pool, checkOpen: (operation: string) => void) {
    this.#pool = pool;
    this.#checkOpen = checkOpen;
  }

  async createXksKey(key: XksKeyRecord): Promise<void> {
    const insert = insertStatement('xks_keys', KEY_COLUMNS, xksKeyToRow(key));
    await this.#query('createXksKey', insert.text, insert.values);
  }

  async getXksKey(xksKeyId: string): Promise<XksKeyRecord | undefined> {
    const { rows } = await this.#query<XksKeyRow>('getXksKey', `SELECT ${KEY_COLS} FROM xks_keys WHERE xks_key_id = $1`, [xksKeyId]);
    return rows[0] === undefined ? undefined : rowToXksKey(rows[0]);
  }

  async listXksKeys(uriPath?: string): Promise<XksKeyRecord[]> {
    const { rows } = await this.#query<XksKeyRow>(
      'listXksKeys',
      `SELECT ${KEY_COLS} FROM xks_keys WHERE ($1::text IS NULL OR uri_path = $1) ORDER BY xks_key_id`,
      [uriPath ?? null],
    );
    return rows.map(rowToXksKey);
  }

  async setXksKeyStatus(xksKeyId: string, status: XksKeyStatus): Promise<XksKeyRecord> {
    const { rows } = await this.#query<XksKeyRow>('setXksKeyStatus', `UPDATE xks_keys SET status = $2 WHERE xks_key_id = $1 RETURNING ${KEY_COLS}`, [xksKeyId, status]);
    if (rows[0] === undefined) throw new StoreError('NOT_FOUND', `setXksKeyStatus: no XKS key ${xksKeyId}`);
    return rowToXksKey(rows[0]);
  }

  async deleteXksKey(xksKeyId: string): Promise<boolean> {
    const { rowCount } = await this.#query('deleteXksKey', 'DELETE FROM xks_keys WHERE xks_key_id = $1', [xksKeyId]);
    return (rowCount ?? 0) > 0;
  }

  async createXksCredential(credential: XksCredentialRecord, maxPerPath: number): Promise<boolean> {
    this.#checkOpen('createXksCredential');
    return inTransaction(this.#pool, 'createXksCredential', async (c) => {
      // Count and insert under one lock per URI path: two nodes cannot both take the last place.
      await c.query("SELECT pg_advisory_xact_lock(hashtextextended('xks-credentials:' || $1, 0))", [credential.uriPath]);
      const { rows } = await c.query<{ n: number }>('SELECT count(*) AS n FROM xks_credentials WHERE uri_path = $1', [credential.uriPath]);
      if (rows[0]!.n >= maxPerPath) return false;
      const insert = insertStatement('xks_credentials', CREDENTIAL_COLUMNS, {
        access_key_id: credential.accessKeyId,
        uri_path: credential.uriPath,
        sealed_secret: credential.sealedSecret,
        created_at: credential.createdAt,
      });
      await c.query(insert.text, insert.values);
      return true;
    });
  }

  async getXksCredential(accessKeyId: string): Promise<XksCredentialRecord | undefined> {
    const { rows } = await this.#query<XksCredentialRow>('getXksCredential', `SELECT ${CREDENTIAL_COLS} FROM xks_credentials WHERE access_key_id = $1`, [accessKeyId]);
    return rows[0] === undefined ? undefined : rowToXksCredential(rows[0]);
  }

  async listXksCredentials(uriPath?: string): Promise<XksCredentialRecord[]> {
    const { rows } = await this.#query<XksCredentialRow>(
      'listXksCredentials',
      `SELECT ${CREDENTIAL_COLS} FROM xks_credentials WHERE ($1::text IS NULL OR uri_path = $1) ORDER BY uri_path, created_at, access_key_id`,
      [uriPath ?? null],
    );
    return rows.map(rowToXksCredential);
  }

  async deleteXksCredential(accessKeyId: string): Promise<boolean> {
    const { rowCount } = await this.#query('deleteXksCredential', 'DELETE FROM xks_credentials WHERE access_key_id = $1', [accessKeyId]);
    return (rowCount ?? 0) > 0;
  }

  async #query<R extends pg.QueryResultRow>(operation: string, text: string, values: readonly unknown[] = []): Promise<pg.QueryResult<R>> {
    this.#checkOpen(operation);
    return queryRows<R>(this.#pool, operation, text, values);
  }
}
