// The running service's way to verify its own audit trail (KeybridgeAdmin.VerifyAuditTrail, for
// the web console): exactly what `keybridge audit verify` runs (verify.ts), on the trail file, or
// on a consistent copy of the PostgreSQL trail made the way the CLI makes it (postgres/reader.ts
// snapshot() into a private temporary directory, removed afterwards).
//
// The public key is the one the service signs digests with, read from the HSM at start
// (AuditSigningKey.publicKeyPem), not the PEM file next to the trail: a verifier that trusted a
// key found beside the trail would trust whoever could replace both.
//
// Verification is synchronous (better-sqlite3) and hashes every record, so it runs in a worker
// thread of its own (verify-worker.ts): the service keeps answering requests meanwhile.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runOffThread } from '../off-thread.js';
import type { PostgresAuditReader } from './postgres/reader.js';
import type { VerifyResult } from './verify.js';

export interface TrailVerifier {
  /** Verifies the whole trail; rejects when it cannot be read at all (not the same as a failed check). */
  verify(): Promise<VerifyResult>;
}

/** The trail file at `path`, opened read-only for each run (the writer keeps appending meanwhile). */
export function fileTrailVerifier(path: string, publicKeyPem: string | undefined): TrailVerifier {
  return oneRunAtATime(() => verifyOffThread(path, publicKeyPem));
}

/** The PostgreSQL trail: a snapshot copied into a temporary trail file, verified, then removed. */
export function postgresTrailVerifier(reader: () => PostgresAuditReader, publicKeyPem: string | undefined): TrailVerifier {
  return oneRunAtATime(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keybridge-audit-verify-'));
    try {
      const path = join(dir, 'audit.db');
      await reader().snapshot(path);
      return await verifyOffThread(path, publicKeyPem);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

/** Callers arriving while a run is in progress get that run's result instead of starting another. */
function oneRunAtATime(run: () => Promise<VerifyResult>): TrailVerifier {
  let running: Promise<VerifyResult> | undefined;
  return {
    verify() {
      running ??= run().finally(() => {
        running = undefined;
      });
      return running;
    },
  };
}

function verifyOffThread(path: string, publicKeyPem: string | undefined): Promise<VerifyResult> {
  return runOffThread(new URL('./verify-worker.js', import.meta.url), { path, publicKeyPem }, 'audit verification');
}
