// `npm run bench`: one run, side by side on this machine — the HSM's raw rate, keybridge over
// HTTP with real SigV4 and keep-alive, moto as a peer, a constant-rate run at AWS's per-store
// quota, the CBC-HMAC suite for HSMs without AES-GCM (bench/suites.ts), keybridge in front of a
// simulated network HSM (1 ms and 5 ms per crypto call, 32 sessions), and the default key store
// while a member of a custom key store hangs (bench/hung-member.ts), and 1 against 2 worker
// processes on the PostgreSQL store (bench/workers.ts). Prints a table and the targets, and writes bench/results.json.
// See docs/performance.md.
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
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpus, tmpdir, totalmem } from 'node:os';
import { EncryptCommand, KMSClient } from '@aws-sdk/client-kms';
import { atQuota } from './constant-rate.js';
import { hungMember, type HungMemberResult } from './hung-member.js';
import { CONCURRENCIES, DURATION_S, load, SMOKE, sleep, warmUp, type Row } from './measure.js';
import { peerLoad } from './peer.js';
import { createKey, REGION, signedRequest } from './requests.js';
import { startKeybridge, startMoto } from './processes.js';
import { suiteRows } from './suites.js';
import { workerRows } from './workers.js';
import { XKS_QUOTA_SCENARIO, xksRows } from './xks.js';
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
const WITH_MOTO = !SMOKE || process.env.BENCH_MOTO === '1';
const RESULTS_FILE = process.env.BENCH_RESULTS ?? (SMOKE ? join(mkdtempSync(join(tmpdir(), 'keybridge-bench-smoke-')), 'results.json') : join(ROOT, 'bench', 'results.json'));
/** The simulated network HSMs: this much latency on every crypto call, over NET_SESSIONS sessions. */
const NET_LATENCIES_MS = [1, 5] as const;
const NET_SESSIONS = 32;
/**
 * What the device does per Encrypt since the HSM executor: C_EncryptInit + C_Encrypt. The IV
 * comes from a per-worker reservoir (one C_GenerateRandom per 256 Encrypts) and the key handle
 * from a per-worker cache, so neither pays a round trip per request.
 */
const DEVICE_CALLS_PER_ENCRYPT = 2;
/**
 * Which calls pay the latency: every crypto call (the network HSM) unless
 * BENCH_NET_SCOPE names functions (diagnosis only, e.g. `C_EncryptInit,C_Encrypt`).
 */
const NET_SCOPE: 'crypto' | string[] = process.env.BENCH_NET_SCOPE ? process.env.BENCH_NET_SCOPE.split(',') : 'crypto';

/** The most Encrypts per second NET_SESSIONS sessions can do when each device call takes `latencyMs`. */
function latencyBound(latencyMs: number): number {
  return Math.round((NET_SESSIONS * 1000) / (DEVICE_CALLS_PER_ENCRYPT * latencyMs));
}

function networkScenario(latencyMs: number): string {
  const scope = NET_SCOPE === 'crypto' ? '' : `, only ${NET_SCOPE.join('+')}`;
  return `Encrypt 32 B, network HSM (${latencyMs} ms/call${scope}, ${NET_SESSIONS} sessions)`;
}

function rawRate(): number {
  const out = execFileSync(process.execPath, [join(DIST, 'bench/raw-pkcs11.js'), SMOKE ? '0.5' : '3'], { encoding: 'utf8' });
  return (JSON.parse(out.trim()) as { opsPerSecond: number }).opsPerSecond;
}

/** The HSM-local rows: the embedded SoftHSM2 token, every scenario, then the at-quota run. */
async function localRows(): Promise<Row[]> {
  const rows: Row[] = [];
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
    for (const [at, [scenario, operation, body]] of scenarios.entries()) {
      const request = await signedRequest(kb.url, kb.credentials, operation, body);
      await warmUp(kb.url, request, { fresh: at === 0 });
      for (const c of CONCURRENCIES) rows.push(await load(scenario, 'keybridge', kb.url, request, c, kb.child.pid));
    }
    const encrypt = await signedRequest(kb.url, kb.credentials, 'Encrypt', { KeyId: keyId, Plaintext: small });
    rows.push(await atQuota({ url: kb.url, request: encrypt, pid: kb.child.pid, scenario: 'Encrypt 32 B @ 1,800 rps' }));
  } finally {
    await kb.stop();
  }
  return rows;
}

/**
 * Encrypt 32 B against a keybridge whose embedded token sits behind the fault-injecting module
 * (test/fixtures/faulty-pkcs11) with `latencyMs` on every crypto call: a network HSM's round trip.
 * NET_SESSIONS work sessions — so NET_SESSIONS executor workers, each making its calls
 * synchronously on its own thread (libuv's pool is not involved, so UV_THREADPOOL_SIZE does not
 * matter) — and twice as many connections to keep them busy. The latency is switched on after
 * the key exists and every worker has started, so only the measured run pays it.
 */
