import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { after, before, test } from 'node:test';
import { setImmediate as tick, setTimeout as sleep } from 'node:timers/promises';

import pino from 'pino';
import pkcs11js from 'pkcs11js';

import { Pkcs11Token, type Pkcs11TokenOptions } from '../../src/hsm/pkcs11/token.js';
import { acquireModule, describeModule } from '../../src/hsm/pkcs11/module.js';
import { kmsErrorNameOf } from '../../src/operations/hsm-errors.js';
import { HsmError, type BackingKeyRef, type HsmErrorCode } from '../../src/ports/hsm.js';
import { createSoftHsm, loadVendorProfile, newBackingKeyRef, type SoftHsmFixture } from '../support/softhsm.js';

let fx: SoftHsmFixture;
let key: BackingKeyRef;

before(async () => {
  fx = await createSoftHsm();
  const setup = await open();
  key = newBackingKeyRef();
  await setup.generateSymmetricKey(key);
  await setup.close();
});

after(async () => {
  try {
    assert.equal(describeModule(fx.modulePath)?.refs ?? 0, 0, 'every lease must be released');
  } finally {
    await fx.cleanup();
  }
});

interface LogLine {
  msg: string;
  ckr?: string;
}

function capture(): { lines: LogLine[]; raw: string[]; logger: pino.Logger } {
  const lines: LogLine[] = [];
  const raw: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => (raw.push(line), lines.push(JSON.parse(line) as LogLine)) });
  return { lines, raw, logger };
}

function open(overrides: Partial<Pkcs11TokenOptions> = {}): Promise<Pkcs11Token> {
  return Pkcs11Token.open({
    modulePath: fx.modulePath,
    tokenLabel: fx.tokenLabel,
    pin: fx.userPin,
    profile: loadVendorProfile('softhsm2'),
    ...overrides,
  });
}

function isHsmError(code: HsmErrorCode, kms?: string) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof HsmError, `expected HsmError, got ${String(err)}`);
    assert.equal(err.code, code);
    if (kms !== undefined) assert.equal(kmsErrorNameOf(err), kms);
    return true;
  };
}

async function roundTrip(hsm: Pkcs11Token, text = 'payload'): Promise<void> {
  const sealed = await hsm.encrypt(key, Buffer.from(text), Buffer.from('aad'));
  assert.equal((await hsm.decrypt(key, sealed.iv, sealed.ciphertext, sealed.tag, Buffer.from('aad'))).toString(), text);
}

/** Holds `count` sessions of the pool until the returned function is called. */
async function holdSessions(hsm: Pkcs11Token, count: number): Promise<() => Promise<void>> {
  let unblock!: () => void;
  const gate = new Promise<void>((resolve) => (unblock = resolve));
  const holders = Array.from({ length: count }, () => hsm.sessionPool.withSession(() => gate));
  while (hsm.sessionPool.stats().leased < count) await tick();
  return async () => {
    unblock();
    await Promise.all(holders);
  };
}

test('an exhausted pool fails fast with HSM_BUSY, then recovers', async () => {
  const hsm = await open({ maxSessions: 2, acquireTimeoutMs: 50 });
  try {
    const release = await holdSessions(hsm, 2);
    const started = performance.now();
    await assert.rejects(hsm.encrypt(key, Buffer.from('x'), Buffer.alloc(0)), isHsmError('HSM_BUSY', 'DependencyTimeoutException'));
    const waited = performance.now() - started;
    assert.ok(waited >= 40 && waited < 1000, `waited ${waited} ms`);
    assert.equal(hsm.sessionPool.stats().waiting, 0, 'a timed-out waiter must leave the queue');
    await release();
    await roundTrip(hsm);
  } finally {
    await hsm.close();
  }
});

test('waiters are served in order as sessions come back', async () => {
  const hsm = await open({ maxSessions: 1, acquireTimeoutMs: 5_000 });
  try {
    const release = await holdSessions(hsm, 1);
    const order: number[] = [];
    const waiting = [0, 1, 2].map((i) => hsm.random(8).then(() => order.push(i)));
    await tick();
    assert.equal(hsm.sessionPool.stats().waiting, 3);
    await release();
    await Promise.all(waiting);
    assert.deepEqual(order, [0, 1, 2]);
    assert.equal(hsm.sessionPool.stats().open, 1);
  } finally {
    await hsm.close();
  }
});

test('C_Logout beneath us: the next encrypt logs in again and succeeds (lookup and stale-handle paths)', async () => {
  const { lines, raw, logger } = capture();
  const hsm = await open({ maxSessions: 2, logger });
  const lease = acquireModule(fx.modulePath);
  const logout = () => hsm.sessionPool.withSession(async (session) => lease.pkcs11.C_Logout(session));
  try {
    // Nothing cached yet: logged out, the private key is simply invisible to C_FindObjects.
    await logout();
    await roundTrip(hsm, 'first use after logout');
    assert.equal(hsm.sessionPool.stats().generation, 1);
    // Now the handle is cached: SoftHSM2 answers it with CKR_OBJECT_HANDLE_INVALID.
    await logout();
    await roundTrip(hsm, 'cached handle after logout');
    assert.equal(hsm.sessionPool.stats().generation, 2);
    assert.ok(lines.some((line) => line.msg.includes('logged in again')));
    assert.ok(raw.every((line) => !line.includes(fx.userPin)), 'the PIN must never be logged');
  } finally {
    await hsm.close();
    lease.release();
  }
});

