// An open-loop load generator for the at-quota scenario: requests leave at a constant rate,
// evenly spread (every millisecond it sends what the rate owes), whatever the server's answers
// do. autocannon's `overallRate` rate-limits each connection and so releases requests in
// synchronized bursts, which measures the burst rather than the service at that rate.

import { Agent, request } from 'node:http';
import { cpuPerRequest, cpuSeconds, DURATION_S, logRow, metrics, SMOKE, type Row, type SignedRequest } from './measure.js';

export interface ConstantRateResult {
  readonly sent: number;
  readonly completed: number;
  readonly errors: number;
  readonly achievedRate: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

export async function constantRate(options: {
  url: string;
  headers: Record<string, string>;
  body: string;
  ratePerSecond: number;
  seconds: number;
  maxSockets: number;
  /** Default `/` (the KMS API). */
  path?: string;
}): Promise<ConstantRateResult> {
  const { hostname, port } = new URL(options.url);
  const agent = new Agent({ keepAlive: true, maxSockets: options.maxSockets });
  const body = Buffer.from(options.body);
  const headers = { ...options.headers, 'content-length': String(body.length) };
  const latencies: number[] = [];
  let sent = 0;
  let errors = 0;
  const inFlight = new Set<Promise<void>>();

  const fire = () => {
    sent++;
    const start = process.hrtime.bigint();
    const done = new Promise<void>((resolve) => {
      const req = request({ host: hostname, port, method: 'POST', path: options.path ?? '/', headers, agent }, (res) => {
        res.resume();
        res.on('end', () => {
          latencies.push(Number(process.hrtime.bigint() - start) / 1e6);
          if (res.statusCode !== 200) errors++;
          resolve();
        });
      });
      req.on('error', () => {
        errors++;
        resolve();
      });
      req.end(body);
    });
    inFlight.add(done);
    void done.then(() => inFlight.delete(done));
  };

  const began = performance.now();
  const total = Math.round(options.ratePerSecond * options.seconds);
  await new Promise<void>((resolve) => {
    const tick = setInterval(() => {
      const owed = Math.min(total, Math.floor(((performance.now() - began) / 1000) * options.ratePerSecond));
      while (sent < owed) fire();
      if (sent >= total) {
        clearInterval(tick);
        resolve();
      }
    }, 1);
  });
  const elapsed = (performance.now() - began) / 1000;
  await Promise.all(inFlight);
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const at = (q: number) => round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0);
  return { sent, completed: latencies.length, errors, achievedRate: Math.round(sent / elapsed), p50Ms: at(0.5), p99Ms: at(0.99), maxMs: round(latencies[latencies.length - 1] ?? 0) };
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}

/**
 * An at-quota row: AWS's per-store quota (1,800 requests/second by default) as an evenly spread
 * open-loop load of `request` against `url` + `path`, with the server's figures from `metricsUrl`.
 */
export async function atQuota(options: {
  url: string;
  request: SignedRequest;
  scenario: string;
  pid?: number | undefined;
  path?: string;
  metricsUrl?: string;
  ratePerSecond?: number;
}): Promise<Row> {
  const metricsUrl = options.metricsUrl ?? options.url;
  await metrics(metricsUrl, true);
  const cpuBefore = cpuSeconds(options.pid);
  const r = await constantRate({
    url: options.url,
    ...(options.path === undefined ? {} : { path: options.path }),
    ...options.request,
    ratePerSecond: options.ratePerSecond ?? 1800,
    seconds: SMOKE ? Math.max(DURATION_S, 1) : Math.max(DURATION_S, 10),
    maxSockets: 64,
  });
  const cpuAfter = cpuSeconds(options.pid);
  const after = await metrics(metricsUrl, false);
  const row: Row = {
    scenario: options.scenario,
    target: 'keybridge',
    concurrency: 64,
    requestsPerSecond: r.achievedRate,
    p50Ms: r.p50Ms,
    p99Ms: r.p99Ms,
    maxMs: r.maxMs,
    errors: r.errors + (r.sent - r.completed),
    eventLoopP99Ms: after?.eventLoopDelayMs?.p99 ?? null,
    rssMiB: after ? Math.round(after.rssBytes / 1048576) : null,
    cpuUsPerRequest: cpuPerRequest(cpuBefore, cpuAfter, r.completed),
  };
  logRow(row);
  return row;
}
