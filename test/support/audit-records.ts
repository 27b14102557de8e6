// Reading what the audit trail recorded: a test server's <dataDir>/audit.db (read-only), or, for a
// server started under KEYBRIDGE_TEST_STORE=postgres, its PostgreSQL database, where the trail is.

import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { postgresDatabaseOf } from './server.js';

/**
 * The records whose JSON `path` (e.g. `$.resources[0].ARN`, `$.requestID`: SQLite's json_extract
 * path, which PostgreSQL's jsonpath reads the same) equals `value`, in trail order.
 */
export async function auditRecordsWhere<T = Record<string, unknown>>(dataDir: string, path: string, value: string): Promise<T[]> {
  const url = postgresDatabaseOf(dataDir);
  if (url !== undefined) {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const { rows } = await client.query<{ record: string }>(
        "SELECT record FROM audit_records WHERE jsonb_path_query_first(record::jsonb, $1::jsonpath) #>> '{}' = $2 ORDER BY seq",
        [path, value],
      );
      return rows.map((r) => JSON.parse(r.record) as T);
    } finally {
      await client.end();
    }
  }
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
