// `npm run bench`: one run, side by side on this machine — the HSM's raw rate, keybridge over
// HTTP with real SigV4 and keep-alive, moto as a peer, a constant-rate run at AWS's per-store
// quota, and keybridge in front of a simulated network HSM (5 ms per crypto call, 32 sessions).
// Prints a table and writes bench/results.json. See docs/performance.md.
//
// BENCH_SMOKE=1 (what `npm test` runs, test/bench/bench-smoke.test.ts): ~0.5 s per row, c=64 only,
// no moto unless BENCH_MOTO=1, results to a temporary file. BENCH_SECONDS sets the row length,
// BENCH_RESULTS the results file, BENCH_SERVER_NODE_OPTIONS extra node flags for the server child
// (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`), BENCH_NET_SCOPE the functions the network-HSM
// latency applies to (diagnosis; every crypto call by default).
//
// The load generator (autocannon) runs in this process; keybridge runs in its own. Requests are
// signed once per scenario with AWS's signer and replayed: a SigV4 signature stays valid for the
// 5-minute skew window (signatureMaxSkewMinutes), and identical signed requests are legal.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpus, tmpdir, totalmem } from 'node:os';
import autocannon from 'autocannon';
import { EncryptCommand, KMSClient } from '@aws-sdk/client-kms';
import { constantRate } from './constant-rate.js';
import { createKey, REGION, signedRequest, type Credentials } from './requests.js';
import { startKeybridge, startMoto } from './processes.js';
import { buildFaultyPkcs11, FaultController, faultyEnv } from '../test/support/faulty-pkcs11.js';

/** The compiled tree this file runs from (dist/ normally). */
const DIST = join(dirname(fileURLToPath(import.meta.url)), '..');
const ROOT = repoRoot(DIST);

function repoRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error('cannot find the repository root');
  }
}
const SMOKE = process.env.BENCH_SMOKE === '1';
const DURATION_S = Number(process.env.BENCH_SECONDS ?? (SMOKE ? '0.5' : '5'));
const CONCURRENCIES = SMOKE ? [64] : [1, 16, 64];
const WITH_MOTO = !SMOKE || process.env.BENCH_MOTO === '1';
const RESULTS_FILE = process.env.BENCH_RESULTS ?? (SMOKE ? join(mkdtempSync(join(tmpdir(), 'keybridge-bench-smoke-')), 'results.json') : join(ROOT, 'bench', 'results.json'));
/** The simulated network HSM: this much latency on every crypto call, over this many sessions. */
const NET_LATENCY_MS = 5;
const NET_SESSIONS = 32;
const NET_BOUND = Math.round((NET_SESSIONS * 1000) / NET_LATENCY_MS);
/**
 * Which calls pay the latency: every crypto call (the network HSM) unless
 * BENCH_NET_SCOPE names functions (diagnosis only, e.g. `C_EncryptInit,C_Encrypt`).
 */
const NET_SCOPE: 'crypto' | string[] = process.env.BENCH_NET_SCOPE ? process.env.BENCH_NET_SCOPE.split(',') : 'crypto';

