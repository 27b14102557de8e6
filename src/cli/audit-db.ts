// Where the audit commands find the trail: <data-dir>/audit.db, opened read-only; or, when the
// service configuration (--config, $KEYBRIDGE_CONFIG) names a PostgreSQL store, that database,
// which every node of the deployment writes one chain to.

import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PostgresAuditReader } from '../audit/postgres/reader.js';
import { postgresConnection } from '../store/open-store.js';
import { UsageError } from './args.js';
import type { CommandContext } from './command.js';

export const AUDIT_DB_NAME = 'audit.db';

/** The audit database path; throws (exit 1) when there is none, naming the path looked at. */
export function auditDbPath(ctx: CommandContext): string {
  const path = join(ctx.dataDir(), AUDIT_DB_NAME);
  if (!existsSync(path)) throw new Error(`no audit trail at ${path} (set --data-dir or KEYBRIDGE_DATA_DIR to keybridge's data directory)`);
  return path;
}

/** The trail in PostgreSQL when the service configuration names that store; undefined for the file. */
export function postgresAuditReader(ctx: CommandContext): PostgresAuditReader | undefined {
  const config = ctx.serviceConfig();
  return config?.store.kind === 'postgres' ? new PostgresAuditReader(postgresConnection(config.store)) : undefined;
}

/**
 * Runs `fn` on a trail file: <data-dir>/audit.db, or a consistent copy of the PostgreSQL trail in a
 * private temporary directory (removed afterwards), so verify, export and digests check exactly
 * what the database holds with the code that checks a file.
 */
export async function withAuditFile<T>(ctx: CommandContext, fn: (path: string) => T): Promise<T> {
  const reader = postgresAuditReader(ctx);
  if (reader === undefined) return fn(auditDbPath(ctx));
  const dir = mkdtempSync(join(tmpdir(), 'keybridge-audit-'));
  try {
    const path = join(dir, AUDIT_DB_NAME);
    await reader.snapshot(path);
    return fn(path);
  } finally {
    await reader.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** An ISO 8601 time, or a time relative to now: 30s, 15m, 2h, 7d. */
export function parseTime(option: string, text: string, now: number): Date {
  const relative = /^(\d+)([smhd])$/.exec(text);
  if (relative) {
    const unit = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[relative[2] as 's' | 'm' | 'h' | 'd'];
    return new Date(now - Number(relative[1]) * unit);
  }
  const ms = /^\d{4}-\d{2}-\d{2}/.test(text) ? Date.parse(text) : Number.NaN;
  if (Number.isNaN(ms)) throw new UsageError(`--${option} must be an ISO 8601 time (2025-01-02T03:04:05Z) or relative (30m, 2h, 7d)`);
  return new Date(ms);
}

export function positiveInt(option: string, text: string): number {
  const n = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 1) throw new UsageError(`--${option} must be a positive integer`);
  return n;
}
