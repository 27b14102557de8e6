// Reading what the audit trail recorded, straight from a test server's audit.db (read-only).

import { join } from 'node:path';

import Database from 'better-sqlite3';

/** The records whose JSON `path` (e.g. `$.resources[0].ARN`, `$.requestID`) equals `value`, in trail order. */
export function auditRecordsWhere<T = Record<string, unknown>>(dataDir: string, path: string, value: string): T[] {
  const db = new Database(join(dataDir, 'audit.db'), { readonly: true });
  try {
    return db
      .prepare<[string, string], string>('SELECT record FROM audit_records WHERE json_extract(record, ?) = ? ORDER BY seq')
      .pluck()
      .all(path, value)
      .map((text) => JSON.parse(text) as T);
  } finally {
    db.close();
  }
}
