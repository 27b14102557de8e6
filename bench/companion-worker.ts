// The worker-thread side of bench/companion.ts: probes /livez one request at a time and runs the
// paced side load until told 'stop', then reports.

import { Agent, request as httpRequest } from 'node:http';
import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';

import { summarise, type CompanionInit, type FromCompanion, type ProbeReport, type SideLoadReport } from './companion.js';

const init = workerData as CompanionInit;
const port = parentPort!;
const stop = new AbortController();
port.once('message', () => stop.abort());

interface Answer {
  readonly status: number;
  readonly body: string;
}

function send(agent: Agent, method: 'GET' | 'POST', path: string, headers: Record<string, string>, body?: Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${init.url}${path}`, { method, agent, headers, signal: stop.signal }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Waits `ms`, or less when the run stops meanwhile. */
function pause(ms: number): Promise<void> {
  return new Promise((resolve) => {
    if (stop.signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    stop.signal.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      stop.signal.removeEventListener('abort', done);
      resolve();
    }
  });
}

/** One /livez request at a time on a kept-alive socket, as a load balancer's probe would. */
async function probeLivez(): Promise<ProbeReport> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const latencies: number[] = [];
  let failures = 0;
  while (!stop.signal.aborted) {
    const started = performance.now();
    try {
      const { status } = await send(agent, 'GET', '/livez', {});
      latencies.push(performance.now() - started);
      if (status !== 200) failures += 1;
    } catch {
      if (!stop.signal.aborted) failures += 1;
    }
    await pause(init.livezIntervalMs);
  }
  agent.destroy();
  return { probes: latencies.length, failures, ...summarise(latencies) };
}

/** The AWS error name of a failed answer, else its status. */
function errorName(answer: Answer): string {
  try {
    const type = (JSON.parse(answer.body) as { __type?: unknown }).__type;
    if (typeof type === 'string') return type.slice(type.lastIndexOf('#') + 1);
  } catch {
    // not JSON
  }
  return `HTTP ${answer.status}`;
}

async function sideLoad(side: NonNullable<CompanionInit['side']>): Promise<SideLoadReport> {
  const agent = new Agent({ keepAlive: true, maxSockets: side.connections });
  const body = Buffer.from(side.request.body);
  const headers = { ...side.request.headers, 'content-length': String(body.length) };
  const latencies: number[] = [];
  const errors: Record<string, number> = {};
  let ok = 0;
  let cutOff = 0;
  const count = (name: string) => (errors[name] = (errors[name] ?? 0) + 1);
  const connection = async () => {
    while (!stop.signal.aborted) {
      const started = performance.now();
      try {
        const answer = await send(agent, 'POST', '/', headers, body);
        latencies.push(performance.now() - started);
        if (answer.status === 200) ok += 1;
        else count(errorName(answer));
      } catch (err) {
        if (stop.signal.aborted) cutOff += 1;
        else count((err as NodeJS.ErrnoException).code ?? 'transport error');
      }
      await pause(side.pauseMs);
    }
  };
  const began = performance.now();
  await Promise.all(Array.from({ length: side.connections }, connection));
  agent.destroy();
  const seconds = Math.round((performance.now() - began) / 10) / 100;
  return { answered: latencies.length, ok, errors, cutOff, seconds, ...summarise(latencies) };
}

async function main(): Promise<void> {
  const running = Promise.all([probeLivez(), init.side === undefined ? Promise.resolve(undefined) : sideLoad(init.side)]);
  port.postMessage({ kind: 'started' } satisfies FromCompanion);
  const [livez, side] = await running;
  port.postMessage({ kind: 'report', report: { livez, side } } satisfies FromCompanion);
}

void main();
