// createBackup in a worker thread of its own (worker.ts), for the running service.

import { runOffThread } from '../off-thread.js';
import type { BackupResult, BackupSource } from './create.js';

export function createBackupOffThread(source: BackupSource, out: string): Promise<BackupResult> {
  return runOffThread(new URL('./worker.js', import.meta.url), { source, out }, 'backup');
}
