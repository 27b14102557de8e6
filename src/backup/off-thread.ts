// createBackup in a worker thread of its own (worker.ts), for the running service.

import { Worker } from 'node:worker_threads';

import type { BackupResult, BackupSource } from './create.js';

export function createBackupOffThread(source: BackupSource, out: string): Promise<BackupResult> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: { source, out } });
    let answered = false;
    worker.once('message', (message: { ok: true; result: BackupResult } | { ok: false; message: string }) => {
      answered = true;
      if (message.ok) resolve(message.result);
      else reject(new Error(message.message));
    });
    worker.once('error', (err) => {
      answered = true;
      reject(err);
    });
    worker.once('exit', (code) => {
      if (!answered) reject(new Error(`the backup thread exited with ${code} before it answered`));
    });
  });
}
