// The cluster-resilience scenario (issues #4 and #19): a two-member SoftHSM2 cluster in `keybridge`
// replication mode, behind the fault-injecting PKCS#11 module, under steady mixed
// Encrypt / Decrypt / GenerateDataKey load, with two faults in turn:
// - member A fails (every call: CKR_DEVICE_REMOVED) at 1/5 of the run and comes back at 2/5; a key
//   is created while A is away;
// - member B's token disappears at 3/5 (the module's `gone` fault: its slot leaves the slot list,
//   and stays gone after it returns at 4/5 until keybridge re-initialises the library, as real
//   libraries behave) — the re-initialisation pauses A, on the same library, while it serves.
//
// It reports client-visible failures (SDK retries off, so nothing is hidden), p50/p99 latency, the
// time until each member is marked UNAVAILABLE and until it is ACTIVE again, and afterwards: every
// ciphertext of the run decrypts, the key created during A's outage works on A alone (B failed),
// and with every member down a request fails fast with KMSInvalidStateException.
//
//   scripts/chaos.sh [--duration-ms N] [--rate N]      (npm test runs a short form)

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

import {
  CreateKeyCommand,
  DecryptCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  type KMSClient,
} from '@aws-sdk/client-kms';

import { connectFaultyStore, writeFaultyCluster } from '../test/support/faulty-cluster.js';
import { until } from '../test/support/until.js';
import { buildFaultyPkcs11, FaultController, faultyEnv } from '../test/support/faulty-pkcs11.js';
import { sdkClient } from '../test/support/kms-client.js';
import { REPO_ROOT } from '../test/support/repo-root.js';
import { makeDataDir, startServer, type TestServer } from '../test/support/server.js';

export const CHAOS_CLUSTER = 'cluster-kbChaosMembers';
const MEMBER_A = 'kb-chaos-a';
const MEMBER_B = 'kb-chaos-b';
// The module re-reads its control file at most every 5 ms.
const FAULT_PICKUP_MS = 25;

export interface ChaosOptions {
  readonly durationMs: number;
  /** Requests per second across all workers. */
  readonly rate: number;
  readonly concurrency?: number;
  /** Called with the running server before it is stopped (tests look at /metrics and the CLI). */
  readonly inspect?: (server: TestServer, storeId: string) => Promise<void>;
}

export interface ChaosReport {
  readonly requests: number;
  /** Client-visible failures by operation and error name, during the load. */
  readonly failures: Record<string, number>;
  readonly latencyMs: { readonly p50: number; readonly p99: number; readonly max: number };
  /** Member A (device removed): until marked UNAVAILABLE, and until ACTIVE after the fault cleared. */
  readonly msToUnavailable: number | undefined;
  readonly msToActive: number | undefined;
  /** Member B (token gone from the slot list): the same two times. */
  readonly tokenLoss: { readonly msToUnavailable: number; readonly msToActive: number };
  readonly ciphertexts: number;
  readonly undecryptable: number;
  /** Encrypt + Decrypt with the key made during the outage, served by member A alone. */
  readonly outageKeyWorksOnReturnedMember: boolean;
  /** With both members failed: the error and how long it took. */
  readonly allDown: { readonly error: string; readonly ms: number };
  /** Member state transitions seen in the health reports, in order. */
  readonly transitions: readonly string[];
}

interface Sealed {
  readonly blob: Uint8Array;
  readonly plaintext: Buffer;
}

