// What every closed-loop row of the benchmark shares: the run settings from the environment, the
// row shape, the server's own figures (/metrics, CPU time from /proc) and the autocannon run.
// A module of its own because bench/run.ts runs main() on import, and bench/hung-member.ts
// measures its rows the same way.

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import autocannon from 'autocannon';

export const SMOKE = process.env.BENCH_SMOKE === '1';
export const DURATION_S = Number(process.env.BENCH_SECONDS ?? (SMOKE ? '0.5' : '5'));
/** The client concurrencies of the per-operation rows. */
export const CONCURRENCIES = SMOKE ? [64] : [1, 16, 64];

export interface SignedRequest {
  headers: Record<string, string>;
  body: string;
}

export interface Row {
  scenario: string;
  target: string;
  concurrency: number;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  errors: number;
  eventLoopP99Ms: number | null;
  rssMiB: number | null;
  /** CPU time the server process (all its threads) spent per answered request, in µs. */
  cpuUsPerRequest: number | null;
}

/** The clock ticks per second /proc/<pid>/stat counts in. */
const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** User + system CPU seconds of a process so far (Linux /proc); undefined elsewhere. */
export function cpuSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of stat(5); fields[0] here is field 3.
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}

export function cpuPerRequest(before: number | undefined, after: number | undefined, requests: number): number | null {
  if (before === undefined || after === undefined || requests <= 0) return null;
  return Math.round(((after - before) * 1e6) / requests);
}

export interface ServerFigures {
  rssBytes: number;
  eventLoopDelayMs: { p99: number } | null;
}

/** The server's process figures; `reset` starts a new event-loop delay window. */
export async function metrics(url: string, reset: boolean): Promise<ServerFigures | undefined> {
  try {
    const res = await fetch(`${url}/metrics?format=json${reset ? '&reset=1' : ''}`);
    return res.ok ? ((await res.json()) as ServerFigures) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Work sessions (executor workers) the default key store has open, and its limit, from the
 * Prometheus text of /metrics; undefined when the figures are not there.
 */
async function defaultPool(url: string): Promise<{ open: number; limit: number } | undefined> {
  try {
    const text = await (await fetch(`${url}/metrics`)).text();
    const gauge = (kind: string) => {
      const match = new RegExp(`^keybridge_pool_sessions\\{cluster="default",member="default",kind="${kind}"\\} (\\S+)$`, 'mu').exec(text);
      return match === null ? Number.NaN : Number(match[1]);
    };
    const open = gauge('in_use') + gauge('idle');
    const limit = gauge('limit');
    return Number.isNaN(open) || Number.isNaN(limit) ? undefined : { open, limit };
  } catch {
    return undefined;
  }
}

/** How long warmUp() may keep going while the default store's workers are still starting. */
const WARM_UP_CAP_MS = SMOKE ? 10_000 : 40_000;

/**
 * Unmeasured load first, so each row measures a warmed-up server rather than whichever scenario
 * happens to run first. A fresh server spends several times the CPU per request in its first
 * seconds (JIT tiers, SQLite and SoftHSM2 caches) and only settles after ~10 s of load on this
 * 2-core box, so its first warm-up (`fresh`) is 10 s; later scenarios on it get 3 s. And it goes
 * on until the default store's executor has all its workers: they start on demand, each a thread
 * that loads the module, opens a session and logs in — with 32 of them on 2 busy cores that takes
 * several seconds, during which requests wait (a row measured then shows ~1 s latencies).
 */
export async function warmUp(url: string, request: SignedRequest, options: { fresh?: boolean } = {}): Promise<void> {
  const deadline = performance.now() + WARM_UP_CAP_MS;
  let duration = SMOKE ? 0.5 : options.fresh === true ? 10 : 3;
  for (;;) {
    await autocannon({ url, method: 'POST', headers: request.headers, body: request.body, connections: 64, duration });
    const pool = await defaultPool(url);
    if (pool === undefined || pool.open >= pool.limit) return;
    if (performance.now() > deadline) {
      process.stderr.write(`warm-up: only ${pool.open} of ${pool.limit} work sessions open after ${WARM_UP_CAP_MS / 1000} s; measuring anyway\n`);
      return;
    }
    duration = SMOKE ? 0.5 : 1;
  }
}

export function logRow(row: Row): void {
  process.stderr.write(
    `${row.scenario.padEnd(26)} ${row.target.padEnd(10)} c=${String(row.concurrency).padEnd(3)} ${String(row.requestsPerSecond).padStart(6)} req/s  p99 ${row.p99Ms} ms  errors ${row.errors}\n`,
  );
}

/** A closed-loop run (autocannon, `connections` requests in flight) of DURATION_S. */
/** `url` may carry a path (the XKS proxy's); `metricsUrl` is the server's KMS listener when it differs. */
export async function load(scenario: string, target: string, url: string, request: SignedRequest, connections: number, pid?: number, metricsUrl = url): Promise<Row> {
  await metrics(metricsUrl, true);
  const cpuBefore = cpuSeconds(pid);
  const result = await autocannon({
    url,
    method: 'POST',
    headers: request.headers,
    body: request.body,
    connections,
    pipelining: 1,
    duration: DURATION_S,
    // autocannon's default (10 s) would hide a stalled run as a few timeouts.
    timeout: 30,
  });
  const cpuAfter = cpuSeconds(pid);
  const after = await metrics(metricsUrl, false);
  const row: Row = {
    scenario,
    target,
    concurrency: connections,
    requestsPerSecond: Math.round(result.requests.average),
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    maxMs: result.latency.max,
    errors: result.errors + result.timeouts + result.non2xx,
    eventLoopP99Ms: after?.eventLoopDelayMs?.p99 ?? null,
    rssMiB: after ? Math.round(after.rssBytes / 1048576) : null,
    cpuUsPerRequest: cpuPerRequest(cpuBefore, cpuAfter, result.requests.total),
  };
  logRow(row);
  if (row.errors > 0) {
    // Which errors: by status, and transport errors / timeouts (autocannon keeps no bodies).
    process.stderr.write(`  statuses ${JSON.stringify(result.statusCodeStats)}, transport errors ${result.errors}, timeouts ${result.timeouts}\n`);
    process.stderr.write(`  the same request once more: ${await answerOnce(url, request)}\n`);
  }
  return row;
}

/** One more send of a row's request, for its status and error body (autocannon keeps neither). */
async function answerOnce(url: string, request: SignedRequest): Promise<string> {
  try {
    // Host and Content-Length are the fetch implementation's own to set; the URL gives the same host.
    const headers = Object.fromEntries(Object.entries(request.headers).filter(([name]) => !['host', 'content-length'].includes(name.toLowerCase())));
    const response = await fetch(url, { method: 'POST', headers, body: request.body });
    return `${response.status} ${(await response.text()).slice(0, 300)}`;
  } catch (err) {
    return `no answer: ${err instanceof Error ? err.message : String(err)}`;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