interface Row {
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
function cpuSeconds(pid: number | undefined): number | undefined {
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

function cpuPerRequest(before: number | undefined, after: number | undefined, requests: number): number | null {
  if (before === undefined || after === undefined || requests <= 0) return null;
  return Math.round(((after - before) * 1e6) / requests);
}

async function metrics(url: string, reset: boolean): Promise<{ rssBytes: number; eventLoopDelayMs: { p99: number } | null } | undefined> {
  try {
    const res = await fetch(`${url}/metrics?format=json${reset ? '&reset=1' : ''}`);
    return res.ok ? ((await res.json()) as { rssBytes: number; eventLoopDelayMs: { p99: number } | null }) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Unmeasured load first, so each row measures a warmed-up server rather than whichever scenario
 * happens to run first: a fresh server spends about 1.5× the CPU per request in its first
 * seconds (JIT tiers, SQLite and SoftHSM2 caches, sessions being opened).
 */
async function warmUp(url: string, request: { headers: Record<string, string>; body: string }): Promise<void> {
  await autocannon({ url, method: 'POST', headers: request.headers, body: request.body, connections: 64, duration: SMOKE ? 0.5 : 3 });
}

async function load(
  scenario: string,
  target: string,
  url: string,
  request: { headers: Record<string, string>; body: string },
  connections: number,
  pid?: number,
): Promise<Row> {
  await metrics(url, true);
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
  const after = await metrics(url, false);
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
  process.stderr.write(`${scenario.padEnd(26)} ${target.padEnd(10)} c=${String(connections).padEnd(3)} ${String(row.requestsPerSecond).padStart(6)} req/s  p99 ${row.p99Ms} ms  errors ${row.errors}\n`);
  return row;
}

/** AWS's per-key-store quota, 1,800 requests/second, as an evenly spread open-loop load. */
async function atQuota(url: string, request: { headers: Record<string, string>; body: string }, pid?: number): Promise<Row> {
  await metrics(url, true);
  const cpuBefore = cpuSeconds(pid);
  const r = await constantRate({ url, ...request, ratePerSecond: 1800, seconds: SMOKE ? Math.max(DURATION_S, 1) : Math.max(DURATION_S, 10), maxSockets: 64 });
  const cpuAfter = cpuSeconds(pid);
  const after = await metrics(url, false);
  const row: Row = {
    scenario: 'Encrypt 32 B @ 1,800 rps',
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
  process.stderr.write(`${row.scenario.padEnd(26)} keybridge  open loop ${row.requestsPerSecond} req/s  p99 ${row.p99Ms} ms  errors ${row.errors}\n`);
  return row;
}

function rawRate(): number {
  const out = execFileSync(process.execPath, [join(DIST, 'bench/raw-pkcs11.js'), SMOKE ? '0.5' : '3'], { encoding: 'utf8' });
  return (JSON.parse(out.trim()) as { opsPerSecond: number }).opsPerSecond;
}

/**
 * Encrypt 32 B against a keybridge whose embedded token sits behind the fault-injecting module
 * (test/fixtures/faulty-pkcs11) with NET_LATENCY_MS on every crypto call: a network HSM's round
 * trip. NET_SESSIONS work sessions, twice as many connections to keep them busy, and a libuv pool
 * large enough that no session waits for a thread (each async PKCS#11 call holds one while the
 * module sleeps). The latency is switched on after the key exists, so only the run pays it.
 */
async function networkHsm(): Promise<Row | undefined> {
  let modulePath: string;
  try {
    modulePath = await buildFaultyPkcs11();
  } catch (err) {
    process.stderr.write(`network HSM row skipped: ${(err as Error).message}\n`);
    return undefined;
  }
  const controlDir = mkdtempSync(join(tmpdir(), 'keybridge-bench-faulty-'));
  const controller = new FaultController(join(controlDir, 'control'));
  controller.clear();
  const kb = await startKeybridge(DIST, {
    env: { ...faultyEnv(controller.controlFile), UV_THREADPOOL_SIZE: String(NET_SESSIONS * 2) },
    config: { softhsmModule: modulePath, embeddedMaxSessions: NET_SESSIONS },
  });
  try {
    const keyId = await createKey(kb.url, kb.credentials);
    const request = await signedRequest(kb.url, kb.credentials, 'Encrypt', { KeyId: keyId, Plaintext: Buffer.alloc(32, 1).toString('base64') });
    await warmUp(kb.url, request);
    controller.set([{ scope: NET_SCOPE, latencyMs: NET_LATENCY_MS }]);
    await new Promise((r) => setTimeout(r, 50)); // the module re-reads the file within ~5 ms
    const scope = NET_SCOPE === 'crypto' ? '' : `, only ${NET_SCOPE.join('+')}`;
    const row = await load(`Encrypt 32 B, network HSM (${NET_LATENCY_MS} ms/call${scope}, ${NET_SESSIONS} sessions)`, 'keybridge', kb.url, request, NET_SESSIONS * 2, kb.child.pid);
    controller.clear();
    return row;
  } finally {
    await kb.stop();
    rmSync(controlDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  const raw = rawRate();
  process.stderr.write(`raw pkcs11js AES-256-GCM 32 B, 1 session, sync: ${raw} ops/s\n`);

  const kb = await startKeybridge(DIST);
  try {
    const keyId = await createKey(kb.url, kb.credentials);
    const small = Buffer.alloc(32, 1).toString('base64');
    const big = Buffer.alloc(4096, 2).toString('base64');
    const kms = new KMSClient({ region: REGION, endpoint: kb.url, credentials: kb.credentials, maxAttempts: 1 });
    const blob = (await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.alloc(32, 3) }))).CiphertextBlob!;
    kms.destroy();
    const scenarios: Array<[string, string, object]> = [
      ['Encrypt 32 B', 'Encrypt', { KeyId: keyId, Plaintext: small }],
      ['Encrypt 4 KiB', 'Encrypt', { KeyId: keyId, Plaintext: big }],
      ['Decrypt 32 B', 'Decrypt', { CiphertextBlob: Buffer.from(blob).toString('base64') }],
      ['GenerateDataKey AES_256', 'GenerateDataKey', { KeyId: keyId, KeySpec: 'AES_256' }],
      // State-changing: an intent record is durable before it runs, its outcome after (two appends).
      ['TagResource (intent + outcome)', 'TagResource', { KeyId: keyId, Tags: [{ TagKey: 'bench', TagValue: 'x' }] }],
    ];
    for (const [scenario, operation, body] of scenarios) {
      const request = await signedRequest(kb.url, kb.credentials, operation, body);
      await warmUp(kb.url, request);
      for (const c of CONCURRENCIES) rows.push(await load(scenario, 'keybridge', kb.url, request, c, kb.child.pid));
    }
    const encrypt = await signedRequest(kb.url, kb.credentials, 'Encrypt', { KeyId: keyId, Plaintext: small });
    rows.push(await atQuota(kb.url, encrypt, kb.child.pid));
  } finally {
    await kb.stop();
  }

  const net = await networkHsm();
  if (net) rows.push(net);

  const moto = WITH_MOTO ? await startMoto() : undefined;
  if (moto) {
    try {
      const motoCreds = { accessKeyId: 'testing', secretAccessKey: 'testing' };
      const keyId = await createKey(moto.url, motoCreds);
      const request = await signedRequest(moto.url, motoCreds, 'Encrypt', { KeyId: keyId, Plaintext: Buffer.alloc(32, 1).toString('base64') });
      rows.push(await load('Encrypt 32 B', 'moto', moto.url, request, 64, moto.child.pid));
    } finally {
      await moto.stop();
    }
  } else {
    process.stderr.write(WITH_MOTO ? 'moto is not installed in this machine\'s Python: peer comparison skipped\n' : 'smoke mode: moto skipped (BENCH_MOTO=1 includes it)\n');
  }

  const find = (scenario: string, target: string, c: number) => rows.find((r) => r.scenario === scenario && r.target === target && r.concurrency === c);
  const kb64 = find('Encrypt 32 B', 'keybridge', 64);
  const moto64 = find('Encrypt 32 B', 'moto', 64);
  const quota = find('Encrypt 32 B @ 1,800 rps', 'keybridge', 64);
  const targets = {
    encryptC64VsRaw: { value: kb64 ? round(kb64.requestsPerSecond / raw) : null, goal: '>= 0.25' },
    encryptC64VsMoto: { value: kb64 && moto64 ? round(kb64.requestsPerSecond / moto64.requestsPerSecond) : null, goal: '>= 30' },
    quotaP99Ms: { value: quota?.p99Ms ?? null, goal: '<= 10 ms, 0 errors', errors: quota?.errors ?? null },
    networkHsm: {
      value: net ? round(net.requestsPerSecond / NET_BOUND) : null,
      goal: `>= 0.70 of ${NET_BOUND} ops/s (${NET_SESSIONS} sessions / ${NET_LATENCY_MS} ms)`,
      errors: net?.errors ?? null,
    },
    eventLoopP99Ms: { value: Math.max(...rows.filter((r) => r.target === 'keybridge').map((r) => r.eventLoopP99Ms ?? 0)), goal: '<= 20 ms' },
  };
  const results = {
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version },
    durationSeconds: DURATION_S,
    smoke: SMOKE,
    raw: { operation: 'AES-256-GCM encrypt 32 B (+12-byte IV from C_GenerateRandom), 1 session, sync', opsPerSecond: raw },
    rows,
    targets,
  };
  writeFileSync(RESULTS_FILE, `${JSON.stringify(results, null, 2)}\n`);
  console.log(table(rows, raw));
  console.log(JSON.stringify(targets, null, 2));
  process.stderr.write(`results written to ${RESULTS_FILE}\n`);
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

function table(rows: Row[], raw: number): string {
  const head = '| scenario | target | conc. | req/s | p50 ms | p99 ms | max ms | errors | loop p99 ms | RSS MiB | CPU µs/req |';
  const sep = '|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|';
  const lines = rows.map(
    (r) =>
      `| ${r.scenario} | ${r.target} | ${r.concurrency} | ${r.requestsPerSecond} | ${r.p50Ms} | ${r.p99Ms} | ${r.maxMs} | ${r.errors} | ${r.eventLoopP99Ms ?? '–'} | ${r.rssMiB ?? '–'} | ${r.cpuUsPerRequest ?? '–'} |`,
  );
  return [`raw pkcs11js (1 session, sync): ${raw} ops/s; network HSM bound: ${NET_BOUND} ops/s`, '', head, sep, ...lines].join('\n');
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
