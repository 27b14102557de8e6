// Several keybridge nodes in one machine's processes (`--workers N`, config `workers`): the primary
// process prepares what must exist once, then forks N workers that each run a whole node (its own
// HSM sessions, store connections and audit trail file) and share the listening ports through
// node:cluster. Only with a PostgreSQL store, which several nodes can share (docs/multi-node.md).
//
// The primary serves nothing itself. A worker that dies is replaced (with a growing delay while
// they keep dying); SIGTERM / SIGINT stop every worker gracefully, then the primary exits.

import cluster, { type Worker } from 'node:cluster';
import { availableParallelism } from 'node:os';
import type { Logger } from 'pino';
import { defaultHsmConfigDir, loadClusters } from './config/clusters.js';
import type { Config } from './config/schema.js';
import { prepareEmbedded } from './setup/embedded.js';

/** The environment variable that tells a forked worker its number (1…N). */
export const WORKER_INDEX_ENV = 'KEYBRIDGE_WORKER_INDEX';
const RESTART_MIN_MS = 1000;
const RESTART_MAX_MS = 30_000;

/** N from `--workers N`, else the configuration, else one per core on PostgreSQL and one on SQLite. */
export function workerCount(config: Readonly<Config>, flag: string | undefined): number {
  if (flag !== undefined) {
    const n = Number(flag);
    if (!Number.isInteger(n) || n < 1 || n > 256) throw new Error(`--workers must be a whole number from 1 to 256, got ${JSON.stringify(flag)}`);
    if (n > 1 && config.store.kind !== 'postgres') throw new Error('--workers above 1 needs the PostgreSQL store (store.kind "postgres"): SQLite serves one node');
    return n;
  }
  return config.workers ?? (config.store.kind === 'postgres' ? availableParallelism() : 1);
}

/** A worker's own audit trail file: audit.db → audit-worker-2.db (one hash chain per node). */
export function workerAuditPath(path: string, index: number): string {
  return /\.db$/.test(path) ? path.replace(/\.db$/, `-worker-${index}.db`) : `${path}-worker-${index}`;
}

/**
 * Runs in the primary process: prepares the embedded token (once, not raced by N workers), starts
 * worker 1 and waits for it to listen (a fresh token's first-start work — the audit signing key —
 * happens once), then the others. Resolves when every worker has stopped after a signal.
 */
export async function superviseWorkers(config: Readonly<Config>, count: number, logger: Logger): Promise<void> {
  if (config.embedded) {
    const profilesDir = config.profilesDir ?? defaultHsmConfigDir('profiles');
    await prepareEmbedded(config, loadClusters(config.clustersDir ?? defaultHsmConfigDir('clusters'), profilesDir).values(), logger);
  }
  let stopping = false;
  const restartDelay = new Map<number, number>();
  const fork = (index: number): Worker => {
    const worker = cluster.fork({ [WORKER_INDEX_ENV]: String(index) });
    worker.once('listening', () => restartDelay.set(index, RESTART_MIN_MS));
    worker.once('exit', (code, signal) => {
      if (stopping) return;
      const delay = restartDelay.get(index) ?? RESTART_MIN_MS;
      restartDelay.set(index, Math.min(delay * 2, RESTART_MAX_MS));
      logger.error({ worker: index, code, signal, restartInMs: delay }, 'a keybridge worker stopped unexpectedly; starting another');
      setTimeout(() => {
        if (!stopping) fork(index);
      }, delay).unref();
    });
    return worker;
  };

  const first = fork(1);
  await new Promise<void>((resolve, reject) => {
    first.once('listening', () => resolve());
    first.once('exit', (code) => reject(new Error(`the first keybridge worker exited with ${code} before it listened; see its log`)));
  });
  for (let i = 2; i <= count; i++) fork(i);
  logger.info({ workers: count }, 'keybridge workers started');

  await new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals): void => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, 'stopping the keybridge workers');
      for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM');
      const check = (): void => {
        if (Object.keys(cluster.workers ?? {}).length === 0) resolve();
      };
      cluster.on('exit', check);
      check();
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });
}
