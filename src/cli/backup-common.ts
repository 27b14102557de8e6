// What the backup commands back up: the data directory's metadata store, audit trail and embedded
// tokens, found from the service configuration (--config / KEYBRIDGE_CONFIG) or the data directory.

import { join, resolve } from 'node:path';
import type { BackupSource } from '../backup/create.js';
import { AUDIT_SIGNING_KEY_FILE } from '../audit/digest.js';
import { parseConfig } from '../config/load.js';
import type { CommandContext } from './command.js';

export function backupSource(ctx: CommandContext): BackupSource {
  const config = ctx.serviceConfig() ?? parseConfig({ dataDir: ctx.dataDir() }, resolve('.'));
  if (config.store.kind === 'postgres') {
    throw new Error(
      'this deployment keeps its metadata and audit trail in PostgreSQL: back that database up with PostgreSQL\'s own tools ' +
        '(pg_dump, or base backups with WAL archiving) and the HSM with its vendor\'s backup (docs/backup.md)',
    );
  }
  return {
    dataDir: config.dataDir,
    storePath: config.store.path!,
    auditPath: config.audit.path!,
    tokensDir: config.embedded ? join(config.dataDir, 'tokens') : undefined,
    clustersDir: config.clustersDir,
    signingKeyPem: join(config.dataDir, AUDIT_SIGNING_KEY_FILE),
  };
}
