// An open-loop load generator for the at-quota scenario: requests leave at a constant rate,
// evenly spread (every millisecond it sends what the rate owes), whatever the server's answers
// do. autocannon's `overallRate` rate-limits each connection and so releases requests in
// synchronized bursts, which measures the burst rather than the service at that rate.

import { Agent, request } from 'node:http';

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
