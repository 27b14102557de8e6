// Runs one createBackup off the main thread: VACUUM INTO and the token copy are synchronous file
// work of seconds per thousand keys, which on the service's own thread would stall every request
// (KeybridgeAdmin.CreateBackup). The result, or the error's message, goes back as one message.

import { parentPort, workerData } from 'node:worker_threads';

import { createBackup, type BackupSource } from './create.js';

const { source, out } = workerData as { source: BackupSource; out: string };
try {
  const result = await createBackup(source, out);
  parentPort!.postMessage({ ok: true, result });
} catch (err) {
  parentPort!.postMessage({ ok: false, message: err instanceof Error ? err.message : String(err) });
}