async function networkHsm(modulePath: string, latencyMs: number): Promise<Row> {
  const controlDir = mkdtempSync(join(tmpdir(), 'keybridge-bench-faulty-'));
  const controller = new FaultController(join(controlDir, 'control'));
  controller.clear();
  const kb = await startKeybridge(DIST, {
    env: faultyEnv(controller.controlFile),
    config: { softhsmModule: modulePath, embeddedMaxSessions: NET_SESSIONS },
  });
  try {
    const keyId = await createKey(kb.url, kb.credentials);
    const request = await signedRequest(kb.url, kb.credentials, 'Encrypt', { KeyId: keyId, Plaintext: Buffer.alloc(32, 1).toString('base64') });
    await warmUp(kb.url, request, { fresh: true });
    controller.set([{ scope: NET_SCOPE, latencyMs }]);
    await sleep(50); // the module re-reads the file within ~5 ms
    // Unmeasured, with the latency on: the workers' first calls under it (handle lookups, IV
    // reservoirs) are not the steady state being measured.
    await warmUp(kb.url, request);
    const row = await load(networkScenario(latencyMs), 'keybridge', kb.url, request, NET_SESSIONS * 2, kb.child.pid);
    controller.clear();
    return row;
  } finally {
    await kb.stop();
    rmSync(controlDir, { recursive: true, force: true });
  }
}

/** One network-HSM row per latency; none when the fault-injecting module cannot be built. */
async function networkRows(): Promise<Row[]> {
  let modulePath: string;
  try {
    modulePath = await buildFaultyPkcs11();
  } catch (err) {
    process.stderr.write(`network HSM rows skipped: ${(err as Error).message}\n`);
    return [];
  }
  const rows: Row[] = [];
  for (const latencyMs of NET_LATENCIES_MS) rows.push(await networkHsm(modulePath, latencyMs));
  return rows;
}

/**
 * moto's Encrypt 32 B at c=64, with bench/peer.ts's client (moto closes every connection, which
 * autocannon does not handle); after a short unmeasured run, as keybridge's rows get a warm-up.
 */
async function motoRow(): Promise<Row | undefined> {
  const moto = WITH_MOTO ? await startMoto() : undefined;
  if (!moto) {
    process.stderr.write(WITH_MOTO ? "moto is not installed in this machine's Python: peer comparison skipped\n" : 'smoke mode: moto skipped (BENCH_MOTO=1 includes it)\n');
    return undefined;
  }
  try {
    const motoCreds = { accessKeyId: 'testing', secretAccessKey: 'testing' };
    const keyId = await createKey(moto.url, motoCreds);
    const request = await signedRequest(moto.url, motoCreds, 'Encrypt', { KeyId: keyId, Plaintext: Buffer.alloc(32, 1).toString('base64') });
    await peerLoad('Encrypt 32 B (warm-up)', 'moto', moto.url, request, 64, SMOKE ? 0.5 : 2);
    return await peerLoad('Encrypt 32 B', 'moto', moto.url, request, 64, DURATION_S, moto.child.pid);
  } finally {
    await moto.stop();
  }
}

async function main(): Promise<void> {
  const raw = rawRate();
  process.stderr.write(`raw pkcs11js AES-256-GCM 32 B, 1 session, sync: ${raw} ops/s\n`);
  const rows: Row[] = await localRows();
  rows.push(...(await suiteRows(DIST)));
  rows.push(...(await networkRows()));
  const hung = await hungMember(DIST, ROOT);
  if (hung) rows.push(hung.baseline, hung.hung, hung.side);
  rows.push(...(await xksRows(DIST)));
  rows.push(...(await workerRows(DIST)));
  const moto = await motoRow();
  if (moto) rows.push(moto);

  const targets = targetsOf(rows, raw, hung);
  const results = {
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version },
    durationSeconds: DURATION_S,
    smoke: SMOKE,
    raw: { operation: 'AES-256-GCM encrypt 32 B (+12-byte IV from C_GenerateRandom), 1 session, sync', opsPerSecond: raw },
    rows,
    hungMember: hung ? { companion: hung.companion, memberAStateAfterHang: hung.memberAStateAfterHang } : null,
    targets,
  };
  writeFileSync(RESULTS_FILE, `${JSON.stringify(results, null, 2)}\n`);
  console.log(table(rows, raw));
  console.log(JSON.stringify(targets, null, 2));
  process.stderr.write(`results written to ${RESULTS_FILE}\n`);
}

