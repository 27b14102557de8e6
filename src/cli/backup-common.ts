// What the backup commands back up: the data directory's metadata store, audit trail and embedded
// tokens, found from the service configuration (--config / KEYBRIDGE_CONFIG) or the data directory.

import { resolve } from 'node:path';
import type { BackupSource } from '../backup/create.js';
import { backupSourceOf } from '../backup/source.js';
import { parseConfig } from '../config/load.js';
import type { CommandContext } from './command.js';

export function backupSource(ctx: CommandContext): BackupSource {
  return backupSourceOf(ctx.serviceConfig() ?? parseConfig({ dataDir: ctx.dataDir() }, resolve('.')));
}
