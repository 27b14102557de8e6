// Several keybridge nodes in one machine's processes (`--workers N`, config `workers`): the primary
// process prepares what must exist once, then forks N workers that each run a whole node (its own
// HSM sessions and store connections; the one audit trail is in the database) and share the
// listening ports through node:cluster. Only with a PostgreSQL store, which several nodes can
// share (docs/multi-node.md).
//
// The primary serves nothing itself. A worker that dies is replaced (with a growing delay while
// they keep dying), even when every worker died at once; SIGTERM / SIGINT stop every worker
// gracefully, then the primary exits.

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
  // Pending restarts. Not unref'd: when every worker has died they are all that keeps the primary
  // alive (an unref'd timer let it exit 0 with nothing serving); a stop clears them.
  const restarts = new Set<NodeJS.Timeout>();
  const fork = (index: number): Worker => {
    const worker = cluster.fork({ [WORKER_INDEX_ENV]: String(index) });
    worker.once('listening', () => restartDelay.set(index, RESTART_MIN_MS));
    resetUntakenConnections(worker, (connections) =>
      logger.warn({ worker: index, connections }, 'reset client connections handed to a keybridge worker that died before taking them'),
    );
    worker.once('exit', (code, signal) => {
      if (stopping) return;
      const delay = restartDelay.get(index) ?? RESTART_MIN_MS;
      restartDelay.set(index, Math.min(delay * 2, RESTART_MAX_MS));
      logger.error({ worker: index, code, signal, restartInMs: delay }, 'a keybridge worker stopped unexpectedly; starting another');
      const timer = setTimeout(() => {
        restarts.delete(timer);
        if (!stopping) fork(index);
      }, delay);
      restarts.add(timer);
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
      for (const timer of restarts) clearTimeout(timer);
      restarts.clear();
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

/** A message of node:cluster's own protocol between the primary and a worker. */
interface ClusterMessage {
  cmd?: unknown;
  act?: unknown;
  seq?: unknown;
  ack?: unknown;
}

/**
 * Makes sure no client connection outlives `worker` in the primary: a connection handed to the
 * worker that it never took is closed (the client sees a reset) once the worker's process has
 * exited and its IPC channel has closed; `onReset` hears how many, when any.
 *
 * Why: node:cluster's round-robin scheduling (the default, except on Windows) accepts each
 * connection in the primary and passes it to a worker over IPC (a 'newconn' message), and the
 * primary closes its own copy only when the worker replies. A worker that dies first (SIGKILL, a
 * crash, the OOM killer; a connection accepted in the few milliseconds while a killed process is
 * torn down is enough) never replies, and Node keeps that copy open for good: the client's
 * connection stays established with its request unread, answered by nobody and reset by nobody,
 * so a client without a timeout waits forever (nodejs/node#21746 is a relative). The request never
 * reached a worker, so the client retrying after the reset is safe.
 *
 * How: node:cluster sends 'newconn' through the worker process's `send` with the connection as the
 * handle, and the worker's reply, an internal message, acknowledges its `seq`. Those are Node
 * internals: read defensively, a Node version that spells them otherwise is left as it is (and
 * test/e2e/workers-restart.test.ts, which kills a worker a connection was just handed to, says so).
 */
export function resetUntakenConnections(worker: Worker, onReset: (connections: number) => void): void {
  const child = worker.process;
  const handedOver = new Map<number, { close(): void }>();
  const send = child.send;
  child.send = function (this: typeof child, ...args: unknown[]): boolean {
    const message = args[0] as ClusterMessage | null | undefined;
    const handle = args[1] as { close?: unknown } | null | undefined;
    if (message?.cmd === 'NODE_CLUSTER' && message.act === 'newconn' && typeof message.seq === 'number' && typeof handle?.close === 'function') {
      handedOver.set(message.seq, handle as { close(): void });
    }
    return Reflect.apply(send, this, args) as boolean;
  } as typeof child.send;
  child.on('internalMessage', (message: ClusterMessage | null | undefined) => {
    if (message?.cmd === 'NODE_CLUSTER' && typeof message.ack === 'number') handedOver.delete(message.ack);
  });
  // 'close' comes after the exit and after the IPC channel's end: no reply can arrive any more.
  child.once('close', () => {
    let reset = 0;
    for (const handle of handedOver.values()) {
      try {
        handle.close();
        reset += 1;
      } catch {
        // Closed already.
      }
    }
    handedOver.clear();
    if (reset > 0) onReset(reset);
  });
}
