// Runs one verifyAuditFile off the main thread (KeybridgeAdmin.VerifyAuditTrail): better-sqlite3
// reads synchronously and every record is hashed, which on the service's own thread would stall
// every request for as long as `keybridge audit verify` takes on the trail.

import { workerData } from 'node:worker_threads';

import { answerFromThread } from '../off-thread.js';
import { verifyAuditFile } from './verify.js';

const { path, publicKeyPem } = workerData as { path: string; publicKeyPem: string | undefined };
await answerFromThread(() => verifyAuditFile(path, publicKeyPem === undefined ? {} : { publicKeyPem }));
