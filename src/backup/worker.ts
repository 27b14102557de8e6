// Runs one createBackup off the main thread: VACUUM INTO and the token copy are synchronous file
// work of seconds per thousand keys, which on the service's own thread would stall every request
// (KeybridgeAdmin.CreateBackup). The result, or the error's message, goes back as one message.

import { workerData } from 'node:worker_threads';

import { answerFromThread } from '../off-thread.js';
import { createBackup, type BackupSource } from './create.js';

const { source, out } = workerData as { source: BackupSource; out: string };
await answerFromThread(() => createBackup(source, out));
