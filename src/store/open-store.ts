// Opens the metadata store the configuration names: SQLite in the data directory, or PostgreSQL.

import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { readSecret } from '../config/secrets.js';
import type { MetadataStore } from '../ports/store.js';
import type { XksStore } from '../ports/xks-store.js';
import { PostgresStore } from './postgres/postgres-store.js';
import { SqliteStore } from './sqlite/sqlite-store.js';

/** A metadata store with the XKS proxy's records on the same database. */
export type OpenedStore = MetadataStore & { readonly xks: XksStore };

export async function openStore(config: Config['store'], logger: Logger): Promise<OpenedStore> {
  if (config.kind === 'sqlite') return SqliteStore.open(config.path!);
  const ca = config.tls?.caFile === undefined ? undefined : readFileSync(config.tls.caFile, 'utf8');
  return PostgresStore.open({
    host: config.host,
    port: config.port,
    database: config.database,
    user: config.user,
    ...(config.password === undefined ? {} : { password: readSecret(config.password) }),
    ...(config.tls === undefined ? {} : { ssl: ca === undefined ? true : { ca } }),
    maxConnections: config.maxConnections,
    connectTimeoutMs: config.connectTimeoutMs,
    queryTimeoutMs: config.queryTimeoutMs,
    onIdleError: (err) => logger.warn({ err: err.message }, 'a PostgreSQL connection of the metadata store failed while idle; it is replaced on next use'),
  });
}
