// Rows as the SQL stores return them (snake_case columns) and their mapping to and from the domain records.
//
// The enum-like columns are TEXT, so a value written by another build (or by hand) could be
// anything; reading fails rather than hand the domain a value its switch statements do not know.

import type {
  ConnectionErrorCode,
  ConnectionState,
  CustomKeyStoreRecord,
  XksProxyConfiguration,
} from '../domain/custom-key-store.js';
import type { KeyOrigin, KeyRecord, KeySpec, KeyState, KeyUsage } from '../domain/key.js';
import { SYMMETRIC_SUITES } from '../domain/symmetric-suite.js';
import { KEY_SPECS as ALL_KEY_SPECS, KEY_USAGES as ALL_KEY_USAGES } from '../domain/key-spec.js';
import { GRANT_OPERATIONS, type GrantConstraints, type GrantRecord } from '../domain/grant.js';
import type { AccessKeyRecord, AccessKeyStatus, AliasRecord, ExpirationModel, ImportWrappingKeyRecord, KeyMaterialRecord, PrincipalRecord } from '../ports/store.js';

export interface KeyRow {
  key_id: string;
  arn: string;
  account_id: string;
  region: string;
  created_at: number;
  description: string;
  key_usage: string;
  key_spec: string;
  origin: string;
  state: string;
  deletion_date: number | null;
  pending_window_days: number | null;
  policy: string;
  backing_key_id: string;
  custom_key_store_id: string | null;
  public_key: string | null;
  /** NULL: AES_256_GCM (and every non-symmetric key). */
  symmetric_suite: string | null;
  /** Keys of origin EXTERNAL_KEY_STORE: the external key's id at the proxy. */
  xks_key_id: string | null;
}

export interface AliasRow {
  alias_name: string;
  key_id: string;
  created_at: number;
  updated_at: number;
}

export interface TagRow {
  tag_key: string;
  tag_value: string;
}

export interface CustomKeyStoreRow {
  id: string;
  name: string;
  type: string;
  cluster_id: string;
  trust_anchor_certificate: string;
  sealed_password: string;
  created_at: number;
  connection_state: string;
  connection_error_code: string | null;
  /** 0 or 1 (the column has a CHECK). */
  want_connected: number;
  /** EXTERNAL_KEY_STORE: XksProxyConfiguration as JSON. */
  xks_proxy: string | null;
}

const KEY_STATES = ['Enabled', 'Disabled', 'PendingDeletion', 'PendingImport'] as const satisfies readonly KeyState[];
const KEY_USAGES: readonly KeyUsage[] = ALL_KEY_USAGES;
const KEY_SPECS: readonly KeySpec[] = ALL_KEY_SPECS;
const KEY_ORIGINS = ['AWS_KMS', 'AWS_CLOUDHSM', 'EXTERNAL', 'EXTERNAL_KEY_STORE'] as const satisfies readonly KeyOrigin[];
const CUSTOM_KEY_STORE_TYPES = ['AWS_CLOUDHSM', 'EXTERNAL_KEY_STORE'] as const satisfies readonly CustomKeyStoreRecord['type'][];
const CONNECTION_STATES = [
  'CONNECTED',
  'CONNECTING',
  'FAILED',
  'DISCONNECTED',
  'DISCONNECTING',
] as const satisfies readonly ConnectionState[];
const CONNECTION_ERROR_CODES = [
  'INVALID_CREDENTIALS',
  'CLUSTER_NOT_FOUND',
  'NETWORK_ERRORS',
  'INTERNAL_ERROR',
  'INSUFFICIENT_CLOUDHSM_HSMS',
  'USER_LOCKED_OUT',
  'USER_NOT_FOUND',
  'USER_LOGGED_IN',
  'XKS_PROXY_ACCESS_DENIED',
  'XKS_PROXY_INVALID_CONFIGURATION',
  'XKS_PROXY_INVALID_RESPONSE',
  'XKS_PROXY_INVALID_TLS_CONFIGURATION',
  'XKS_PROXY_NOT_REACHABLE',
  'XKS_PROXY_TIMED_OUT',
] as const satisfies readonly ConnectionErrorCode[];

function oneOf<T extends string>(allowed: readonly T[], value: string, column: string): T {
  const found = allowed.find((a) => a === value);
  if (found === undefined) throw new Error(`unexpected ${column} ${JSON.stringify(value)} in store`);
  return found;
}

export interface KeyMaterialRow {
  key_id: string;
  ordinal: number;
  material_id: string;
  created_at: number;
  rotation_date: number | null;
  rotation_type: string | null;
  import_state: string | null;
  expiration_model: string | null;
  valid_to: number | null;
  description: string | null;
  /** NULL: AES_256_GCM. */
  suite: string | null;
}

