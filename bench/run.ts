// `npm run bench`: one run, side by side on this machine — the HSM's raw rate, keybridge over
// HTTP with real SigV4 and keep-alive, moto as a peer, and a constant-rate run at AWS's per-store
// quota. Prints a table and writes bench/results.json. See docs/performance.md.
//
// The load generator (autocannon) runs in this process; keybridge runs in its own. Requests are
// signed once per scenario with AWS's signer and replayed: a SigV4 signature stays valid for the
// 15-minute skew window, and identical signed requests are legal.

import { execFileSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpus, totalmem } from 'node:os';
import autocannon from 'autocannon';
import { CreateKeyCommand, EncryptCommand, KMSClient } from '@aws-sdk/client-kms';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import { constantRate } from './constant-rate.js';
import { startKeybridge, startMoto } from './processes.js';

/** The compiled tree this file runs from (dist/ normally). */
const DIST = join(dirname(fileURLToPath(import.meta.url)), '..');
const ROOT = repoRoot(DIST);

function repoRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error('cannot find the repository root');
  }
}
const DURATION_S = Number(process.env.BENCH_SECONDS ?? '5');
const REGION = 'us-east-1';

interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
}

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
}

async function signedRequest(url: string, credentials: Credentials, operation: string, body: object) {
  const { hostname, port, host } = new URL(url);
  const signer = new SignatureV4({ credentials, region: REGION, service: 'kms', sha256: Hash.bind(null, 'sha256') });
  const payload = JSON.stringify(body);
  const signed = await signer.sign({
    method: 'POST',
    protocol: 'http:',
    hostname,
    port: Number(port),
    path: '/',
    query: {},
    headers: { host, 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': `TrentService.${operation}` },
    body: payload,
  });
  return { headers: signed.headers as Record<string, string>, body: payload };
}

async function metrics(url: string, reset: boolean): Promise<{ rssBytes: number; eventLoopDelayMs: { p99: number } | null } | undefined> {
  try {
    const res = await fetch(`${url}/metrics?format=json${reset ? '&reset=1' : ''}`);
    return res.ok ? ((await res.json()) as { rssBytes: number; eventLoopDelayMs: { p99: number } | null }) : undefined;
  } catch {
    return undefined;
  }
}

async function load(
  scenario: string,
  target: string,
  url: string,
  request: { headers: Record<string, string>; body: string },
  connections: number,
): Promise<Row> {
  await metrics(url, true);
  const result = await autocannon({
    url,
    method: 'POST',
    headers: request.headers,
    body: request.body,
    connections,
    pipelining: 1,
    duration: DURATION_S,
  });
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
  };
  process.stderr.write(`${scenario.padEnd(26)} ${target.padEnd(10)} c=${String(connections).padEnd(3)} ${String(row.requestsPerSecond).padStart(6)} req/s  p99 ${row.p99Ms} ms  errors ${row.errors}\n`);
  return row;
}

/** AWS's per-key-store quota, 1,800 requests/second, as an evenly spread open-loop load. */
async function atQuota(url: string, request: { headers: Record<string, string>; body: string }): Promise<Row> {
  await metrics(url, true);
  const r = await constantRate({ url, ...request, ratePerSecond: 1800, seconds: Math.max(DURATION_S, 10), maxSockets: 64 });
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
  };
  process.stderr.write(`${row.scenario.padEnd(26)} keybridge  open loop ${row.requestsPerSecond} req/s  p99 ${row.p99Ms} ms  errors ${row.errors}\n`);
  return row;
}

async function createKey(url: string, credentials: Credentials): Promise<string> {
  const kms = new KMSClient({ region: REGION, endpoint: url, credentials, maxAttempts: 1 });
  try {
    const { KeyMetadata } = await kms.send(new CreateKeyCommand({ Description: 'bench' }));
    return KeyMetadata!.KeyId!;
  } finally {
    kms.destroy();
  }
}

function rawRate(): number {
  const out = execFileSync(process.execPath, [join(DIST, 'bench/raw-pkcs11.js'), '3'], { encoding: 'utf8' });
  return (JSON.parse(out.trim()) as { opsPerSecond: number }).opsPerSecond;
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
    ];
    for (const [scenario, operation, body] of scenarios) {
      const request = await signedRequest(kb.url, kb.credentials, operation, body);
      for (const c of [1, 16, 64]) rows.push(await load(scenario, 'keybridge', kb.url, request, c));
    }
    const encrypt = await signedRequest(kb.url, kb.credentials, 'Encrypt', { KeyId: keyId, Plaintext: small });
    rows.push(await atQuota(kb.url, encrypt));
  } finally {
    await kb.stop();
  }

  const moto = await startMoto();
  if (moto) {
    try {
      const motoCreds = { accessKeyId: 'testing', secretAccessKey: 'testing' };
      const keyId = await createKey(moto.url, motoCreds);
      const request = await signedRequest(moto.url, motoCreds, 'Encrypt', { KeyId: keyId, Plaintext: Buffer.alloc(32, 1).toString('base64') });
      rows.push(await load('Encrypt 32 B', 'moto', moto.url, request, 64));
    } finally {
      await moto.stop();
    }
  } else {
    process.stderr.write('moto is not installed in this machine\'s Python: peer comparison skipped\n');
  }

  const find = (scenario: string, target: string, c: number) => rows.find((r) => r.scenario === scenario && r.target === target && r.concurrency === c);
  const kb64 = find('Encrypt 32 B', 'keybridge', 64);
  const moto64 = find('Encrypt 32 B', 'moto', 64);
  const quota = find('Encrypt 32 B @ 1,800 rps', 'keybridge', 64);
  const targets = {
    encryptC64VsRaw: { value: kb64 ? round(kb64.requestsPerSecond / raw) : null, goal: '>= 0.25' },
    encryptC64VsMoto: { value: kb64 && moto64 ? round(kb64.requestsPerSecond / moto64.requestsPerSecond) : null, goal: '>= 30' },
    quotaP99Ms: { value: quota?.p99Ms ?? null, goal: '<= 10 ms, 0 errors', errors: quota?.errors ?? null },
    networkHsm: { value: null, goal: '>= 70 % of 6,400 ops/s', note: 'needs the fault-injecting PKCS#11 module (cluster issue)' },
    eventLoopP99Ms: { value: Math.max(...rows.filter((r) => r.target === 'keybridge').map((r) => r.eventLoopP99Ms ?? 0)), goal: '<= 20 ms' },
  };
  const results = {
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version },
    durationSeconds: DURATION_S,
    raw: { operation: 'AES-256-GCM encrypt 32 B (+12-byte IV from C_GenerateRandom), 1 session, sync', opsPerSecond: raw },
    rows,
    targets,
  };
  writeFileSync(join(ROOT, 'bench', 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
  console.log(table(rows, raw));
  console.log(JSON.stringify(targets, null, 2));
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

function table(rows: Row[], raw: number): string {
  const head = '| scenario | target | conc. | req/s | p50 ms | p99 ms | max ms | errors | loop p99 ms | RSS MiB |';
  const sep = '|---|---|--:|--:|--:|--:|--:|--:|--:|--:|';
  const lines = rows.map((r) => `| ${r.scenario} | ${r.target} | ${r.concurrency} | ${r.requestsPerSecond} | ${r.p50Ms} | ${r.p99Ms} | ${r.maxMs} | ${r.errors} | ${r.eventLoopP99Ms ?? '–'} | ${r.rssMiB ?? '–'} |`);
  return [`raw pkcs11js (1 session, sync): ${raw} ops/s`, '', head, sep, ...lines].join('\n');
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
