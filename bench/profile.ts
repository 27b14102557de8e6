// `node dist/bench/profile.js [seconds] [connections]`: the server under Encrypt 32 B load with
// `--cpu-prof`, then the main thread's top self-time functions and a breakdown by area (SigV4,
// authorization, audit, metrics, logging, PKCS#11, HTTP, idle). The raw .cpuprofile files stay in
// the printed folder for Chrome DevTools. See docs/performance.md.
//
// BENCH_PROFILE_OPERATION=Decrypt|GenerateDataKey profiles another operation.

import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { EncryptCommand, KMSClient } from '@aws-sdk/client-kms';
import { startKeybridge } from './processes.js';
import { createKey, REGION, signedRequest } from './requests.js';

const DIST = join(dirname(fileURLToPath(import.meta.url)), '..');
/** `node dist/bench/profile.js file.cpuprofile` analyses a profile taken earlier. */
const existing = process.argv[2]?.endsWith('.cpuprofile') ? process.argv[2] : undefined;
const AREA_TOP = Number(process.env.BENCH_PROFILE_AREA_TOP ?? '5');
const seconds = Number(process.argv[2] ?? '8');
const connections = Number(process.argv[3] ?? '64');
const operation = process.env.BENCH_PROFILE_OPERATION ?? 'Encrypt';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Areas by the source file a sampled frame is in, first match wins (checked innermost-out). */
const AREAS: ReadonlyArray<[string, RegExp]> = [
  ['sigv4', /src\/auth\/|@smithy\/signature-v4|@smithy\/hash-node/u],
  ['authorization', /src\/operations\/authorization|src\/domain\/policy|src\/domain\/key-policy|src\/domain\/grant/u],
  ['audit', /src\/audit\/|src\/http\/audit-hook/u],
  ['metrics', /prom-client|src\/http\/metrics/u],
  ['logging', /node_modules\/pino|sonic-boom/u],
  ['store', /src\/store\/|better-sqlite3/u],
  ['hsm', /src\/hsm\/|pkcs11js/u],
  ['operation', /src\/operations\//u],
  ['fastify', /node_modules\/(fastify|find-my-way|light-my-request|avvio|@fastify)/u],
];

function analyse(file: string): void {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<number, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    self.set(id, (self.get(id) ?? 0) + dt);
    total += dt;
  });
  const fnSelf = new Map<string, number>();
  const areas = new Map<string, number>();
  const areaFns = new Map<string, Map<string, number>>();
  for (const [id, us] of self) {
    const node = byId.get(id)!;
    const { functionName, url, lineNumber } = node.callFrame;
    const short = url.replace(/^.*\/(node_modules|src|bench)\//u, '$1/');
    const name = `${functionName || '(anonymous)'} ${short}:${lineNumber + 1}`;
    fnSelf.set(name, (fnSelf.get(name) ?? 0) + us);
    // Attribute the sample to the innermost frame of ours or a known library (so a Buffer or
    // crypto builtin counts for whoever called it).
    let area = functionName === '(idle)' ? 'idle' : functionName === '(garbage collector)' ? 'gc' : functionName === '(program)' ? 'program' : undefined;
    for (let at: number | undefined = id; area === undefined && at !== undefined; at = parent.get(at)) {
      const u = byId.get(at)!.callFrame.url;
      area = AREAS.find(([, re]) => re.test(u))?.[0];
    }
    area ??= 'other (node internals: net, http, streams)';
    areas.set(area, (areas.get(area) ?? 0) + us);
    const perArea = areaFns.get(area) ?? new Map<string, number>();
    perArea.set(name, (perArea.get(name) ?? 0) + us);
    areaFns.set(area, perArea);
  }
  // Inclusive time of our own functions (src/): what each step of the request path costs in all.
  const inclusive = new Map<string, number>();
  profile.samples.forEach((id, i) => {
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const { functionName, url, lineNumber } = byId.get(at)!.callFrame;
      if (!/\/src\//u.test(url) || functionName === '') continue;
      seen.add(`${functionName} ${url.replace(/^.*\/src\//u, 'src/')}:${lineNumber + 1}`);
    }
    for (const name of seen) inclusive.set(name, (inclusive.get(name) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  const pct = (us: number) => `${((100 * us) / total).toFixed(1).padStart(5)} %`;
  console.log(`\n${file}: ${(total / 1e6).toFixed(1)} s sampled`);
  console.log('\nby area (self time, attributed to the innermost known caller):');
  for (const [area, us] of [...areas].sort((a, b) => b[1] - a[1])) {
    console.log(`  ${pct(us)}  ${area}`);
    if (['idle', 'gc', 'program'].includes(area)) continue;
    const fns = [...(areaFns.get(area) ?? [])].sort((a, b) => b[1] - a[1]).slice(0, AREA_TOP);
    for (const [name, fus] of fns) console.log(`             ${pct(fus)}  ${name}`);
  }
  console.log('\ntop functions (self time):');
  for (const [name, us] of [...fnSelf].sort((a, b) => b[1] - a[1]).slice(0, 30)) console.log(`  ${pct(us)}  ${name}`);
  console.log('\ntop functions of src/ (inclusive time):');
  for (const [name, us] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, 30)) console.log(`  ${pct(us)}  ${name}`);
}

async function main(): Promise<void> {
  if (existing !== undefined) return analyse(existing);
  const dir = mkdtempSync(join(tmpdir(), 'keybridge-profile-'));
  const kb = await startKeybridge(DIST, { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`] });
  try {
    const keyId = await createKey(kb.url, kb.credentials);
    let body: object = { KeyId: keyId, Plaintext: Buffer.alloc(32, 1).toString('base64') };
    if (operation === 'Decrypt') {
      const kms = new KMSClient({ region: REGION, endpoint: kb.url, credentials: kb.credentials, maxAttempts: 1 });
      const blob = (await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.alloc(32, 3) }))).CiphertextBlob!;
      kms.destroy();
      body = { CiphertextBlob: Buffer.from(blob).toString('base64') };
    } else if (operation === 'GenerateDataKey') {
      body = { KeyId: keyId, KeySpec: 'AES_256' };
    }
    const request = await signedRequest(kb.url, kb.credentials, operation, body);
    const result = await autocannon({ url: kb.url, method: 'POST', headers: request.headers, body: request.body, connections, duration: seconds });
    console.log(`${operation} c=${connections}: ${Math.round(result.requests.average)} req/s, p99 ${result.latency.p99} ms, errors ${result.errors + result.non2xx}`);
  } finally {
    await kb.stop();
  }
  for (const f of readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'))) analyse(join(dir, f));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
