// Every SQL statement SqliteStore runs, prepared once per connection.

import type Database from 'better-sqlite3';
import type {
  AccessKeyRow,
  AliasRow,
  CustomKeyStoreRow,
  GrantRow,
  ImportWrappingKeyRow,
  KeyMaterialRow,
  KeyRow,
  PrincipalPolicyRow,
  PrincipalRow,
  RotationScheduleRow,
  TagRow,
} from '../rows.js';

export type Statements = ReturnType<typeof prepareStatements>;

const KEY_COLS =
  'key_id, arn, account_id, region, created_at, description, key_usage, key_spec, origin, ' +
  'state, deletion_date, pending_window_days, policy, backing_key_id, custom_key_store_id, public_key, symmetric_suite, xks_key_id';
const MATERIAL_COLS =
  'key_id, ordinal, material_id, created_at, rotation_date, rotation_type, import_state, expiration_model, valid_to, description, suite';
const ALIAS_COLS = 'alias_name, key_id, created_at, updated_at';
const CKS_COLS =
  'id, name, type, cluster_id, trust_anchor_certificate, sealed_password, created_at, ' +
  'connection_state, connection_error_code, want_connected, xks_proxy';

const PRINCIPAL_COLS = 'arn, account_id, type, name, path, created_at';
const ACCESS_KEY_COLS = 'access_key_id, principal_arn, sealed_secret, status, created_at';
const GRANT_COLS =
  'grant_id, key_id, name, grantee_principal, retiring_principal, operations, constraints, ' +
  'issuing_account, created_at, token_key';

export type KeyUpdateRow = Pick<
  KeyRow,
  'key_id' | 'state' | 'description' | 'deletion_date' | 'pending_window_days' | 'policy'
>;
export type CustomKeyStoreUpdateRow = Pick<
  CustomKeyStoreRow,
  'id' | 'name' | 'cluster_id' | 'sealed_password' | 'connection_state' | 'connection_error_code' | 'want_connected' | 'xks_proxy'
>;

