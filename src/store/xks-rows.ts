// The XKS proxy's rows (migration 8) as both SQL stores return them, and their mapping.

import type { XksCredentialRecord, XksKeyRecord, XksKeyStatus, XksKeyUsage } from '../ports/xks-store.js';

export interface XksKeyRow {
  xks_key_id: string;
  uri_path: string;
  custom_key_store_id: string | null;
  backing_key_id: string;
  usage: string;
  status: string;
  description: string;
  created_at: number;
}

export interface XksCredentialRow {
  access_key_id: string;
  uri_path: string;
  sealed_secret: string;
  created_at: number;
}

export function xksKeyToRow(key: XksKeyRecord): XksKeyRow {
  return {
    xks_key_id: key.xksKeyId,
    uri_path: key.uriPath,
    custom_key_store_id: key.customKeyStoreId,
    backing_key_id: key.backingKeyId,
    usage: key.usage.join(','),
    status: key.status,
    description: key.description,
    created_at: key.createdAt,
  };
}

export function rowToXksKey(row: XksKeyRow): XksKeyRecord {
  return {
    xksKeyId: row.xks_key_id,
    uriPath: row.uri_path,
    customKeyStoreId: row.custom_key_store_id,
    backingKeyId: row.backing_key_id,
    usage: row.usage.split(',') as XksKeyUsage[],
    status: row.status as XksKeyStatus,
    description: row.description,
    createdAt: row.created_at,
  };
}

export function rowToXksCredential(row: XksCredentialRow): XksCredentialRecord {
  return { accessKeyId: row.access_key_id, uriPath: row.uri_path, sealedSecret: row.sealed_secret, createdAt: row.created_at };
}
