// Every SQL statement SqliteStore runs, prepared once per connection.

import type Database from 'better-sqlite3';
import type { AliasRow, CustomKeyStoreRow, KeyRow, TagRow } from './rows.js';

export type Statements = ReturnType<typeof prepareStatements>;

const KEY_COLS =
  'key_id, arn, account_id, region, created_at, description, key_usage, key_spec, origin, ' +
  'state, deletion_date, pending_window_days, policy, backing_key_id, custom_key_store_id';
const ALIAS_COLS = 'alias_name, key_id, created_at, updated_at';
const CKS_COLS =
  'id, name, type, cluster_id, trust_anchor_certificate, sealed_password, created_at, ' +
  'connection_state, connection_error_code, want_connected';

export type KeyUpdateRow = Pick<
  KeyRow,
  'key_id' | 'state' | 'description' | 'deletion_date' | 'pending_window_days' | 'policy'
>;
export type CustomKeyStoreUpdateRow = Pick<
  CustomKeyStoreRow,
  'id' | 'name' | 'cluster_id' | 'sealed_password' | 'connection_state' | 'connection_error_code' | 'want_connected'
>;

export function prepareStatements(db: Database.Database) {
  return {
    insertKey: db.prepare<KeyRow>(
      `INSERT INTO keys (${KEY_COLS}) VALUES (@key_id, @arn, @account_id, @region, @created_at, ` +
        '@description, @key_usage, @key_spec, @origin, @state, @deletion_date, ' +
        '@pending_window_days, @policy, @backing_key_id, @custom_key_store_id)',
    ),
    getKey: db.prepare<[string], KeyRow>(`SELECT ${KEY_COLS} FROM keys WHERE key_id = ?`),
    listKeys: db.prepare<[number], KeyRow>(`SELECT ${KEY_COLS} FROM keys ORDER BY key_id LIMIT ?`),
    listKeysAfter: db.prepare<[string, number], KeyRow>(
      `SELECT ${KEY_COLS} FROM keys WHERE key_id > ? ORDER BY key_id LIMIT ?`,
    ),
    updateKey: db.prepare<KeyUpdateRow>(
      'UPDATE keys SET state = @state, description = @description, deletion_date = @deletion_date, ' +
        'pending_window_days = @pending_window_days, policy = @policy WHERE key_id = @key_id',
    ),
    deleteKey: db.prepare<[string]>('DELETE FROM keys WHERE key_id = ?'),
    // Matches the partial index keys_pending_deletion.
    keysDue: db.prepare<[number], KeyRow>(
      `SELECT ${KEY_COLS} FROM keys WHERE state = 'PendingDeletion' AND deletion_date <= ? ` +
        'ORDER BY deletion_date, key_id',
    ),
    backingKeyIds: db.prepare<[], Pick<KeyRow, 'key_id' | 'backing_key_id'>>(
      'SELECT key_id, backing_key_id FROM keys ORDER BY key_id',
    ),

    getAlias: db.prepare<[string], AliasRow>(`SELECT ${ALIAS_COLS} FROM aliases WHERE alias_name = ?`),
    insertAlias: db.prepare<[string, string, number, number]>(
      `INSERT INTO aliases (${ALIAS_COLS}) VALUES (?, ?, ?, ?)`,
    ),
    updateAlias: db.prepare<[string, number, string]>(
      'UPDATE aliases SET key_id = ?, updated_at = ? WHERE alias_name = ?',
    ),
    deleteAlias: db.prepare<[string]>('DELETE FROM aliases WHERE alias_name = ?'),
    listAliases: db.prepare<[number], AliasRow>(
      `SELECT ${ALIAS_COLS} FROM aliases ORDER BY alias_name LIMIT ?`,
    ),
    listAliasesAfter: db.prepare<[string, number], AliasRow>(
      `SELECT ${ALIAS_COLS} FROM aliases WHERE alias_name > ? ORDER BY alias_name LIMIT ?`,
    ),
    listAliasesOfKey: db.prepare<[string, number], AliasRow>(
      `SELECT ${ALIAS_COLS} FROM aliases WHERE key_id = ? ORDER BY alias_name LIMIT ?`,
    ),
    listAliasesOfKeyAfter: db.prepare<[string, string, number], AliasRow>(
      `SELECT ${ALIAS_COLS} FROM aliases WHERE key_id = ? AND alias_name > ? ORDER BY alias_name LIMIT ?`,
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

    insertCustomKeyStore: db.prepare<CustomKeyStoreRow>(
      `INSERT INTO custom_key_stores (${CKS_COLS}) VALUES (@id, @name, @type, @cluster_id, ` +
        '@trust_anchor_certificate, @sealed_password, @created_at, @connection_state, ' +
        '@connection_error_code, @want_connected)',
    ),
    getCustomKeyStore: db.prepare<[string], CustomKeyStoreRow>(
      `SELECT ${CKS_COLS} FROM custom_key_stores WHERE id = ?`,
    ),
    getCustomKeyStoreByName: db.prepare<[string], CustomKeyStoreRow>(
      `SELECT ${CKS_COLS} FROM custom_key_stores WHERE name = ?`,
    ),
    listCustomKeyStores: db.prepare<[number], CustomKeyStoreRow>(
      `SELECT ${CKS_COLS} FROM custom_key_stores ORDER BY id LIMIT ?`,
    ),
    listCustomKeyStoresAfter: db.prepare<[string, number], CustomKeyStoreRow>(
      `SELECT ${CKS_COLS} FROM custom_key_stores WHERE id > ? ORDER BY id LIMIT ?`,
    ),
    updateCustomKeyStore: db.prepare<CustomKeyStoreUpdateRow>(
      'UPDATE custom_key_stores SET name = @name, cluster_id = @cluster_id, ' +
        'sealed_password = @sealed_password, connection_state = @connection_state, ' +
        'connection_error_code = @connection_error_code, want_connected = @want_connected ' +
        'WHERE id = @id',
    ),
    deleteCustomKeyStore: db.prepare<[string]>('DELETE FROM custom_key_stores WHERE id = ?'),
    countCustomKeyStores: db
      .prepare<[], number>('SELECT count(*) FROM custom_key_stores')
      .pluck(),
    // Served by the index keys_custom_key_store_id.
    countKeysInCustomKeyStore: db
      .prepare<[string], number>('SELECT count(*) FROM keys WHERE custom_key_store_id = ?')
      .pluck(),
  };
}
