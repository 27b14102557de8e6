// Rows as SQLite returns them and their mapping to and from the domain records.
//
// The enum-like columns are TEXT, so a value written by another build (or by hand) could be
// anything; reading fails rather than hand the domain a value its switch statements do not know.

import type {
  ConnectionErrorCode,
  ConnectionState,
  CustomKeyStoreRecord,
} from '../../domain/custom-key-store.js';
import type { KeyOrigin, KeyRecord, KeySpec, KeyState, KeyUsage } from '../../domain/key.js';
import type { AliasRecord } from '../../ports/store.js';

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
}

const KEY_STATES = ['Enabled', 'Disabled', 'PendingDeletion'] as const satisfies readonly KeyState[];
const KEY_USAGES = ['ENCRYPT_DECRYPT'] as const satisfies readonly KeyUsage[];
const KEY_SPECS = ['SYMMETRIC_DEFAULT'] as const satisfies readonly KeySpec[];
const KEY_ORIGINS = ['AWS_KMS', 'AWS_CLOUDHSM'] as const satisfies readonly KeyOrigin[];
const CUSTOM_KEY_STORE_TYPES = ['AWS_CLOUDHSM'] as const satisfies readonly CustomKeyStoreRecord['type'][];
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
] as const satisfies readonly ConnectionErrorCode[];

function oneOf<T extends string>(allowed: readonly T[], value: string, column: string): T {
  const found = allowed.find((a) => a === value);
  if (found === undefined) throw new Error(`unexpected ${column} ${JSON.stringify(value)} in store`);
  return found;
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
    backingKeyId: r.backing_key_id,
    customKeyStoreId: r.custom_key_store_id,
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
    backing_key_id: k.backingKeyId,
    custom_key_store_id: k.customKeyStoreId,
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
  };
}
