// Isolation (issue #13): one member of a custom key store hangs inside C_EncryptInit (the
// fault-injecting module holds the call until told), under load. The event loop must not notice:
// /livez answers at once, the default key store keeps serving, the hung requests move to the other
// member or fail with an AWS error within their deadline, and the member comes back by itself once
// the device answers again. Real SoftHSM2 beneath, the AWS SDK in front; nothing of ours mocked.

import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { CreateKeyCommand, EncryptCommand, type KMSClient } from '@aws-sdk/client-kms';

import { startFaultyClusterServer, type FaultyCluster } from '../support/faulty-cluster.js';
import type { FaultController } from '../support/faulty-pkcs11.js';
import type { TestServer } from '../support/server.js';
import { until } from '../support/until.js';

const CLUSTER: FaultyCluster = { clusterId: 'cluster-kbHungMember', memberA: 'kb-hung-a', memberB: 'kb-hung-b', callTimeoutMs: 1_000 };
const HANG_MS = 3_000;
const BASELINE_MS = 1_500;

let server: TestServer;
let kms: KMSClient;
let faults: FaultController;
let storeId: string;
let defaultKey: string;
let storeKey: string;

before(async () => {
  ({ server, kms, faults, storeId } = await startFaultyClusterServer(CLUSTER, { storeName: 'hung' }));
  storeKey = (await kms.send(new CreateKeyCommand({ CustomKeyStoreId: storeId, Origin: 'AWS_CLOUDHSM' }))).KeyMetadata!.KeyId!;
  defaultKey = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
});

after(async () => {
  faults?.clear();
  await server?.stop();
});

function memberState(name: string): string | undefined {
  return server.keybridge.keyStores.health(storeId)?.members.find((m) => m.tokenLabel === name)?.state;
}

async function encrypt(keyId: string): Promise<{ ok: boolean; error?: string; status?: number; ms: number }> {
  const started = performance.now();
  try {
    await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('isolation') }));
    return { ok: true, ms: performance.now() - started };
  } catch (err) {
    const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
    return { ok: false, ms: performance.now() - started, ...(e.name === undefined ? {} : { error: e.name }), ...(e.$metadata?.httpStatusCode === undefined ? {} : { status: e.$metadata.httpStatusCode }) };
  }
}

test('a member hung inside C_EncryptInit holds neither the event loop nor the other store, and comes back after the hang', { timeout: 60_000 }, async () => {
  // Warm both members (workers started, handles cached) so the hang meets a running store, and
  // this process's fetch (Node loads it on first use, tens of ms on the loop the server shares).
  for (let i = 0; i < 8; i++) assert.ok((await encrypt(storeKey)).ok);
  for (let i = 0; i < 5; i++) assert.equal((await fetch(`${server.url}/livez`)).status, 200);
  assert.equal(memberState(CLUSTER.memberA), 'ACTIVE');

  // The same load and probes twice: without a fault (the baseline of this machine, now), then with
  // member a hung.
  const baseline = await underLoad(BASELINE_MS);
  faults.set([{ label: CLUSTER.memberA, scope: ['C_EncryptInit'], hang: true }]);
  await sleep(25);
  const { livez, defaultStore, hungStore } = await underLoad(HANG_MS);
  const stateDuringHang = memberState(CLUSTER.memberA);
  faults.clear();

  // WARNING: this process is the server AND its load generator (SDK signing, audit commits on the
  // same loop), on a 2-core machine that npm test shares with another test file, so a probe's
  // absolute latency says as much about the neighbours as about us (the absolute "< 50 ms
  // throughout" is the benchmark's hung-member row, whose load comes from another process). What
  // the hang must not do is hold the loop: before the executor, one hung C_EncryptInit froze it for
  // the whole HANG_MS. So: /livez during the hang answers as fast as without it (95th percentile
  // under 50 ms, or under 1.5 × the baseline's when the machine is busier than that), and no probe
  // comes near the call deadline.
  const p95 = percentile(livez, 0.95);
  const baselineP95 = percentile(baseline.livez, 0.95);
  assert.ok(livez.length > 20, `only ${livez.length} /livez probes`);
  assert.ok(p95 < Math.max(50, baselineP95 * 1.5 + 10), `/livez p95 ${p95.toFixed(1)} ms during the hang, ${baselineP95.toFixed(1)} ms without it`);
  assert.ok(Math.max(...livez) < CLUSTER.callTimeoutMs / 2, `/livez took up to ${Math.max(...livez).toFixed(1)} ms during the hang`);

  assert.ok(defaultStore.length > 50, `the default store served only ${defaultStore.length} requests in ${HANG_MS} ms`);
  assert.deepEqual(defaultStore.filter((r) => !r.ok), [], 'the default store failed requests during the hang');

  // The affected store: each request either moved to member b or failed with an AWS error, and
  // none waited much past the call deadline.
  assert.ok(hungStore.filter((r) => r.ok).length > 10, 'member b served the affected store');
  for (const r of hungStore.filter((x) => !x.ok)) {
    assert.ok(r.status !== undefined && r.status !== 500 && r.error !== undefined && /Exception$/.test(r.error), `not an AWS error: ${JSON.stringify(r)}`);
  }
  const slowest = Math.max(...hungStore.map((r) => r.ms));
  assert.ok(slowest < CLUSTER.callTimeoutMs * 2 + 500, `a request of the affected store took ${slowest.toFixed(0)} ms`);
  assert.notEqual(stateDuringHang, 'ACTIVE', 'the hung member was taken out of service');

  // The device answers again: the member returns without anybody's help.
  await until(() => memberState(CLUSTER.memberA) === 'ACTIVE', 20_000, 'member a to be ACTIVE again');
  for (let i = 0; i < 8; i++) assert.ok((await encrypt(storeKey)).ok);
});

interface LoadRun {
  readonly livez: number[];
  readonly defaultStore: Array<Awaited<ReturnType<typeof encrypt>>>;
  readonly hungStore: Array<Awaited<ReturnType<typeof encrypt>>>;
}

/** For `ms`: /livez every 20 ms, and two Encrypt loops on each store. */
async function underLoad(ms: number): Promise<LoadRun> {
  const run: LoadRun = { livez: [], defaultStore: [], hungStore: [] };
  const ends = performance.now() + ms;
  const probes = (async () => {
    while (performance.now() < ends) {
      const started = performance.now();
      const res = await fetch(`${server.url}/livez`);
      run.livez.push(performance.now() - started);
      assert.equal(res.status, 200);
      await sleep(20);
    }
  })();
  const loops = (keyId: string, into: LoadRun['defaultStore']) =>
    Array.from({ length: 2 }, async () => {
      while (performance.now() < ends) into.push(await encrypt(keyId));
    });
  await Promise.all([probes, ...loops(defaultKey, run.defaultStore), ...loops(storeKey, run.hungStore)]);
  return run;
}

function percentile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))] ?? 0;
}

