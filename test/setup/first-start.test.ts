// First-start work that several keybridge processes must not do at the same moment: preparing a
// shared data directory (src/setup/setup-lock.ts: a lock file) and making the HSM's internal keys
// (src/services/work-claim.ts exclusivelyAcrossNodes: a claim in the shared store). The end-to-end
// race (two nodes started together) is in test/e2e/multi-node.test.ts; its window is too narrow to
// hit on demand, so the mechanisms are pinned here.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { exclusivelyAcrossNodes } from '../../src/services/work-claim.js';
import { SETUP_LOCK_FILE, withSetupLock } from '../../src/setup/setup-lock.js';
import { PostgresStore } from '../../src/store/postgres/postgres-store.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { MetadataStore } from '../../src/ports/store.js';
import { createTestDatabase, postgresLabMissing } from '../support/postgres-lab.js';

const missing = process.env.CI === 'true' ? undefined : postgresLabMissing();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs `work` as `n` concurrent callers (numbered) of `exclusive` and returns the [start, end] of each run. */
async function intervals(n: number, exclusive: (work: () => Promise<void>, caller: number) => Promise<void>): Promise<Array<[number, number]>> {
  const runs: Array<[number, number]> = [];
  await Promise.all(
    Array.from({ length: n }, (_, caller) =>
      exclusive(async () => {
        const start = performance.now();
        await sleep(30);
        runs.push([start, performance.now()]);
      }, caller),
    ),
  );
  return runs.sort((x, y) => x[0] - y[0]);
}

function assertOneAtATime(runs: Array<[number, number]>, n: number): void {
  assert.equal(runs.length, n);
  for (let i = 1; i < runs.length; i++) assert.ok(runs[i]![0] >= runs[i - 1]![1], `run ${i} started before run ${i - 1} ended: ${JSON.stringify(runs)}`);
}

describe('setup lock on a data directory', () => {
  test('concurrent preparations run one after another, and the lock file is gone afterwards', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keybridge-setup-lock-'));
    try {
      assertOneAtATime(await intervals(4, (work) => withSetupLock(dir, work)), 4);
      assert.equal(existsSync(join(dir, SETUP_LOCK_FILE)), false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('waits for a live process that holds the lock, and takes over a lock whose owner died', { timeout: 30_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keybridge-setup-lock-'));
    const holder = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    try {
      writeFileSync(join(dir, SETUP_LOCK_FILE), `${holder.pid}\n`);
      let ran = false;
      const waiting = withSetupLock(dir, async () => {
        ran = true;
      });
      await sleep(400);
      assert.equal(ran, false, 'it must wait while the holder lives');
      const exited = new Promise((resolve) => holder.once('exit', resolve));
      holder.kill('SIGKILL');
      await exited;
      await waiting;
      assert.equal(ran, true);
      assert.equal(existsSync(join(dir, SETUP_LOCK_FILE)), false);
    } finally {
      holder.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('exclusivelyAcrossNodes', () => {
  async function oneAtATime(stores: readonly MetadataStore[]): Promise<void> {
    // Four nodes, each with its own name, spread over the store connections.
    const runs = await intervals(4, (work, caller) => exclusivelyAcrossNodes(stores[caller % stores.length]!, 'first-start:test', work, { owner: `node-${caller}` }));
    assertOneAtATime(runs, 4);
  }

  test('on SQLite: concurrent callers run one after another', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keybridge-exclusive-'));
    const store = await SqliteStore.open(join(dir, 'keybridge.db'));
    try {
      await oneAtATime([store]);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('on PostgreSQL: callers on two nodes run one after another; a failed run releases the claim', { skip: missing ?? false, timeout: 60_000 }, async () => {
    const db = await createTestDatabase();
    const stores = [await PostgresStore.open({ connectionString: db.url }), await PostgresStore.open({ connectionString: db.url })];
    try {
      await oneAtATime(stores);
      await assert.rejects(exclusivelyAcrossNodes(stores[0]!, 'first-start:fails', () => Promise.reject(new Error('HSM said no')), { owner: 'node-a' }), /HSM said no/);
      assert.equal(await exclusivelyAcrossNodes(stores[1]!, 'first-start:fails', () => Promise.resolve('second try'), { owner: 'node-b' }), 'second try');
    } finally {
      await Promise.all(stores.map((s) => s.close()));
      await db.drop();
    }
  });
});
