// What runs beside a measured row of the hung-member scenario (bench/hung-member.ts): a /livez
// probe every few ms and, optionally, a light paced load on another key store. In a worker thread
// (bench/companion-worker.ts) of the bench process, because the bench's main thread is busy
// driving 64 autocannon connections: a probe timed there would count the load generator's own
// event-loop lag as the server's latency.

import { Worker } from 'node:worker_threads';

import type { SignedRequest } from './measure.js';

export interface CompanionInit {
  readonly url: string;
  /** Pause between the end of one /livez probe and the start of the next. */
  readonly livezIntervalMs: number;
  readonly side?: {
    readonly request: SignedRequest;
    readonly connections: number;
    /** Pause after each answer on a connection: the load stays light whatever the answers do. */
    readonly pauseMs: number;
  };
}

export interface LatencySummary {
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

export interface ProbeReport extends LatencySummary {
  readonly probes: number;
  /** Probes that did not answer 200 (or did not answer). */
  readonly failures: number;
}

export interface SideLoadReport extends LatencySummary {
  readonly answered: number;
  readonly ok: number;
  /** Failed requests by AWS error name (`__type`), or the HTTP status / transport error. */
  readonly errors: Record<string, number>;
  /** Requests still in flight when the run ended: aborted, not counted. */
  readonly cutOff: number;
  readonly seconds: number;
}

export interface CompanionReport {
  readonly livez: ProbeReport;
  readonly side: SideLoadReport | undefined;
}

/** Messages from the worker: once 'started' when it has begun, once 'report' after 'stop'. */
export type FromCompanion = { kind: 'started' } | { kind: 'report'; report: CompanionReport };

export interface Companion {
  stop(): Promise<CompanionReport>;
}

/** Starts the probe (and side load); resolves once it is running. */
export async function startCompanion(init: CompanionInit): Promise<Companion> {
  const worker = new Worker(new URL('./companion-worker.js', import.meta.url), { workerData: init });
  const failed = new Promise<never>((_, reject) => worker.once('error', reject));
  const next = (kind: FromCompanion['kind']) =>
    Promise.race([failed, new Promise<FromCompanion>((resolve) => worker.once('message', (m: FromCompanion) => m.kind === kind && resolve(m)))]);
  await next('started');
  return {
    async stop() {
      worker.postMessage('stop');
      const message = await next('report');
      await worker.terminate();
      if (message.kind !== 'report') throw new Error('the companion did not report');
      return message.report;
    },
  };
}

/** Nearest-rank quantiles of latencies in ms (sorts them), two decimals. */
export function summarise(latencies: number[]): LatencySummary {
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.max(0, Math.ceil(q * latencies.length) - 1))] ?? 0;
  const round = (ms: number) => Math.round(ms * 100) / 100;
  return { p50Ms: round(at(0.5)), p99Ms: round(at(0.99)), maxMs: round(latencies.at(-1) ?? 0) };
}
