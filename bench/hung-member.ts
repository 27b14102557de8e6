// The hung-member rows (issue #13): one keybridge with its default key store (HSM-local SoftHSM2)
// and a custom key store whose two-member cluster sits behind the fault-injecting module, as in
// bench/chaos.ts. The default store's Encrypt 32 B at c=64 is measured twice: with nothing wrong
// (the baseline), then with every call of member a of the custom store hung in the device. A
// device that never answers holds an executor worker each; the claim under test is that nothing
// else waits for those threads — not the other store, not the event loop (/livez).
//
// Both runs have the same company — a /livez probe every LIVEZ_INTERVAL_MS and a light paced
// Encrypt load on the custom store — so the baseline differs from the hung run by the hang only.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';

import { connectFaultyStore, writeFaultyCluster, type FaultyCluster } from '../test/support/faulty-cluster.js';
import { buildFaultyPkcs11, FaultController, faultyEnv } from '../test/support/faulty-pkcs11.js';
import { startCompanion, type CompanionInit, type CompanionReport, type SideLoadReport } from './companion.js';
import { load, sleep, warmUp, type Row, type SignedRequest } from './measure.js';
import { startKeybridge } from './processes.js';
import { REGION, signedRequest } from './requests.js';

/** callTimeoutMs: the per-call deadline; a hung call fails (and its worker is written off) after it. */
const CLUSTER: FaultyCluster = { clusterId: 'cluster-kbBenchHungMbr', memberA: 'kb-bench-hung-a', memberB: 'kb-bench-hung-b', callTimeoutMs: 1000 };
const LIVEZ_INTERVAL_MS = 20;
/** The custom store's company load: 4 connections, each pausing after every answer (≤ ~200 req/s). */
const SIDE_CONNECTIONS = 4;
const SIDE_PAUSE_MS = 20;
/** The module re-reads its control file at most every 5 ms. */
const FAULT_PICKUP_MS = 50;

export const HUNG_SCENARIOS = {
  baseline: 'Encrypt 32 B, default store, custom store healthy',
  hung: 'Encrypt 32 B, default store, custom store member hung',
  side: 'Encrypt 32 B, custom store, member hung (paced side load)',
} as const;

export interface HungMemberResult {
  readonly baseline: Row;
  readonly hung: Row;
  /** The custom store's side load during the hang, as a row (errors expected: failing is allowed). */
  readonly side: Row;
  readonly companion: { readonly baseline: CompanionReport; readonly hung: CompanionReport };
  /** Member a's health state at the end of the hung run, from /metrics. */
  readonly memberAStateAfterHang: string | undefined;
}

