// The HSM executor (src/hsm/pkcs11/executor.ts) through Pkcs11Hsm, on real SoftHSM2 tokens behind
// the fault-injecting module: workers start on demand, a call past its deadline fails and its
// worker is written off and replaced, a device that hangs every call takes only its own capacity
// (never the event loop), and everything recovers when the device answers again.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { after, before, test } from 'node:test';

import { Pkcs11Hsm, type Pkcs11HsmOptions } from '../../src/hsm/pkcs11/pkcs11-hsm.js';
import { kmsErrorNameOf } from '../../src/operations/hsm-errors.js';
import { HsmError } from '../../src/ports/hsm.js';
import { postThenStall } from '../support/event-loop-stall.js';
import { buildFaultyPkcs11, FaultController, faultyEnv } from '../support/faulty-pkcs11.js';
import { createSoftHsm, loadVendorProfile, newBackingKeyRef, type SoftHsmFixture } from '../support/softhsm.js';
import { until } from '../support/until.js';

const LIMIT = { timeout: 30_000 };
const CALL_TIMEOUT_MS = 300;

let fx: SoftHsmFixture;
let dir: string;
let faults: FaultController;
let modulePath: string;
let labelA: string;
let labelB: string;
const key = newBackingKeyRef();

before(async () => {
  fx = await createSoftHsm({ extraTokens: 1 });
  [labelA, labelB] = fx.tokenLabels as [string, string];
  dir = mkdtempSync(join(tmpdir(), 'keybridge-executor-'));
  faults = new FaultController(join(dir, 'faults'));
  faults.clear();
  Object.assign(process.env, faultyEnv(faults.controlFile, fx.modulePath));
  modulePath = await buildFaultyPkcs11();
});

