// The load generator for the peer row (moto_server): closed loop, `connections` requests in flight,
// the same signed request replayed — what load() in bench/run.ts does with autocannon — but with a
// client that honours `Connection: close`.
//
// Why not autocannon: moto_server runs on Werkzeug's development server, which is threaded but
// answers every request with `Connection: close` (werkzeug/serving.py: "Always close the
// connection. This disables HTTP/1.1 keep-alive connections"). autocannon ignores that header and
// writes its next request on the same socket as soon as a response is complete. Werkzeug, before
// closing, drains whatever the client sent after the request with a blocking `rfile.read()`, so
// it swallows that next request and then waits for more bytes or EOF that never come, while
// autocannon waits for an answer until its timeout (30 s, longer than a run). Each connection
// gets exactly one response per run: 64 responses in 5 s, the ~13 req/s the peer row showed
// (with `timeout: 1` it becomes exactly 64 req/s plus 64 timeouts a second). autocannon's
// `reconnectRate: 1` does not help either: it reconnects before counting the response (0 req/s).
//
// node:http's Agent does what wrk and the AWS SDK do: after a `Connection: close` response it
// drops the socket and opens a new one for the next request, so moto is measured at the rate it
// can actually serve (new TCP connection per request included, as every real client pays it).
// Against a keep-alive server it keeps sockets open like autocannon, though its own per-request
// cost is higher: use it for the peer row, not for keybridge's rows.

import { setMaxListeners } from 'node:events';
import { Agent, request as httpRequest } from 'node:http';
import { performance } from 'node:perf_hooks';

import { cpuSeconds, type Row } from './measure.js';

export interface PeerRequest {
  headers: Record<string, string>;
  body: string;
}

/** load()'s autocannon timeout: long enough that a stalled run shows as a stall, not as timeouts. */
const TIMEOUT_MS = 30_000;

class RequestTimeout extends Error {}

/** The q-quantile (0..1) of ascending-sorted values, nearest rank; 0 for no values. */
function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}

/**
 * One run of `durationSeconds` against `url` with `connections` requests in flight; a drop-in for
 * run.ts's load() on the peer row (same arguments plus the run length, same row, same stderr line).
 */
export async function peerLoad(
  scenario: string,
  target: string,
  url: string,
  request: PeerRequest,
  connections: number,
  durationSeconds: number,
  pid?: number,
): Promise<Row> {
  // keepAlive so a server that does keep connections open is not forced to reconnect; a
  // `Connection: close` answer still makes the agent discard that socket (Node honours it).
  const agent = new Agent({ keepAlive: true, maxSockets: connections });
  const body = Buffer.from(request.body);
  const headers = { ...request.headers, 'content-length': String(body.length) };
  // Requests still in flight when the run ends are aborted and not counted, as autocannon does.
  const stop = new AbortController();
  // Every in-flight request listens on this one signal: `connections` listeners is expected, not a leak.
  setMaxListeners(connections + 1, stop.signal);
  const latencies: number[] = [];
  let non2xx = 0;
  let errors = 0;
  let timeouts = 0;

  const send = (): Promise<number> =>
    new Promise((resolve, reject) => {
      const req = httpRequest(url, { method: 'POST', agent, headers, signal: stop.signal, timeout: TIMEOUT_MS }, (res) => {
        res.resume(); // the body is not checked (nor is it by load()), only read to the end
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new RequestTimeout()));
      req.on('error', reject);
      req.end(body);
    });

  const worker = async (): Promise<void> => {
    while (!stop.signal.aborted) {
      const started = performance.now();
      try {
        const status = await send();
        latencies.push(performance.now() - started);
        if (status < 200 || status >= 300) non2xx += 1;
      } catch (err) {
        if (stop.signal.aborted) return; // cut off by the end of the run, not a failure
        if (err instanceof RequestTimeout) timeouts += 1;
        else errors += 1;
      }
    }
  };

  const cpuBefore = cpuSeconds(pid);
  const started = performance.now();
  const timer = setTimeout(() => stop.abort(), durationSeconds * 1000);
  try {
    await Promise.all(Array.from({ length: connections }, () => worker()));
  } finally {
    clearTimeout(timer);
    agent.destroy();
  }
  const elapsedS = (performance.now() - started) / 1000;
  const cpuAfter = cpuSeconds(pid);

  latencies.sort((a, b) => a - b);
  const answered = latencies.length;
  const row: Row = {
    scenario,
    target,
    concurrency: connections,
    requestsPerSecond: Math.round(answered / elapsedS),
    p50Ms: round2(quantile(latencies, 0.5)),
    p99Ms: round2(quantile(latencies, 0.99)),
    maxMs: round2(latencies[answered - 1] ?? 0),
    errors: errors + timeouts + non2xx,
    eventLoopP99Ms: null,
    rssMiB: null,
    cpuUsPerRequest: cpuBefore === undefined || cpuAfter === undefined || answered === 0 ? null : Math.round(((cpuAfter - cpuBefore) * 1e6) / answered),
  };
  process.stderr.write(`${scenario.padEnd(26)} ${target.padEnd(10)} c=${String(connections).padEnd(3)} ${String(row.requestsPerSecond).padStart(6)} req/s  p99 ${row.p99Ms} ms  errors ${row.errors}\n`);
  return row;
}