export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const dataDir = makeDataDir();
  const controlFile = join(dataDir, 'faults.conf');
  writeFileSync(controlFile, '');
  const faulty = await buildFaultyPkcs11();
  // WARNING: before anything in this process loads the faulty module.
  Object.assign(process.env, faultyEnv(controlFile));
  const faults = new FaultController(controlFile);
  const clustersDir = writeFaultyCluster(dataDir, faulty, { clusterId: CHAOS_CLUSTER, memberA: MEMBER_A, memberB: MEMBER_B, callTimeoutMs: 1000 });
  // Every token through the faulty module, the default store's too: one library, re-initialised for
  // all of its users at once (two paths to one library would finalize it beneath the other path).
  const server = await startServer({ dataDir, settings: { clustersDir, softhsmModule: faulty, deletionSweepIntervalMs: 3_600_000, logLevel: 'info' } });
  const kms = sdkClient(server);
  try {
    const storeId = await connectFaultyStore(kms, dataDir, REPO_ROOT, CHAOS_CLUSTER, 'chaos');
    const keys: string[] = [];
    for (let i = 0; i < 3; i++) {
      keys.push((await kms.send(new CreateKeyCommand({ CustomKeyStoreId: storeId, Origin: 'AWS_CLOUDHSM' }))).KeyMetadata!.KeyId!);
    }

    const health = () => server.keybridge.keyStores.health(storeId);
    const stateOf = (label: string) => health()?.members.find((m) => m.tokenLabel === label)?.state;
    const stateOfA = () => stateOf(MEMBER_A);
    const stateOfB = () => stateOf(MEMBER_B);
    const transitions: string[] = [];
    const last = { a: stateOfA(), b: stateOfB() };
    const watcher = setInterval(() => {
      for (const [name, now] of [['a', stateOfA()], ['b', stateOfB()]] as const) {
        if (now !== last[name]) transitions.push(`${name}: ${last[name]} → ${now}`);
        last[name] = now;
      }
    }, 10);

    // --- steady load ---
    const sealed: Sealed[] = [];
    const latencies: number[] = [];
    const failures: Record<string, number> = {};
    let requests = 0;
    const started = performance.now();
    const stopAt = started + options.durationMs;
    const interval = 1000 / options.rate;
    let nextSlot = started;
    const worker = async () => {
      for (;;) {
        const slot = nextSlot;
        nextSlot += interval;
        if (slot >= stopAt) return;
        const wait = slot - performance.now();
        if (wait > 0) await sleep(wait);
        await oneRequest(kms, keys, sealed, latencies, failures);
        requests += 1;
      }
    };
    const load = Promise.all(Array.from({ length: options.concurrency ?? 8 }, worker));

    const at = (fraction: number) => sleep(Math.max(0, started + fraction * options.durationMs - performance.now()));

    // --- fault 1: member A's device removed at 1/5, back at 2/5 ---
    let msToUnavailable: number | undefined;
    let msToActive: number | undefined;
    let outageKey: string | undefined;
    await at(1 / 5);
    const failedAt = performance.now();
    faults.set([{ label: MEMBER_A, scope: 'all', fail: 'CKR_DEVICE_REMOVED' }]);
    await until(async () => stateOfA() === 'UNAVAILABLE', options.durationMs, 'member A to be marked UNAVAILABLE');
    msToUnavailable = performance.now() - failedAt;
    outageKey = (await kms.send(new CreateKeyCommand({ CustomKeyStoreId: storeId, Origin: 'AWS_CLOUDHSM', Description: 'made while A was away' }))).KeyMetadata!.KeyId!;
    keys.push(outageKey);
    await at(2 / 5);
    const clearedAt = performance.now();
    faults.clear();
    await until(async () => stateOfA() === 'ACTIVE', options.durationMs, 'member A to be ACTIVE again');
    msToActive = performance.now() - clearedAt;

    // --- fault 2: member B's token leaves the slot list at 3/5, returns at 4/5 ---
    await at(3 / 5);
    const goneAt = performance.now();
    faults.set([{ label: MEMBER_B, gone: true }]);
    await until(async () => stateOfB() === 'UNAVAILABLE', options.durationMs, 'member B to be marked UNAVAILABLE');
    const goneMsToUnavailable = performance.now() - goneAt;
    await at(4 / 5);
    const returnedAt = performance.now();
    faults.clear();
    await until(async () => stateOfB() === 'ACTIVE', options.durationMs + 30_000, 'member B to be ACTIVE again after its token returned');
    const tokenLoss = { msToUnavailable: Math.round(goneMsToUnavailable), msToActive: Math.round(performance.now() - returnedAt) };
    await load;
    clearInterval(watcher);

    // --- afterwards ---
    let undecryptable = 0;
    for (const item of sealed) {
      try {
        const out = await kms.send(new DecryptCommand({ CiphertextBlob: item.blob }));
        if (!Buffer.from(out.Plaintext!).equals(item.plaintext)) undecryptable += 1;
      } catch {
        undecryptable += 1;
      }
    }

    // The outage key on the returned member alone: fail B, use the key, restore B.
    faults.set([{ label: MEMBER_B, scope: 'all', fail: 'CKR_DEVICE_REMOVED' }]);
    await sleep(FAULT_PICKUP_MS);
    let outageKeyWorksOnReturnedMember = false;
    try {
      const blob = (await kms.send(new EncryptCommand({ KeyId: outageKey, Plaintext: Buffer.from('on A alone') }))).CiphertextBlob!;
      outageKeyWorksOnReturnedMember = Buffer.from((await kms.send(new DecryptCommand({ CiphertextBlob: blob }))).Plaintext!).toString() === 'on A alone';
    } catch {
      outageKeyWorksOnReturnedMember = false;
    }

    // Every member down: a fast, definite answer.
    faults.set([
      { label: MEMBER_A, scope: 'all', fail: 'CKR_DEVICE_REMOVED' },
      { label: MEMBER_B, scope: 'all', fail: 'CKR_DEVICE_REMOVED' },
    ]);
    await sleep(FAULT_PICKUP_MS);
    const downAt = performance.now();
    let allDownError = 'none';
    try {
      await kms.send(new EncryptCommand({ KeyId: keys[0], Plaintext: Buffer.from('x') }));
    } catch (err) {
      allDownError = (err as Error).name;
    }
    const allDownMs = performance.now() - downAt;
    faults.clear();
    await until(async () => health()?.members.every((m) => m.state === 'ACTIVE') === true, 20_000, 'both members to come back');
    await options.inspect?.(server, storeId);

    latencies.sort((x, y) => x - y);
    const pct = (p: number) => Math.round((latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? 0) * 10) / 10;
    return {
      requests,
      failures,
      latencyMs: { p50: pct(50), p99: pct(99), max: Math.round((latencies[latencies.length - 1] ?? 0) * 10) / 10 },
      msToUnavailable: msToUnavailable === undefined ? undefined : Math.round(msToUnavailable),
      msToActive: msToActive === undefined ? undefined : Math.round(msToActive),
      tokenLoss,
      ciphertexts: sealed.length,
      undecryptable,
      outageKeyWorksOnReturnedMember,
      allDown: { error: allDownError, ms: Math.round(allDownMs) },
      transitions,
    };
  } finally {
    faults.clear();
    kms.destroy();
    await server.destroy();
  }
}