/** Undefined when the fault-injecting module cannot be built (no C compiler). */
export async function hungMember(dist: string, repoRoot: string): Promise<HungMemberResult | undefined> {
  let modulePath: string;
  try {
    modulePath = await buildFaultyPkcs11();
  } catch (err) {
    process.stderr.write(`hung-member rows skipped: ${(err as Error).message}\n`);
    return undefined;
  }
  const dir = mkdtempSync(join(tmpdir(), 'keybridge-bench-hung-'));
  const faults = new FaultController(join(dir, 'control'));
  faults.clear();
  const clustersDir = writeFaultyCluster(dir, modulePath, CLUSTER);
  const kb = await startKeybridge(dist, {
    env: faultyEnv(faults.controlFile),
    config: { clustersDir, deletionSweepIntervalMs: 3_600_000 },
  });
  try {
    const { defaultEncrypt, storeEncrypt, storeId } = await prepare(kb.url, kb.credentials, kb.dataDir, repoRoot);
    // The company runs during the warm-up too, so the custom store's path is as warm as the default's.
    const company = await startCompanion(companyOf(kb.url, storeEncrypt));
    await warmUp(kb.url, defaultEncrypt, { fresh: true });
    await company.stop();
    const run = (scenario: string) => measured(scenario, kb.url, defaultEncrypt, storeEncrypt, kb.child.pid);
    const baseline = await run(HUNG_SCENARIOS.baseline);
    faults.set([{ label: CLUSTER.memberA, scope: 'all', hang: true }]);
    await sleep(FAULT_PICKUP_MS);
    const hung = await run(HUNG_SCENARIOS.hung);
    const memberAStateAfterHang = await memberState(kb.url, storeId, 'a');
    return {
      baseline: baseline.row,
      hung: hung.row,
      side: sideRow(hung.row, hung.companion.side!),
      companion: { baseline: baseline.companion, hung: hung.companion },
      memberAStateAfterHang,
    };
  } finally {
    // Before the stop: a hung call holds its thread until its rule is gone, and the server's
    // shutdown would wait for it.
    faults.clear();
    await sleep(FAULT_PICKUP_MS);
    await kb.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Creates and connects the custom store, a key in each store, and the two signed Encrypts. */
async function prepare(
  url: string,
  credentials: { accessKeyId: string; secretAccessKey: string },
  dataDir: string,
  repoRoot: string,
): Promise<{ defaultEncrypt: SignedRequest; storeEncrypt: SignedRequest; storeId: string }> {
  const kms = new KMSClient({ region: REGION, endpoint: url, credentials, maxAttempts: 1 });
  try {
    const storeId = await connectFaultyStore(kms, dataDir, repoRoot, CLUSTER.clusterId, 'bench-hung');
    const storeKey = (await kms.send(new CreateKeyCommand({ CustomKeyStoreId: storeId, Origin: 'AWS_CLOUDHSM' }))).KeyMetadata!.KeyId!;
    const defaultKey = (await kms.send(new CreateKeyCommand({ Description: 'bench' }))).KeyMetadata!.KeyId!;
    const plaintext = Buffer.alloc(32, 1).toString('base64');
    return {
      defaultEncrypt: await signedRequest(url, credentials, 'Encrypt', { KeyId: defaultKey, Plaintext: plaintext }),
      storeEncrypt: await signedRequest(url, credentials, 'Encrypt', { KeyId: storeKey, Plaintext: plaintext }),
      storeId,
    };
  } finally {
    kms.destroy();
  }
}

/** One c=64 run on the default store with the probe and the side load beside it. */
async function measured(scenario: string, url: string, defaultEncrypt: SignedRequest, storeEncrypt: SignedRequest, pid: number | undefined): Promise<{ row: Row; companion: CompanionReport }> {
  const companion = await startCompanion(companyOf(url, storeEncrypt));
  let row: Row;
  try {
    row = await load(scenario, 'keybridge', url, defaultEncrypt, 64, pid);
  } catch (err) {
    await companion.stop();
    throw err;
  }
  const report = await companion.stop();
  const side = report.side!;
  process.stderr.write(
    `  /livez max ${report.livez.maxMs} ms over ${report.livez.probes} probes; custom store: ${side.ok}/${side.answered} ok, errors ${JSON.stringify(side.errors)}, p99 ${side.p99Ms} ms\n`,
  );
  return { row, companion: report };
}

/** The /livez probe and the paced custom-store load. */
function companyOf(url: string, storeEncrypt: SignedRequest): CompanionInit {
  return { url, livezIntervalMs: LIVEZ_INTERVAL_MS, side: { request: storeEncrypt, connections: SIDE_CONNECTIONS, pauseMs: SIDE_PAUSE_MS } };
}

/**
 * The side load as a table row. It ran in the same window as the hung row, so it shares that
 * row's server figures (event loop, RSS); CPU per request is the whole process's, so not its own.
 */
function sideRow(hung: Row, side: SideLoadReport): Row {
  const failed = Object.values(side.errors).reduce((a, b) => a + b, 0);
  return {
    scenario: HUNG_SCENARIOS.side,
    target: 'keybridge',
    concurrency: SIDE_CONNECTIONS,
    requestsPerSecond: side.seconds > 0 ? Math.round(side.answered / side.seconds) : 0,
    p50Ms: side.p50Ms,
    p99Ms: side.p99Ms,
    maxMs: side.maxMs,
    errors: failed,
    eventLoopP99Ms: hung.eventLoopP99Ms,
    rssMiB: hung.rssMiB,
    cpuUsPerRequest: null,
  };
}

/** A custom store member's health state, from the Prometheus text of /metrics. */
async function memberState(url: string, storeId: string, member: string): Promise<string | undefined> {
  try {
    const text = await (await fetch(`${url}/metrics`)).text();
    const line = new RegExp(`^keybridge_cluster_member_state\\{custom_key_store="${storeId}",cluster="[^"]*",member="${member}",state="([A-Z]+)"\\} 1$`, 'mu');
    return line.exec(text)?.[1];
  } catch {
    return undefined;
  }
}
