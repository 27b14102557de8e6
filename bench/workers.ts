// Every core (issue #16): Encrypt 32 B against keybridge on the PostgreSQL store with 1 and with 2
// worker processes (`workers`, src/workers.ts) sharing the port, at c=64, on a throw-away
// PostgreSQL cluster (scripts/postgres-lab.sh). Skipped, saying why, when PostgreSQL's server is
// not installed. CPU per request is not reported for these rows: the work is spread over the
// worker processes, not the process the benchmark started.

import { cpuSeconds, load, warmUp, type Row } from './measure.js';
import { startKeybridge } from './processes.js';
import { createKey, signedRequest } from './requests.js';
import { createTestDatabase, postgresLabMissing, postgresStoreConfig, sharedPostgresLab } from '../test/support/postgres-lab.js';
import { childrenOf } from '../test/support/child-pids.js';

export const WORKER_COUNTS = [1, 2] as const;

export function workersScenario(workers: number): string {
  return `Encrypt 32 B, PostgreSQL store, ${workers} worker${workers === 1 ? '' : 's'}`;
}

export async function workerRows(dist: string): Promise<Row[]> {
  const missing = postgresLabMissing();
  if (missing !== undefined) {
    process.stderr.write(`worker rows skipped: ${missing}\n`);
    return [];
  }
  const lab = await sharedPostgresLab();
  const rows: Row[] = [];
  for (const workers of WORKER_COUNTS) {
    const db = await createTestDatabase(lab);
    const kb = await startKeybridge(dist, {
      config: { store: postgresStoreConfig(lab, db), workers },
    });
    try {
      const keyId = await createKey(kb.url, kb.credentials);
      const request = await signedRequest(kb.url, kb.credentials, 'Encrypt', { KeyId: keyId, Plaintext: Buffer.alloc(32, 1).toString('base64') });
      const warm = () => warmUp(kb.url, request, { fresh: true });
      // One worker is the started process itself; several are its children.
      await (workers === 1 ? warm() : everyWorkerServing(kb.child.pid!, workers, warm));
      // autocannon opens its connections afresh: node:cluster hands them to the workers in turn.
      rows.push(await load(workersScenario(workers), 'keybridge', kb.url, request, 64));
    } finally {
      await kb.stop();
      await db.drop();
    }
  }
  return rows;
}

/**
 * Warms up until every worker has served: the primary answers /readyz as soon as worker 1
 * listens, and node:cluster hands a connection only to workers already listening, so a load that
 * connected before the others listened would measure worker 1 alone. A worker served when its CPU
 * time grew during a warm-up (fresh connections each time).
 */
async function everyWorkerServing(primary: number, workers: number, warm: () => Promise<void>): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const pids = childrenOf(primary);
    const before = pids.map(cpuSeconds);
    await warm();
    const served = pids.filter((pid, i) => (cpuSeconds(pid) ?? 0) - (before[i] ?? 0) > 0.05).length;
    if (served >= workers) return;
    if (Date.now() > deadline) {
      process.stderr.write(`worker rows: only ${served} of ${workers} workers served after 60 s; measuring anyway\n`);
      return;
    }
  }
}