/** Every goal of issue #13 with the run's value and whether it was met. */
function targetsOf(rows: readonly Row[], raw: number, hung: HungMemberResult | undefined) {
  const find = (scenario: string, target: string, c: number) => rows.find((r) => r.scenario === scenario && r.target === target && r.concurrency === c);
  const kb64 = find('Encrypt 32 B', 'keybridge', 64);
  const moto64 = find('Encrypt 32 B', 'moto', 64);
  const quota = find('Encrypt 32 B @ 1,800 rps', 'keybridge', 64);
  const vsRaw = kb64 ? round(kb64.requestsPerSecond / raw) : null;
  const vsMoto = kb64 && moto64 ? round(kb64.requestsPerSecond / moto64.requestsPerSecond) : null;
  const cpu = kb64?.cpuUsPerRequest ?? null;
  return {
    encryptC64VsRaw: { value: vsRaw, goal: '>= 0.25', met: vsRaw !== null && vsRaw >= 0.25 },
    encryptC64CpuUsPerRequest: { value: cpu, goal: '<= 300 µs', met: cpu !== null && cpu <= 300 },
    encryptC64VsMoto: { value: vsMoto, goal: '>= 30', met: vsMoto !== null && vsMoto >= 30 },
    quotaP99Ms: { value: quota?.p99Ms ?? null, goal: '<= 10 ms, 0 errors', errors: quota?.errors ?? null, met: quota !== undefined && quota.p99Ms <= 10 && quota.errors === 0 },
    ...Object.fromEntries(NET_LATENCIES_MS.map((ms) => [`networkHsm${ms}ms`, networkTarget(find(networkScenario(ms), 'keybridge', NET_SESSIONS * 2), ms, kb64?.requestsPerSecond)])),
    hungMember: hung ? hungTargets(hung) : null,
    xksProxyP99AtQuota: xksTarget(find(XKS_QUOTA_SCENARIO, 'keybridge', 64)),
    eventLoopP99Ms: eventLoopTarget(rows),
  };
}

/** AWS KMS times a proxy call out at 250 ms; at the default external key store quota keybridge's p99 must be a fifth of that. */
function xksTarget(row: Row | undefined) {
  return { value: row?.p99Ms ?? null, goal: '<= 50 ms at 1,800 rps (AWS KMS allows 250 ms), 0 errors', errors: row?.errors ?? null, met: row !== undefined && row.p99Ms <= 50 && row.errors === 0 };
}

/** rate >= 0.7 × min(latency bound, the same run's HSM-local Encrypt 32 B c=64 rate). */
function networkTarget(row: Row | undefined, latencyMs: number, localRate: number | undefined) {
  const bound = latencyBound(latencyMs);
  const reference = Math.min(bound, localRate ?? bound);
  const floor = Math.round(0.7 * reference);
  return {
    value: row?.requestsPerSecond ?? null,
    goal: `>= 0.70 × min(latency bound, HSM-local Encrypt 32 B c=64) = ${floor} req/s`,
    latencyBound: bound,
    latencyBoundIs: `${NET_SESSIONS} sessions / (${DEVICE_CALLS_PER_ENCRYPT} device calls per Encrypt × ${latencyMs} ms)`,
    hsmLocalRate: localRate ?? null,
    ofReference: row ? round(row.requestsPerSecond / reference) : null,
    errors: row?.errors ?? null,
    met: row !== undefined && row.requestsPerSecond >= floor,
  };
}

/** The default store while a custom store's member hangs: rate, latency, errors, liveness. */
function hungTargets(hung: HungMemberResult) {
  const ratio = round(hung.hung.requestsPerSecond / Math.max(1, hung.baseline.requestsPerSecond));
  const livez = hung.companion.hung.livez;
  return {
    rateVsBaseline: { value: ratio, baseline: hung.baseline.requestsPerSecond, withHang: hung.hung.requestsPerSecond, goal: '>= 0.80', met: ratio >= 0.8 },
    p99Ms: { value: hung.hung.p99Ms, goal: '<= 50 ms', met: hung.hung.p99Ms <= 50 },
    errors: { value: hung.hung.errors, goal: '0', met: hung.hung.errors === 0 },
    livezMaxMs: {
      value: livez.maxMs,
      goal: '< 50 ms',
      probes: livez.probes,
      failures: livez.failures,
      baselineMaxMs: hung.companion.baseline.livez.maxMs,
      met: livez.maxMs < 50 && livez.failures === 0 && livez.probes > 0,
    },
    memberAStateAfterHang: hung.memberAStateAfterHang ?? null,
  };
}

/** The worst event-loop p99 of any keybridge row (network and hung rows included), and which rows miss. */
function eventLoopTarget(rows: readonly Row[]) {
  const keybridge = rows.filter((r) => r.target === 'keybridge' && r.eventLoopP99Ms !== null);
  const value = Math.max(0, ...keybridge.map((r) => r.eventLoopP99Ms!));
  const over = [...new Set(keybridge.filter((r) => r.eventLoopP99Ms! > 20).map((r) => `${r.scenario} c=${r.concurrency}`))];
  return { value, goal: '<= 20 ms in every keybridge row', over, met: over.length === 0 };
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
  const bounds = NET_LATENCIES_MS.map((ms) => `${ms} ms → ${latencyBound(ms)}`).join(', ');
  return [`raw pkcs11js (1 session, sync): ${raw} ops/s; network HSM latency bounds (${NET_SESSIONS} sessions, ${DEVICE_CALLS_PER_ENCRYPT} calls per Encrypt): ${bounds} ops/s`, '', head, sep, ...lines].join('\n');
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