export interface ImportWrappingKeyRow {
  wrapping_key_id: string;
  key_id: string;
  valid_to: number;
}

/**
 * keys.backing_key_id is NOT NULL UNIQUE; a key of origin EXTERNAL has no material id before its
 * first import (KeyRecord.backingKeyId ''), so the column holds this prefix and the key id, which
 * can never be a material id (64 hex digits) nor collide between keys.
 */
const NO_MATERIAL_YET = 'pending-import:';

export interface RotationScheduleRow {
  key_id: string;
  period_days: number | null;
  next_rotation_at: number | null;
  on_demand_count: number;
}

export function rowToKeyMaterial(r: KeyMaterialRow): KeyMaterialRecord {
  return {
    keyId: r.key_id,
    ordinal: r.ordinal,
    materialId: r.material_id,
    createdAt: r.created_at,
    rotationDate: r.rotation_date,
    rotationType: r.rotation_type === 'AUTOMATIC' || r.rotation_type === 'ON_DEMAND' ? r.rotation_type : null,
    ...(r.suite === null ? {} : { suite: oneOf(SYMMETRIC_SUITES, r.suite, 'suite') }),
    ...(r.import_state === null
      ? {}
      : {
          imported: {
            importState: oneOf(IMPORT_STATES, r.import_state, 'import_state'),
            expirationModel: oneOf(EXPIRATION_MODELS, r.expiration_model ?? '', 'expiration_model'),
            validTo: r.valid_to,
            description: r.description ?? '',
          },
        }),
  };
}

const IMPORT_STATES = ['IMPORTED', 'PENDING_IMPORT'] as const;
const EXPIRATION_MODELS = ['KEY_MATERIAL_EXPIRES', 'KEY_MATERIAL_DOES_NOT_EXPIRE'] as const satisfies readonly ExpirationModel[];

export function rowToImportWrappingKey(r: ImportWrappingKeyRow): ImportWrappingKeyRecord {
  return { wrappingKeyId: r.wrapping_key_id, keyId: r.key_id, validTo: r.valid_to };
}

export function rowToKey(r: KeyRow): KeyRecord {
  return {
    keyId: r.key_id,
    arn: r.arn,
    accountId: r.account_id,
    region: r.region,
    createdAt: r.created_at,
    description: r.description,
    keyUsage: oneOf(KEY_USAGES, r.key_usage, 'key_usage'),
    keySpec: oneOf(KEY_SPECS, r.key_spec, 'key_spec'),
    origin: oneOf(KEY_ORIGINS, r.origin, 'origin'),
    state: oneOf(KEY_STATES, r.state, 'state'),
    deletionDate: r.deletion_date,
    pendingWindowDays: r.pending_window_days,
    policy: r.policy,
    backingKeyId: r.backing_key_id.startsWith(NO_MATERIAL_YET) ? '' : r.backing_key_id,
    customKeyStoreId: r.custom_key_store_id,
    // Absent (not null) for keys without one, so symmetric records read back as they were written.
    ...(r.public_key === null ? {} : { publicKey: r.public_key }),
    ...(r.symmetric_suite === null ? {} : { suite: oneOf(SYMMETRIC_SUITES, r.symmetric_suite, 'symmetric_suite') }),
    ...(r.xks_key_id === null ? {} : { xksKeyId: r.xks_key_id }),
  };
}

export function keyToRow(k: KeyRecord): KeyRow {
  return {
    key_id: k.keyId,
    arn: k.arn,
    account_id: k.accountId,
    region: k.region,
    created_at: k.createdAt,
    description: k.description,
    key_usage: k.keyUsage,
    key_spec: k.keySpec,
    origin: k.origin,
    state: k.state,
    deletion_date: k.deletionDate,
    pending_window_days: k.pendingWindowDays,
    policy: k.policy,
    backing_key_id: k.backingKeyId === '' ? `${NO_MATERIAL_YET}${k.keyId}` : k.backingKeyId,
    custom_key_store_id: k.customKeyStoreId,
    public_key: k.publicKey ?? null,
    symmetric_suite: k.suite ?? null,
    xks_key_id: k.xksKeyId ?? null,
  };
}

export function rowToAlias(r: AliasRow): AliasRecord {
  return { aliasName: r.alias_name, keyId: r.key_id, createdAt: r.created_at, updatedAt: r.updated_at };
}