async function oneRequest(kms: KMSClient, keys: readonly string[], sealed: Sealed[], latencies: number[], failures: Record<string, number>): Promise<void> {
  const pick = Math.random();
  const keyId = keys[Math.floor(Math.random() * Math.min(keys.length, 3))]!;
  const t0 = performance.now();
  let op = 'Encrypt';
  try {
    if (pick < 0.4) {
      const plaintext = Buffer.from(`chaos ${t0}`);
      const out = await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: plaintext }));
      sealed.push({ blob: out.CiphertextBlob!, plaintext });
    } else if (pick < 0.7 && sealed.length > 0) {
      op = 'Decrypt';
      const item = sealed[Math.floor(Math.random() * sealed.length)]!;
      const out = await kms.send(new DecryptCommand({ CiphertextBlob: item.blob }));
      if (!Buffer.from(out.Plaintext!).equals(item.plaintext)) throw Object.assign(new Error('wrong plaintext'), { name: 'WrongPlaintext' });
    } else {
      op = 'GenerateDataKey';
      const out = await kms.send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256' }));
      sealed.push({ blob: out.CiphertextBlob!, plaintext: Buffer.from(out.Plaintext!) });
    }
  } catch (err) {
    const name = `${op}: ${(err as Error).name}`;
    failures[name] = (failures[name] ?? 0) + 1;
  }
  latencies.push(performance.now() - t0);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}


function arg(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  const value = at >= 0 ? Number(process.argv[at + 1]) : fallback;
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number`);
  return value;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const report = await runChaos({ durationMs: arg('duration-ms', 30_000), rate: arg('rate', 200) });
  console.log(JSON.stringify(report, null, 2));
  const failed = Object.values(report.failures).reduce((a, b) => a + b, 0);
  console.log(
    `\n${report.requests} requests, ${failed} client-visible failures, p50 ${report.latencyMs.p50} ms, p99 ${report.latencyMs.p99} ms; ` +
      `member A UNAVAILABLE after ${report.msToUnavailable} ms, ACTIVE again ${report.msToActive} ms after it came back; ` +
      `member B's token gone: UNAVAILABLE after ${report.tokenLoss.msToUnavailable} ms, ACTIVE again ${report.tokenLoss.msToActive} ms after it returned; ` +
      `${report.ciphertexts - report.undecryptable}/${report.ciphertexts} ciphertexts decrypt; outage key on A: ${report.outageKeyWorksOnReturnedMember}; ` +
      `all members down: ${report.allDown.error} in ${report.allDown.ms} ms`,
  );
  process.exitCode = failed === 0 && report.undecryptable === 0 && report.outageKeyWorksOnReturnedMember && report.allDown.error === 'KMSInvalidStateException' ? 0 : 1;
}
