// PostgreSQL stopped under load through the KMS API (issue #16): while the database is away every
// request answers within its deadline with an AWS-shaped error (KMSInternalException or
// DependencyTimeoutException, nothing else, no hang); when it returns the node serves again by
// itself, every acknowledged ciphertext decrypts, every acknowledged request is in the audit trail,
// and the trail verifies.
//
// Its own throw-away PostgreSQL cluster (the test stops the server). Skips only when PostgreSQL's
// server is not installed, and not under CI=true.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CreateKeyCommand, DecryptCommand, EncryptCommand, KMSServiceException, type KMSClient } from '@aws-sdk/client-kms';
import pg from 'pg';
import { runCli } from '../support/cli.js';
import { startChildKeybridge, type ChildKeybridge } from '../support/keybridge-child.js';
import { sdkClient } from '../support/kms-client.js';
import { createTestDatabase, postgresLabMissing, postgresStoreConfig, startPostgresLab, type PostgresLab, type TestDatabase } from '../support/postgres-lab.js';
import { makeDataDir } from '../support/server.js';

const missing = process.env.CI === 'true' ? undefined : postgresLabMissing();

/** The longest a request may take while the database is away: the connect limit plus the statement limit, with room. */
const DEADLINE_MS = 8000;

interface Outcome {
  readonly phase: 'before' | 'down' | 'back';
  readonly ms: number;
  /** undefined when the call succeeded. */
  readonly error?: { readonly name: string; readonly status: number | undefined; readonly message: string };
}

describe('PostgreSQL stopped under load', { skip: missing ?? false }, () => {
  let lab: PostgresLab;
  let db: TestDatabase;
  let dataDir: string;
  let node: ChildKeybridge;
  let kms: KMSClient;

  before(async () => {
    lab = await startPostgresLab();
    db = await createTestDatabase(lab);
    dataDir = makeDataDir();
    node = await startChildKeybridge(dataDir, { store: postgresStoreConfig(lab, db, { connectTimeoutMs: 1000, queryTimeoutMs: 2000 }) });
    kms = sdkClient(node); // maxAttempts 1: the test sees every error the service answers
  });

  after(async () => {
    kms?.destroy();
    await node?.stop();
    await lab?.stop();
    if (dataDir !== undefined) rmSync(dataDir, { recursive: true, force: true });
  });

  test('AWS-shaped errors within the deadline while it is down; service resumes by itself; nothing acknowledged is lost; the trail verifies', { timeout: 180_000 }, async (t) => {
    const { KeyMetadata } = await kms.send(new CreateKeyCommand({ Description: 'outage' }));
    const keyId = KeyMetadata!.KeyId!;
    let phase: Outcome['phase'] = 'before';
    let stop = false;
    const outcomes: Outcome[] = [];
    const acknowledged: Array<{ plaintext: Buffer; ciphertext: Uint8Array; requestId: string }> = [];

    const call = async (): Promise<void> => {
      const at = phase;
      const started = Date.now();
      const plaintext = randomBytes(32);
      try {
        const out = await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: plaintext }));
        acknowledged.push({ plaintext, ciphertext: out.CiphertextBlob!, requestId: out.$metadata.requestId! });
        outcomes.push({ phase: at, ms: Date.now() - started });
      } catch (err) {
        const e = err as Error;
        outcomes.push({
          phase: at,
          ms: Date.now() - started,
          error: { name: e.name, status: err instanceof KMSServiceException ? err.$metadata.httpStatusCode : undefined, message: e.message },
        });
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    const load = Array.from({ length: 4 }, async () => {
      while (!stop) await call();
    });

    await new Promise((r) => setTimeout(r, 1000));
    phase = 'down';
    await lab.halt();
    await new Promise((r) => setTimeout(r, 5000));
    await lab.startAgain();
    phase = 'back';
    const backAt = Date.now();
    // Resumes by itself: successes again, without restarting the node.
    while (Date.now() - backAt < 60_000 && !outcomes.some((o) => o.phase === 'back' && o.error === undefined && o.ms < Date.now() - backAt)) {
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, 1000));
    stop = true;
    await Promise.all(load);

    const down = outcomes.filter((o) => o.phase === 'down');
    const errors = down.filter((o) => o.error !== undefined);
    assert.ok(errors.length > 0, `the outage was not seen: ${JSON.stringify(down.slice(0, 5))}`);
    for (const o of errors) {
      const { name, status } = o.error!;
      assert.ok(
        (name === 'KMSInternalException' && status === 500) || (name === 'DependencyTimeoutException' && status === 503),
        `an AWS-shaped 5xx that AWS uses, got ${name} ${status}: ${o.error!.message}`,
      );
    }
    const slowest = Math.max(...outcomes.map((o) => o.ms));
    assert.ok(slowest < DEADLINE_MS, `a request took ${slowest} ms`);
    const recovered = outcomes.filter((o) => o.phase === 'back' && o.error === undefined);
    assert.ok(recovered.length > 0, 'the node did not serve again after PostgreSQL came back');
    // After recovery, no more errors: the last 20 calls all succeeded.
    assert.deepEqual(outcomes.slice(-20).filter((o) => o.error !== undefined).map((o) => o.error), []);

    for (const { plaintext, ciphertext } of acknowledged) {
      const { Plaintext } = await kms.send(new DecryptCommand({ CiphertextBlob: ciphertext }));
      assert.deepEqual(Buffer.from(Plaintext!), plaintext);
    }
    // Every acknowledged request is in the trail (its record committed before the answer).
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const { rows } = await client.query<{ id: string }>("SELECT record::json->>'requestID' AS id FROM audit_records WHERE record::json->>'eventName' = 'Encrypt'");
      const recorded = new Set(rows.map((r) => r.id));
      const missingRecords = acknowledged.filter((a) => !recorded.has(a.requestId));
      assert.deepEqual(missingRecords.map((a) => a.requestId), [], 'acknowledged requests without an audit record');
    } finally {
      await client.end();
    }
    await node.stop();
    const verified = await runCli(['--config', join(dataDir, 'child-config.json'), 'audit', 'verify', '--public-key', join(dataDir, 'audit-signing-key.pem')]);
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);
    assert.match(verified.stdout, /OK: \d+ records, chain intact/);
    t.diagnostic(`outage: ${outcomes.length} calls, ${errors.length} errors while down (${[...new Set(errors.map((o) => o.error!.name))].join(', ')}), slowest ${slowest} ms, ${acknowledged.length} acknowledged`);
  });
});
