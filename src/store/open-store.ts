// Opens the metadata store the configuration names: SQLite in the data directory, or PostgreSQL.
// With PostgreSQL the audit trail lives in the same database (src/audit/postgres/).

import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { readSecret } from '../config/secrets.js';
import type { MetadataStore } from '../ports/store.js';
import type { XksStore } from '../ports/xks-store.js';
import type { PostgresConnectionOptions } from './postgres/connection.js';
import { PostgresStore } from './postgres/postgres-store.js';
import { SqliteStore } from './sqlite/sqlite-store.js';

/** A metadata store with the XKS proxy's records on the same database. */
export type OpenedStore = MetadataStore & { readonly xks: XksStore };

export async function openStore(config: Config['store'], logger: Logger): Promise<OpenedStore> {
  if (config.kind === 'sqlite') return SqliteStore.open(config.path!);
  return PostgresStore.open({
    ...postgresConnection(config),
    onIdleError: (err) => logger.warn({ err: err.message }, 'a PostgreSQL connection of the metadata store failed while idle; it is replaced on next use'),
  });
}

/** Where and how to reach the configured PostgreSQL database (the store, the audit trail, the operator's tools). */
export function postgresConnection(config: Extract<Config['store'], { kind: 'postgres' }>): PostgresConnectionOptions {
  const ca = config.tls?.caFile === undefined ? undefined : readFileSync(config.tls.caFile, 'utf8');
  return {
    host: config.host,
    port: config.port,
    database: config.database,
    user: config.user,
    ...(config.password === undefined ? {} : { password: readSecret(config.password) }),
    ...(config.tls === undefined ? {} : { ssl: ca === undefined ? true : { ca } }),
    maxConnections: config.maxConnections,
    connectTimeoutMs: config.connectTimeoutMs,
    queryTimeoutMs: config.queryTimeoutMs,
  };
}