export function rowToCustomKeyStore(r: CustomKeyStoreRow): CustomKeyStoreRecord {
  if (r.want_connected !== 0 && r.want_connected !== 1) {
    throw new Error(`unexpected want_connected ${r.want_connected} in store`);
  }
  return {
    id: r.id,
    name: r.name,
    type: oneOf(CUSTOM_KEY_STORE_TYPES, r.type, 'type'),
    clusterId: r.cluster_id,
    trustAnchorCertificate: r.trust_anchor_certificate,
    sealedPassword: r.sealed_password,
    createdAt: r.created_at,
    connectionState: oneOf(CONNECTION_STATES, r.connection_state, 'connection_state'),
    connectionErrorCode:
      r.connection_error_code === null
        ? null
        : oneOf(CONNECTION_ERROR_CODES, r.connection_error_code, 'connection_error_code'),
    wantConnected: r.want_connected === 1,
    ...(r.xks_proxy === null ? {} : { xksProxy: JSON.parse(r.xks_proxy) as XksProxyConfiguration }),
  };
}

export function customKeyStoreToRow(s: CustomKeyStoreRecord): CustomKeyStoreRow {
  return {
    id: s.id,
    name: s.name,
    type: s.type,
    cluster_id: s.clusterId,
    trust_anchor_certificate: s.trustAnchorCertificate,
    sealed_password: s.sealedPassword,
    created_at: s.createdAt,
    connection_state: s.connectionState,
    connection_error_code: s.connectionErrorCode,
    // better-sqlite3 does not bind booleans.
    want_connected: s.wantConnected ? 1 : 0,
    xks_proxy: s.xksProxy === undefined ? null : JSON.stringify(s.xksProxy),
  };
}

// ---- principals, access keys, grants ------------------------------------------------------------

export interface PrincipalRow {
  arn: string;
  account_id: string;
  type: string;
  name: string;
  path: string;
  created_at: number;
}

export interface PrincipalPolicyRow {
  policy_name: string;
  document: string;
}

export interface AccessKeyRow {
  access_key_id: string;
  principal_arn: string;
  sealed_secret: string;
  status: string;
  created_at: number;
}

export interface GrantRow {
  grant_id: string;
  key_id: string;
  name: string | null;
  grantee_principal: string;
  retiring_principal: string | null;
  /** JSON array of GrantOperation. */
  operations: string;
  /** JSON GrantConstraints, or null. */
  constraints: string | null;
  issuing_account: string;
  created_at: number;
  token_key: string;
}

const PRINCIPAL_TYPES = ['User', 'Role'] as const satisfies readonly PrincipalRecord['type'][];
const ACCESS_KEY_STATUSES = ['Active', 'Inactive'] as const satisfies readonly AccessKeyStatus[];

export function rowToPrincipal(r: PrincipalRow, policies: readonly PrincipalPolicyRow[]): PrincipalRecord {
  return {
    arn: r.arn,
    accountId: r.account_id,
    type: oneOf(PRINCIPAL_TYPES, r.type, 'principal type'),
    name: r.name,
    path: r.path,
    createdAt: r.created_at,
    policies: Object.fromEntries(policies.map((p) => [p.policy_name, p.document])),
  };
}

export function principalToRow(p: PrincipalRecord): PrincipalRow {
  return { arn: p.arn, account_id: p.accountId, type: p.type, name: p.name, path: p.path, created_at: p.createdAt };
}

export function rowToAccessKey(r: AccessKeyRow): AccessKeyRecord {
  return {
    accessKeyId: r.access_key_id,
    principalArn: r.principal_arn,
    sealedSecret: r.sealed_secret,
    status: oneOf(ACCESS_KEY_STATUSES, r.status, 'access key status'),
    createdAt: r.created_at,
  };
}

export function accessKeyToRow(k: AccessKeyRecord): AccessKeyRow {
  return {
    access_key_id: k.accessKeyId,
    principal_arn: k.principalArn,
    sealed_secret: k.sealedSecret,
    status: k.status,
    created_at: k.createdAt,
  };
}

export function rowToGrant(r: GrantRow): GrantRecord {
  const operations = JSON.parse(r.operations) as unknown;
  if (!Array.isArray(operations)) throw new Error('unexpected grant operations in store');
  return {
    grantId: r.grant_id,
    keyId: r.key_id,
    name: r.name,
    granteePrincipal: r.grantee_principal,
    retiringPrincipal: r.retiring_principal,
    operations: operations.map((op) => oneOf(GRANT_OPERATIONS, String(op), 'grant operation')),
    constraints: r.constraints === null ? null : (JSON.parse(r.constraints) as GrantConstraints),
    issuingAccount: r.issuing_account,
    createdAt: r.created_at,
    tokenKey: r.token_key,
  };
}

export function grantToRow(g: GrantRecord): GrantRow {
  return {
    grant_id: g.grantId,
    key_id: g.keyId,
    name: g.name,
    grantee_principal: g.granteePrincipal,
    retiring_principal: g.retiringPrincipal,
    operations: JSON.stringify(g.operations),
    constraints: g.constraints === null ? null : JSON.stringify(g.constraints),
    issuing_account: g.issuingAccount,
    created_at: g.createdAt,
    token_key: g.tokenKey,
  };
}
