// What a node's backup copies, from its configuration: the SQLite metadata store and audit trail,
// the embedded SoftHSM2 tokens, the cluster definitions and the audit signing public key.

import { join } from 'node:path';

import { AUDIT_SIGNING_KEY_FILE } from '../audit/digest.js';
import type { Config } from '../config/schema.js';
import type { BackupSource } from './create.js';

/** Why this deployment has nothing for `backup create` to copy, or undefined when it has. */
export function backupRefusal(config: Readonly<Config>): string | undefined {
  if (config.store.kind !== 'postgres') return undefined;
  return (
    'this deployment keeps its metadata and audit trail in PostgreSQL: back that database up with PostgreSQL\'s own tools ' +
    '(pg_dump, or base backups with WAL archiving) and the HSM with its vendor\'s backup (docs/backup.md)'
  );
}

/** The files of the data directory a backup copies; throws with backupRefusal's reason when there are none. */
export function backupSourceOf(config: Readonly<Config>): BackupSource {
  if (config.store.kind === 'postgres') throw new Error(backupRefusal(config));
  return {
    dataDir: config.dataDir,
    storePath: config.store.path!,
    auditPath: config.audit.path!,
    tokensDir: config.embedded ? join(config.dataDir, 'tokens') : undefined,
    clustersDir: config.clustersDir,
    signingKeyPem: join(config.dataDir, AUDIT_SIGNING_KEY_FILE),
  };
}
