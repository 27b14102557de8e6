// Background work on several nodes sharing one PostgreSQL store (issue #16): a key due for deletion
// is swept by exactly one node, an automatic rotation made by exactly one, and an item whose node
// died holding it goes to another node once its lease ends. Two nodes in this process (one token,
// one database), each with its own name, on one clock the test moves forward.
//
// Skips only when PostgreSQL's server is not installed, and not under CI=true.

import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import {
  CreateKeyCommand,
  DescribeKeyCommand,
  EnableKeyRotationCommand,
  ListKeyRotationsCommand,
  ScheduleKeyDeletionCommand,
  type KMSClient,
} from '@aws-sdk/client-kms';
import pg from 'pg';
import { WORK_LEASE_MS } from '../../src/services/work-claim.js';
import { sdkClient } from '../support/kms-client.js';
import { createTestDatabase, postgresLabMissing, postgresStoreConfig, sharedPostgresLab, type TestDatabase } from '../support/postgres-lab.js';
import { makeDataDir, startServer, TestClock, type TestServer } from '../support/server.js';

const missing = process.env.CI === 'true' ? undefined : postgresLabMissing();
const DAY_MS = 86_400_000;

describe('background work on two nodes sharing one PostgreSQL store', { skip: missing ?? false }, () => {
  let db: TestDatabase;
  let dataDir: string;
  const clock = new TestClock();
  let a: TestServer;
  let b: TestServer;
  let kms: KMSClient;

  before(async () => {
    db = await createTestDatabase();
    const lab = await sharedPostgresLab();
    dataDir = makeDataDir();
    // The timers never fire during the test: each round is run by hand, on both nodes at once.
    const settings = { store: postgresStoreConfig(lab, db), deletionSweepIntervalMs: 3_600_000, rotationCheckIntervalMs: 3_600_000 };
    a = await startServer({ dataDir, clock, settings, node: 'node-a' });
    b = await startServer({ dataDir, clock, settings, node: 'node-b' });
    kms = sdkClient(a);
  });

  after(async () => {
    kms?.destroy();
    await a?.stop();
    await b?.stop();
    await db?.drop();
    if (dataDir !== undefined) rmSync(dataDir, { recursive: true, force: true });
  });

  /** The trail's records of `eventName` for `keyId` that are KMS's own (AwsServiceEvent). */
  async function serviceEvents(eventName: string, keyId: string): Promise<number> {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const { rows } = await client.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM audit_records WHERE record::jsonb->>'eventType' = 'AwsServiceEvent' AND record::jsonb->>'eventName' = $1 AND record LIKE $2",
        [eventName, `%${keyId}%`],
      );
      return rows[0]!.n;
    } finally {
      await client.end();
    }
  }

  test('a key due for deletion is deleted by exactly one node, and recorded once', async () => {
    const { KeyMetadata } = await kms.send(new CreateKeyCommand({}));
    const keyId = KeyMetadata!.KeyId!;
    await kms.send(new ScheduleKeyDeletionCommand({ KeyId: keyId, PendingWindowInDays: 7 }));
    clock.advance(8 * DAY_MS);
    const [byA, byB] = await Promise.all([a.keybridge.sweeper.sweepOnce(), b.keybridge.sweeper.sweepOnce()]);
    assert.deepEqual([...byA, ...byB].filter((id) => id === keyId), [keyId], `swept by A: ${JSON.stringify(byA)}, by B: ${JSON.stringify(byB)}`);
    for (const node of [a, b]) {
      const client = sdkClient(node);
      try {
        await assert.rejects(client.send(new DescribeKeyCommand({ KeyId: keyId })), { name: 'NotFoundException' });
      } finally {
        client.destroy();
      }
    }
    assert.equal(await serviceEvents('DeleteKey', keyId), 1);
  });

  test('an automatic rotation is made by exactly one node', async () => {
    const { KeyMetadata } = await kms.send(new CreateKeyCommand({}));
    const keyId = KeyMetadata!.KeyId!;
    await kms.send(new EnableKeyRotationCommand({ KeyId: keyId, RotationPeriodInDays: 90 }));
    clock.advance(91 * DAY_MS);
    const [byA, byB] = await Promise.all([a.keybridge.rotations.rotateDueOnce(), b.keybridge.rotations.rotateDueOnce()]);
    assert.deepEqual([...byA, ...byB].filter((id) => id === keyId), [keyId]);
    const { Rotations } = await kms.send(new ListKeyRotationsCommand({ KeyId: keyId }));
    assert.deepEqual(Rotations?.map((r) => r.RotationType), ['AUTOMATIC']);
    assert.equal(await serviceEvents('RotateKey', keyId), 1);
  });

  test('an item held by a node that died goes to another node once the lease ends', async () => {
    const { KeyMetadata } = await kms.send(new CreateKeyCommand({}));
    const keyId = KeyMetadata!.KeyId!;
    await kms.send(new ScheduleKeyDeletionCommand({ KeyId: keyId, PendingWindowInDays: 7 }));
    clock.advance(8 * DAY_MS);
    // A node that claimed the deletion and died before doing it (nothing released the claim).
    assert.equal(await a.keybridge.deps.store.claimWork(`delete-key:${keyId}`, 'node-that-died', clock.now(), WORK_LEASE_MS), true);
    assert.deepEqual((await b.keybridge.sweeper.sweepOnce()).filter((id) => id === keyId), [], 'held by the dead node: left alone');
    assert.equal((await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata!.KeyState, 'PendingDeletion');
    clock.advance(WORK_LEASE_MS + 1000);
    assert.deepEqual((await b.keybridge.sweeper.sweepOnce()).filter((id) => id === keyId), [keyId], 'the lease ended: B takes it over');
    await assert.rejects(kms.send(new DescribeKeyCommand({ KeyId: keyId })), { name: 'NotFoundException' });
  });
});