test('C_Logout beneath us: key generation gets CKR_USER_NOT_LOGGED_IN, logs in again and succeeds', async () => {
  const hsm = await open({ maxSessions: 1 });
  const lease = acquireModule(fx.modulePath);
  try {
    await hsm.sessionPool.withSession(async (session) => lease.pkcs11.C_Logout(session));
    const fresh = newBackingKeyRef();
    await hsm.generateSymmetricKey(fresh);
    assert.ok(hsm.sessionPool.stats().generation >= 1);
    assert.equal(await hsm.destroySymmetricKey(fresh), true);
  } finally {
    await hsm.close();
    lease.release();
  }
});

test('a work session closed beneath us is evicted and the operation retried on a new one', async () => {
  const { lines, logger } = capture();
  const hsm = await open({ maxSessions: 1, validateAfterIdleMs: 60_000, logger });
  const lease = acquireModule(fx.modulePath);
  try {
    const session = await hsm.sessionPool.withSession(async (s) => s);
    lease.pkcs11.C_CloseSession(session);
    await roundTrip(hsm);
    assert.ok(lines.some((line) => line.msg === 'pkcs11 session evicted' && line.ckr === 'CKR_SESSION_HANDLE_INVALID'));
    assert.equal(hsm.sessionPool.stats().open, 1);
  } finally {
    await hsm.close();
    lease.release();
  }
});

test('a session idle past validateAfterIdleMs is checked before reuse and replaced when dead', async () => {
  const { lines, logger } = capture();
  const hsm = await open({ maxSessions: 1, validateAfterIdleMs: 0, logger });
  const lease = acquireModule(fx.modulePath);
  try {
    const session = await hsm.sessionPool.withSession(async (s) => s);
    lease.pkcs11.C_CloseSession(session);
    await roundTrip(hsm);
    // Caught by C_GetSessionInfo, so no operation failed and nothing was evicted mid-call.
    assert.ok(!lines.some((line) => line.msg === 'pkcs11 session evicted'));
    assert.equal(hsm.sessionPool.stats().open, 1);
  } finally {
    await hsm.close();
    lease.release();
  }
});

test('C_CloseAllSessions beneath us (anchor included): the pool reopens, logs in and carries on', async () => {
  const hsm = await open({ maxSessions: 3 });
  const lease = acquireModule(fx.modulePath);
  try {
    await Promise.all(Array.from({ length: 6 }, (_, i) => roundTrip(hsm, `warm-up ${i}`)));
    assert.equal(hsm.sessionPool.stats().idle, 3, 'every pooled session must be dead after close-all');
    lease.pkcs11.C_CloseAllSessions(lease.findSlot({ label: fx.tokenLabel }));
    // One call, one retry: the dead siblings must not eat the retry.
    await hsm.random(16);
    await roundTrip(hsm, 'after close-all');
    await roundTrip(hsm, 'and again');
  } finally {
    await hsm.close();
    lease.release();
  }
});

test('a session left with an active operation is evicted and the call retried', async () => {
  const { lines, logger } = capture();
  const hsm = await open({ maxSessions: 1, logger });
  const lease = acquireModule(fx.modulePath);
  try {
    await hsm.sessionPool.withSession(async (session) => {
      lease.pkcs11.C_FindObjectsInit(session, [{ type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY }]);
    });
    await roundTrip(hsm);
    assert.ok(lines.some((line) => line.msg === 'pkcs11 session evicted' && line.ckr === 'CKR_OPERATION_ACTIVE'));
  } finally {
    await hsm.close();
    lease.release();
  }
});

test('close() waits for leased sessions, rejects waiters, and refuses new work', async () => {
  const hsm = await open({ maxSessions: 1, acquireTimeoutMs: 5_000 });
  let finished = false;
  const leased = hsm.sessionPool.withSession(async () => {
    await sleep(100);
    finished = true;
  });
  await tick();
  const waiter = hsm.random(8);
  const closed = hsm.close();
  await assert.rejects(waiter, isHsmError('HSM_UNAVAILABLE'));
  await closed;
  assert.equal(finished, true, 'close() must wait for the leased session');
  await leased;
  await assert.rejects(hsm.random(8), isHsmError('HSM_UNAVAILABLE'));
  assert.equal(describeModule(fx.modulePath)?.refs, 0);
});

test('close() is bounded: a stuck lease delays only the teardown, which its return completes', async () => {
  const hsm = await open({ maxSessions: 1, closeTimeoutMs: 50 });
  let unblock!: () => void;
  const gate = new Promise<void>((resolve) => (unblock = resolve));
  const stuck = hsm.sessionPool.withSession(() => gate);
  await tick();
  const started = performance.now();
  await hsm.close();
  assert.ok(performance.now() - started < 1_000);
  assert.equal(describeModule(fx.modulePath)?.refs, 1, 'the library must stay initialised under a running lease');
  unblock();
  await stuck;
  assert.equal(describeModule(fx.modulePath)?.refs, 0);
});
