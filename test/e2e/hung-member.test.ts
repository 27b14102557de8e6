// Isolation (issue #13): one member of a custom key store hangs inside C_EncryptInit (the
// fault-injecting module holds the call until told), under load. The event loop must not notice:
// /livez answers at once, the default key store keeps serving, the hung requests move to the other
// member or fail with an AWS error within their deadline, and the member comes back by itself once
// the device answers again. Real SoftHSM2 beneath, the AWS SDK in front; nothing of ours mocked.

import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import {
  ConnectCustomKeyStoreCommand,
  CreateCustomKeyStoreCommand,
  CreateKeyCommand,
  DescribeCustomKeyStoresCommand,
  EncryptCommand,
  type KMSClient,
} from '@aws-sdk/client-kms';

import { buildFaultyPkcs11, FaultController, faultyEnv } from '../support/faulty-pkcs11.js';
import { sdkClient } from '../support/kms-client.js';
import { REPO_ROOT } from '../support/repo-root.js';
import { makeDataDir, startServer, type TestServer } from '../support/server.js';

const CLUSTER = 'cluster-kbHungMember';
const MEMBER_A = 'kb-hung-a';
const MEMBER_B = 'kb-hung-b';
const CALL_TIMEOUT_MS = 1_000;
const HANG_MS = 3_000;

let server: TestServer;
let kms: KMSClient;
let faults: FaultController;
let storeId: string;
let defaultKey: string;
let storeKey: string;

before(async () => {
  const dataDir = makeDataDir();
  const controlFile = join(dataDir, 'faults.conf');
  writeFileSync(controlFile, '');
  const faulty = await buildFaultyPkcs11();
  // WARNING: before anything in this process loads the faulty module.
  Object.assign(process.env, faultyEnv(controlFile));
  faults = new FaultController(controlFile);
  const clustersDir = join(dataDir, 'clusters');
  mkdirSync(clustersDir, { recursive: true });
  writeFileSync(
    join(clustersDir, 'hung.json'),
    JSON.stringify({
      clusterId: CLUSTER,
      members: [
        { name: 'a', module: faulty, tokenLabel: MEMBER_A, profile: 'softhsm2' },
        { name: 'b', module: faulty, tokenLabel: MEMBER_B, profile: 'softhsm2' },
      ],
      minActiveMembersToConnect: 1,
      minActiveMembersForCreateKey: 1,
      embeddedSoftHsm: true,
      replication: 'keybridge',
      health: { intervalMs: 200, callTimeoutMs: CALL_TIMEOUT_MS },
    }),
  );
  server = await startServer({ dataDir, settings: { clustersDir, deletionSweepIntervalMs: 3_600_000 } });
  kms = sdkClient(server);
  const password = readFileSync(join(dataDir, 'pins', `${CLUSTER}.pin`), 'utf8').trim();
  const ca = readFileSync(join(REPO_ROOT, 'hsm-config', 'clusters', 'example-softhsm-ca.pem'), 'utf8');
  const created = await kms.send(
    new CreateCustomKeyStoreCommand({ CustomKeyStoreName: 'hung', CloudHsmClusterId: CLUSTER, TrustAnchorCertificate: ca, KeyStorePassword: password }),
  );
  storeId = created.CustomKeyStoreId!;
  await kms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId }));
  await until(async () => (await kms.send(new DescribeCustomKeyStoresCommand({ CustomKeyStoreId: storeId }))).CustomKeyStores?.[0]?.ConnectionState === 'CONNECTED', 20_000);
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
  assert.equal(memberState(MEMBER_A), 'ACTIVE');

  faults.set([{ label: MEMBER_A, scope: ['C_EncryptInit'], hang: true }]);
  await sleep(25);

  const livez: number[] = [];
  const defaultStore: Array<Awaited<ReturnType<typeof encrypt>>> = [];
  const hungStore: Array<Awaited<ReturnType<typeof encrypt>>> = [];
  const hangEnds = performance.now() + HANG_MS;
  const probes = (async () => {
    while (performance.now() < hangEnds) {
      const started = performance.now();
      const res = await fetch(`${server.url}/livez`);
      livez.push(performance.now() - started);
      assert.equal(res.status, 200);
      await sleep(20);
    }
  })();
  const healthy = Promise.all(
    Array.from({ length: 2 }, async () => {
      while (performance.now() < hangEnds) defaultStore.push(await encrypt(defaultKey));
    }),
  );
  const affected = Promise.all(
    Array.from({ length: 2 }, async () => {
      while (performance.now() < hangEnds) hungStore.push(await encrypt(storeKey));
    }),
  );
  await Promise.all([probes, healthy, affected]);
  const stateDuringHang = memberState(MEMBER_A);
  faults.clear();

  // WARNING: this process is the server AND its load generator (SDK signing, audit commits on the
  // same loop), on a 2-core machine that npm test shares with another test file: a probe now and
  // then waits behind that work. The hang itself would hold the loop for HANG_MS (it did before
  // the executor). So: 95 % of probes under 50 ms, none near the call deadline. The strict
  // "< 50 ms throughout" is the benchmark's hung-member row, whose load comes from another process.
  livez.sort((x, y) => x - y);
  assert.ok(livez.length > 20, `only ${livez.length} /livez probes`);
  const p95 = livez[Math.floor(livez.length * 0.95)]!;
  assert.ok(p95 < 50, `/livez p95 ${p95.toFixed(1)} ms during the hang`);
  assert.ok(livez.at(-1)! < 250, `/livez took up to ${livez.at(-1)!.toFixed(1)} ms during the hang`);

  assert.ok(defaultStore.length > 50, `the default store served only ${defaultStore.length} requests in ${HANG_MS} ms`);
  assert.deepEqual(defaultStore.filter((r) => !r.ok), [], 'the default store failed requests during the hang');

  // The affected store: each request either moved to member b or failed with an AWS error, and
  // none waited much past the call deadline.
  assert.ok(hungStore.filter((r) => r.ok).length > 10, 'member b served the affected store');
  for (const r of hungStore.filter((x) => !x.ok)) {
    assert.ok(r.status !== undefined && r.status !== 500 && r.error !== undefined && /Exception$/.test(r.error), `not an AWS error: ${JSON.stringify(r)}`);
  }
  const slowest = Math.max(...hungStore.map((r) => r.ms));
  assert.ok(slowest < CALL_TIMEOUT_MS * 2 + 500, `a request of the affected store took ${slowest.toFixed(0)} ms`);
  assert.notEqual(stateDuringHang, 'ACTIVE', 'the hung member was taken out of service');

  // The device answers again: the member returns without anybody's help.
  await until(async () => memberState(MEMBER_A) === 'ACTIVE', 20_000);
  for (let i = 0; i < 8; i++) assert.ok((await encrypt(storeKey)).ok);
});

async function until(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(20);
  }
}