after(async () => {
  faults?.clear();
  await fx?.cleanup();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

function open(tokenLabel: string, overrides: Partial<Pkcs11HsmOptions> = {}): Promise<Pkcs11Hsm> {
  return Pkcs11Hsm.open({
    modulePath,
    tokenLabel,
    pin: fx.userPin,
    profile: loadVendorProfile('softhsm2'),
    maxSessions: 2,
    acquireTimeoutMs: 200,
    callTimeoutMs: CALL_TIMEOUT_MS,
    ...overrides,
  });
}

async function roundTrip(hsm: Pkcs11Hsm): Promise<void> {
  const sealed = await hsm.encrypt(key, Buffer.from('executor'), Buffer.alloc(0));
  assert.equal((await hsm.decrypt(key, sealed.iv, sealed.ciphertext, sealed.tag, Buffer.alloc(0))).toString(), 'executor');
}


test('workers start on demand: one at open, at most maxSessions under load, all idle after', LIMIT, async () => {
  const hsm = await open(labelA, { maxSessions: 3 });
  try {
    assert.equal(hsm.stats().open, 1, 'one worker after open');
    await hsm.generateSymmetricKey(key);
    await Promise.all(Array.from({ length: 40 }, () => roundTrip(hsm)));
    // Calls queued behind the first worker started the others, up to maxSessions and no more.
    await until(() => hsm.stats().starting === 0, 10_000, 'the workers started under load to open');
    const stats = hsm.stats();
    assert.equal(stats.open, 3, 'maxSessions workers after a burst of 40 concurrent calls');
    assert.equal(stats.leased, 0);
    assert.equal(stats.waiting, 0);
    assert.equal(stats.lost, 0);
  } finally {
    await hsm.close();
  }
});

test('a call past its deadline fails (HSM_TIMEOUT: DependencyTimeoutException); its worker is written off and replaced; the loop never waits', LIMIT, async () => {
  // The call after the hang waits for the replacement worker to start (a thread, C_Initialize, a
  // session and a login): on a loaded machine that can take longer than the suite's usual 200 ms.
  const hsm = await open(labelA, { acquireTimeoutMs: 5_000 });
  const loop = monitorEventLoopDelay({ resolution: 5 });
  try {
    await roundTrip(hsm);
    await faults.apply([{ label: labelA, scope: ['C_EncryptInit'], hang: true, count: 1 }]);
    loop.enable();
    const started = performance.now();
    await assert.rejects(hsm.encrypt(key, Buffer.from('x'), Buffer.alloc(0)), (err: unknown) => {
      assert.ok(err instanceof HsmError);
      assert.equal(err.code, 'HSM_TIMEOUT');
      assert.equal(kmsErrorNameOf(err), 'DependencyTimeoutException');
      return true;
    });
    const waited = performance.now() - started;
    assert.ok(waited >= CALL_TIMEOUT_MS - 5 && waited < CALL_TIMEOUT_MS + 300, `failed after ${waited.toFixed(0)} ms`);
    assert.equal(hsm.stats().lost, 1, 'the hung worker is written off');
    // The next call runs on another worker while the first is still hung in the device.
    await roundTrip(hsm);
    loop.disable();
    assert.ok(loop.max / 1e6 < 100, `the event loop stalled ${(loop.max / 1e6).toFixed(0)} ms`);
    faults.clear();
    await until(() => hsm.stats().lost === 0, 5_000, 'the written-off thread to end after the hang');
    await roundTrip(hsm);
  } finally {
    faults.clear();
    await hsm.close();
  }
});

test('an answer that came while our own event loop was stalled past the deadline is taken: no HSM_TIMEOUT, no worker written off', LIMIT, async () => {
  const hsm = await open(labelA);
  const own = newBackingKeyRef();
  try {
    await hsm.generateSymmetricKey(own);
    // The call is posted, then the loop is blocked for twice the call deadline. The device answers
    // at once; the loop's next turn starts with its expired timers, before it reads the answer.
    const { posted: call } = await postThenStall(CALL_TIMEOUT_MS * 2, () => hsm.encrypt(own, Buffer.from('stalled'), Buffer.alloc(0)));
    const sealed = await call;
    assert.equal((await hsm.decrypt(own, sealed.iv, sealed.ciphertext, sealed.tag, Buffer.alloc(0))).toString(), 'stalled');
    assert.equal(hsm.stats().lost, 0, 'no worker was written off');
  } finally {
    await hsm.close();
  }
});

test('a device that hangs every call takes only its own capacity: HSM_BUSY there, the other token unaffected, both fine after', LIMIT, async () => {
  const hung = await open(labelA);
  const healthy = await open(labelB);
  try {
    await healthy.generateSymmetricKey(key);
    await roundTrip(hung);
    await roundTrip(healthy);
    await faults.apply([{ label: labelA, scope: 'all', hang: true }]);
    // Two calls: the running worker is written off at its deadline; the second worker cannot even
    // open (C_GetTokenInfo hangs), so the call waiting for it fails as busy.
    const first = await Promise.allSettled([hung.random(16), hung.random(16)]);
    assert.deepEqual(first.map((r) => r.status), ['rejected', 'rejected']);
    assert.equal(hung.stats().lost, 1);
    // No thread is started beyond the session budget while they hang: the next call waits for a
    // worker, then fails as busy, fast.
    const busyStarted = performance.now();
    await assert.rejects(hung.random(16), (err: unknown) => err instanceof HsmError && err.code === 'HSM_BUSY');
    assert.ok(performance.now() - busyStarted < 1_000);
    const { open: opened, starting, lost } = hung.stats();
    assert.equal(opened + starting + lost, 2, 'no more threads than sessions allowed');
    // The other token, same library, same process: served at its usual pace meanwhile.
    const healthyStarted = performance.now();
    for (let i = 0; i < 20; i++) await roundTrip(healthy);
    assert.ok(performance.now() - healthyStarted < 2_000, 'the healthy token slowed down');
    faults.clear();
    await until(() => hung.stats().lost === 0, 5_000, 'the hung threads to end');
    await roundTrip(hung);
  } finally {
    faults.clear();
    await hung.close();
    await healthy.close();
  }
});

test('opening a token whose library hangs fails after openTimeoutMs instead of freezing the process', LIMIT, async () => {
  await faults.apply([{ label: labelB, scope: 'all', hang: true }]);
  const ticks: number[] = [];
  const ticker = setInterval(() => ticks.push(performance.now()), 10);
  try {
    const started = performance.now();
    await assert.rejects(open(labelB, { openTimeoutMs: 300 }), (err: unknown) => err instanceof HsmError && err.code === 'HSM_UNAVAILABLE');
    assert.ok(performance.now() - started < 2_000);
    assert.ok(ticks.length >= 15, `the event loop ticked only ${ticks.length} times while the open hung`);
  } finally {
    clearInterval(ticker);
    faults.clear();
  }
  const reopened = await open(labelB);
  await reopened.close();
});