export function prepareStatements(db: Database.Database) {
  return {
    insertKey: db.prepare<KeyRow>(
      `INSERT INTO keys (${KEY_COLS}) VALUES (@key_id, @arn, @account_id, @region, @created_at, ` +
        '@description, @key_usage, @key_spec, @origin, @state, @deletion_date, ' +
        '@pending_window_days, @policy, @backing_key_id, @custom_key_store_id, @public_key, @symmetric_suite, @xks_key_id)',
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
      // The current material is a key_materials row too (createKey and rotations record each).
      // Imported material that was deleted or expired is not in the HSM, by design.
      "SELECT key_id, material_id AS backing_key_id FROM key_materials WHERE import_state IS NOT 'PENDING_IMPORT' ORDER BY key_id, ordinal",
    ),
    insertMaterial: db.prepare<KeyMaterialRow>(
      `INSERT INTO key_materials (${MATERIAL_COLS}) VALUES (@key_id, @ordinal, @material_id, @created_at, ` +
        '@rotation_date, @rotation_type, @import_state, @expiration_model, @valid_to, @description, @suite)',
    ),
    listMaterials: db.prepare<[string], KeyMaterialRow>(`SELECT ${MATERIAL_COLS} FROM key_materials WHERE key_id = ? ORDER BY ordinal`),
    getMaterial: db.prepare<[string, string], KeyMaterialRow>(`SELECT ${MATERIAL_COLS} FROM key_materials WHERE key_id = ? AND material_id = ?`),
    setMaterialImport: db.prepare<Pick<KeyMaterialRow, 'key_id' | 'material_id' | 'import_state' | 'expiration_model' | 'valid_to' | 'description'>>(
      'UPDATE key_materials SET import_state = @import_state, expiration_model = @expiration_model, valid_to = @valid_to, ' +
        'description = @description WHERE key_id = @key_id AND material_id = @material_id',
    ),
    countMaterialsNotImported: db
      .prepare<[string], number>("SELECT count(*) FROM key_materials WHERE key_id = ? AND import_state IS NOT 'IMPORTED'")
      .pluck(),
    setKeyState: db.prepare<[string, string]>('UPDATE keys SET state = ? WHERE key_id = ?'),
    setPublicKey: db.prepare<[string, string]>('UPDATE keys SET public_key = ? WHERE key_id = ?'),
    // Matches the partial index key_materials_expiry.
    materialsExpired: db.prepare<[number], KeyMaterialRow>(
      `SELECT ${MATERIAL_COLS} FROM key_materials WHERE import_state = 'IMPORTED' AND valid_to IS NOT NULL AND valid_to <= ? ` +
        'ORDER BY valid_to, key_id',
    ),
    insertWrappingKey: db.prepare<ImportWrappingKeyRow>(
      'INSERT INTO import_wrapping_keys (wrapping_key_id, key_id, valid_to) VALUES (@wrapping_key_id, @key_id, @valid_to)',
    ),
    wrappingKeysExpired: db.prepare<[number], ImportWrappingKeyRow>(
      'SELECT wrapping_key_id, key_id, valid_to FROM import_wrapping_keys WHERE valid_to <= ? ORDER BY valid_to',
    ),
    deleteWrappingKey: db.prepare<[string]>('DELETE FROM import_wrapping_keys WHERE wrapping_key_id = ?'),
    lastMaterialOrdinal: db.prepare<[string], number>('SELECT COALESCE(MAX(ordinal), 0) FROM key_materials WHERE key_id = ?').pluck(),
    setCurrentMaterial: db.prepare<[string, string | null, string]>('UPDATE keys SET backing_key_id = ?, symmetric_suite = ? WHERE key_id = ?'),
    getSchedule: db.prepare<[string], RotationScheduleRow>(
      'SELECT key_id, period_days, next_rotation_at, on_demand_count FROM rotation_schedules WHERE key_id = ?',
    ),
    setSchedule: db.prepare<[string, number | null, number | null]>(
      'INSERT INTO rotation_schedules (key_id, period_days, next_rotation_at) VALUES (?, ?, ?) ' +
        'ON CONFLICT (key_id) DO UPDATE SET period_days = excluded.period_days, next_rotation_at = excluded.next_rotation_at',
    ),
    setNextRotation: db.prepare<[number, string]>('UPDATE rotation_schedules SET next_rotation_at = ? WHERE key_id = ?'),
    countOnDemand: db.prepare<[string]>(
      'INSERT INTO rotation_schedules (key_id, on_demand_count) VALUES (?, 1) ' +
        'ON CONFLICT (key_id) DO UPDATE SET on_demand_count = on_demand_count + 1',
    ),
    // Matches the partial index rotation_due.
    keysDueForRotation: db.prepare<[number], KeyRow>(
      `SELECT ${KEY_COLS.split(', ').map((c) => `k.${c}`).join(', ')} FROM rotation_schedules r JOIN keys k USING (key_id) ` +
        "WHERE r.period_days IS NOT NULL AND r.next_rotation_at <= ? AND k.state = 'Enabled' ORDER BY r.next_rotation_at, k.key_id",
    ),

    getAlias: db.prepare<[string], AliasRow>(`SELECT ${ALIAS_COLS} FROM aliases WHERE alias_name = ?`),
    insertAlias: db.prepare<[string, string, number, number]>(
      `INSERT INTO aliases (${ALIAS_COLS}) VALUES (?, ?, ?, ?)`,
    ),
    updateAlias: db.prepare<[string, number, string]>(
      'UPDATE aliases SET key_id = ?, updated_at = ? WHERE alias_name = ?',
    ),
    deleteAlias: db.prepare<[string]>('DELETE FROM aliases WHERE alias_name = ?'),
    updateAliasFrom: db.prepare<[string, number, string, string]>(
      'UPDATE aliases SET key_id = ?, updated_at = ? WHERE alias_name = ? AND key_id = ?',
    ),
    deleteAliasOf: db.prepare<[string, string]>('DELETE FROM aliases WHERE alias_name = ? AND key_id = ?'),
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
        '@connection_error_code, @want_connected, @xks_proxy)',
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
        'connection_error_code = @connection_error_code, want_connected = @want_connected, xks_proxy = @xks_proxy ' +
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

    insertPrincipal: db.prepare<PrincipalRow>(
      `INSERT INTO principals (${PRINCIPAL_COLS}) VALUES (@arn, @account_id, @type, @name, @path, @created_at)`,
    ),
    getPrincipal: db.prepare<[string], PrincipalRow>(`SELECT ${PRINCIPAL_COLS} FROM principals WHERE arn = ?`),
    listPrincipals: db.prepare<[number], PrincipalRow>(`SELECT ${PRINCIPAL_COLS} FROM principals ORDER BY arn LIMIT ?`),
    listPrincipalsAfter: db.prepare<[string, number], PrincipalRow>(
      `SELECT ${PRINCIPAL_COLS} FROM principals WHERE arn > ? ORDER BY arn LIMIT ?`,
    ),
    deletePrincipal: db.prepare<[string]>('DELETE FROM principals WHERE arn = ?'),
    policiesOf: db.prepare<[string], PrincipalPolicyRow>(
      'SELECT policy_name, document FROM principal_policies WHERE principal_arn = ? ORDER BY policy_name',
    ),
    upsertPolicy: db.prepare<[string, string, string]>(
      'INSERT INTO principal_policies (principal_arn, policy_name, document) VALUES (?, ?, ?) ' +
        'ON CONFLICT (principal_arn, policy_name) DO UPDATE SET document = excluded.document',
    ),
    deletePolicy: db.prepare<[string, string]>('DELETE FROM principal_policies WHERE principal_arn = ? AND policy_name = ?'),

    insertAccessKey: db.prepare<AccessKeyRow>(
      `INSERT INTO access_keys (${ACCESS_KEY_COLS}) VALUES (@access_key_id, @principal_arn, @sealed_secret, @status, @created_at)`,
    ),
    getAccessKey: db.prepare<[string], AccessKeyRow>(`SELECT ${ACCESS_KEY_COLS} FROM access_keys WHERE access_key_id = ?`),
    listAccessKeys: db.prepare<[], AccessKeyRow>(`SELECT ${ACCESS_KEY_COLS} FROM access_keys ORDER BY access_key_id`),
    listAccessKeysOf: db.prepare<[string], AccessKeyRow>(
      `SELECT ${ACCESS_KEY_COLS} FROM access_keys WHERE principal_arn = ? ORDER BY access_key_id`,
    ),
    setAccessKeyStatus: db.prepare<[string, string]>('UPDATE access_keys SET status = ? WHERE access_key_id = ?'),
    deleteAccessKey: db.prepare<[string]>('DELETE FROM access_keys WHERE access_key_id = ?'),
    rememberDeletedAccessKey: db.prepare<[string, number]>(
      'INSERT OR IGNORE INTO deleted_access_keys (access_key_id, deleted_at) VALUES (?, ?)',
    ),
    isAccessKeyDeleted: db
      .prepare<[string], number>('SELECT count(*) FROM deleted_access_keys WHERE access_key_id = ?')
      .pluck(),

    insertGrant: db.prepare<GrantRow>(
      `INSERT INTO grants (${GRANT_COLS}) VALUES (@grant_id, @key_id, @name, @grantee_principal, ` +
        '@retiring_principal, @operations, @constraints, @issuing_account, @created_at, @token_key)',
    ),
    getGrant: db.prepare<[string], GrantRow>(`SELECT ${GRANT_COLS} FROM grants WHERE grant_id = ?`),
    // One statement for every filter combination: a NULL parameter switches its filter off.
    listGrants: db.prepare<{ key_id: string; after: string | null; grant_id: string | null; grantee: string | null; limit: number }, GrantRow>(
      `SELECT ${GRANT_COLS} FROM grants WHERE key_id = @key_id ` +
        'AND (@after IS NULL OR grant_id > @after) AND (@grant_id IS NULL OR grant_id = @grant_id) ' +
        'AND (@grantee IS NULL OR grantee_principal = @grantee) ORDER BY grant_id LIMIT @limit',
    ),
    listRetirableGrants: db.prepare<{ retiring: string; after: string | null; limit: number }, GrantRow>(
      `SELECT ${GRANT_COLS} FROM grants WHERE retiring_principal = @retiring ` +
        'AND (@after IS NULL OR grant_id > @after) ORDER BY grant_id LIMIT @limit',
    ),
    grantsByName: db.prepare<[string, string], GrantRow>(
      `SELECT ${GRANT_COLS} FROM grants WHERE key_id = ? AND name = ? ORDER BY created_at, grant_id`,
    ),
    grantsForGrantee: db.prepare<[string, string], GrantRow>(
      `SELECT ${GRANT_COLS} FROM grants WHERE key_id = ? AND grantee_principal = ? ORDER BY grant_id`,
    ),
    countGrants: db.prepare<[string], number>('SELECT count(*) FROM grants WHERE key_id = ?').pluck(),
    deleteGrant: db.prepare<[string]>('DELETE FROM grants WHERE grant_id = ?'),

    // Takes the item when it is free, its lease has ended, or the owner holds it already.
    claimWork: db.prepare<{ item: string; owner: string; now: number; lease_until: number }>(
      'INSERT INTO work_claims (item, owner, lease_until) VALUES (@item, @owner, @lease_until) ' +
        'ON CONFLICT (item) DO UPDATE SET owner = excluded.owner, lease_until = excluded.lease_until ' +
        'WHERE work_claims.lease_until <= @now OR work_claims.owner = excluded.owner',
    ),
    releaseWork: db.prepare<[string, string]>('DELETE FROM work_claims WHERE item = ? AND owner = ?'),

    putNodeReport: db.prepare<{ node: string; subject: string; report: string; reported_at: number }>(
      'INSERT INTO node_reports (node, subject, report, reported_at) VALUES (@node, @subject, @report, @reported_at) ' +
        'ON CONFLICT (subject, node) DO UPDATE SET report = excluded.report, reported_at = excluded.reported_at',
    ),
    nodeReports: db.prepare<[string, number], { node: string; subject: string; report: string; reported_at: number }>(
      'SELECT node, subject, report, reported_at FROM node_reports WHERE subject = ? AND reported_at >= ? ORDER BY node',
    ),
    deleteNodeReportsOf: db.prepare<[string]>('DELETE FROM node_reports WHERE node = ?'),
    deleteNodeReportsBefore: db.prepare<[number]>('DELETE FROM node_reports WHERE reported_at < ?'),
  };
}
