// The fault-injecting PKCS#11 module (test/fixtures/faulty-pkcs11/) over SoftHSM2: it forwards
// untouched, and fails / hangs / slows exactly the calls its control file names, on the slot it
// names, changing while the library stays loaded; a `gone` token stays gone until the library is
// finalized and initialised again. Proved through raw pkcs11js calls and through keybridge's
// Pkcs11Hsm. Assertions are about what the module guarantees (the CKR that surfaces, the delay, the
// hang, the slot list), not about how keybridge reacts to a fault.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';

import pkcs11js from 'pkcs11js';

import { CKR } from '../../src/hsm/pkcs11/ckr.js';
import { Pkcs11Hsm } from '../../src/hsm/pkcs11/pkcs11-hsm.js';
import { acquireModule, describeModule, tokenText, type ModuleLease } from '../../src/hsm/pkcs11/module.js';
import { HsmError } from '../../src/ports/hsm.js';
import { buildFaultyPkcs11, FaultController, faultyEnv, slotIdOf, type CkrName, type FaultRule } from '../support/faulty-pkcs11.js';
import { createSoftHsm, loadVendorProfile, newBackingKeyRef, type SoftHsmFixture } from '../support/softhsm.js';
import { until } from '../support/until.js';

const LISTED: readonly CkrName[] = [
  'CKR_DEVICE_ERROR',
  'CKR_DEVICE_REMOVED',
  'CKR_SESSION_HANDLE_INVALID',
  'CKR_USER_NOT_LOGGED_IN',
  'CKR_FUNCTION_FAILED',
  'CKR_PIN_LOCKED',
];
// The module re-reads the control file at most every 5 ms; after this long every call sees it.
const SETTLE_MS = 20;
// A hang that is never released must fail the test, not stall the run.
const LIMIT = { timeout: 20_000 };

let fx: SoftHsmFixture;
let dir: string;
let faults: FaultController;
let modulePath: string;
let lease: ModuleLease;
let labelA: string;
let labelB: string;
let slotA: Buffer;
let slotB: Buffer;
let hsmA: Pkcs11Hsm;
let hsmB: Pkcs11Hsm;
const keyA = newBackingKeyRef();
const keyB = newBackingKeyRef();
// A test that may have latched a slot as gone: afterEach finalizes and initialises the library.
let latching = false;

before(async () => {
  fx = await createSoftHsm({ extraTokens: 1 });
  [labelA, labelB] = fx.tokenLabels as [string, string];
  dir = mkdtempSync(join(tmpdir(), 'keybridge-faulty-'));
  const controlFile = join(dir, 'faults');
  faults = new FaultController(controlFile);
  faults.clear();
  // Before the module's C_Initialize, which reads it.
  Object.assign(process.env, faultyEnv(controlFile, fx.modulePath));
  modulePath = await buildFaultyPkcs11();
  await openAll();
  await hsmA.generateSymmetricKey(keyA);
  await hsmB.generateSymmetricKey(keyB);
});

afterEach(async () => {
  faults.clear();
  await sleep(SETTLE_MS);
  if (latching) {
    latching = false;
    await reinitialise();
  }
});

after(async () => {
  try {
    lease.release();
    await hsmA.close();
    await hsmB.close();
    assert.equal(describeModule(modulePath)?.refs, 0, 'every lease must be released');
  } finally {
    await fx.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
});

async function inject(rules: FaultRule[]): Promise<void> {
  faults.set(rules);
  await sleep(SETTLE_MS);
}

/**
 * The lease (unless one is given), hsmA and hsmB. The first user in the process initialises the
 * library (C_Initialize: CKR_OK).
 */
async function openAll(current?: ModuleLease): Promise<void> {
  lease = current ?? acquireModule(modulePath);
  const profile = loadVendorProfile('softhsm2');
  hsmA = await Pkcs11Hsm.open({ modulePath, tokenLabel: labelA, pin: fx.userPin, profile, maxSessions: 2 });
  hsmB = await Pkcs11Hsm.open({ modulePath, tokenLabel: labelB, pin: fx.userPin, profile, maxSessions: 2 });
  slotA = lease.findSlot({ label: labelA });
  slotB = lease.findSlot({ label: labelB });
}

/** Every user lets go (idempotent), so the last release runs C_Finalize, as keybridge does it. */
async function closeAll(): Promise<void> {
  lease.release();
  await hsmA.close();
  await hsmB.close();
  assert.deepEqual(describeModule(modulePath), { refs: 0, initializedByUs: false }, 'the library is finalized');
}

/** C_Finalize, then a C_Initialize that returns CKR_OK; hsmA, hsmB and the lease are new. */
async function reinitialise(): Promise<void> {
  await closeAll();
  await openAll();
}

/** The CK_SLOT_IDs C_GetSlotList lists (pkcs11js asks for the count, then for the list). */
function listedIds(tokenPresent: boolean): bigint[] {
  return lease.pkcs11.C_GetSlotList(tokenPresent).map(slotIdOf);
}

/** A session on `slot` with a fresh AES-256 session key (the tokens are logged in by the Pkcs11Hsm). */
function withSession<T>(slot: Buffer, fn: (pkcs11: pkcs11js.PKCS11, session: Buffer, key: Buffer) => T): T {
  const pkcs11 = lease.pkcs11;
  const session = pkcs11.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
  try {
    const key = withSessionKey(pkcs11, session);
    return fn(pkcs11, session, key);
  } finally {
    pkcs11.C_CloseSession(session);
  }
}

async function withSessionAsync<T>(slot: Buffer, fn: (pkcs11: pkcs11js.PKCS11, session: Buffer, key: Buffer) => Promise<T>): Promise<T> {
  const pkcs11 = lease.pkcs11;
  const session = pkcs11.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
  try {
    const key = withSessionKey(pkcs11, session);
    return await fn(pkcs11, session, key);
  } finally {
    pkcs11.C_CloseSession(session);
  }
}

/** An AES-256 session object that can encrypt and decrypt. */
function withSessionKey(pkcs11: pkcs11js.PKCS11, session: Buffer): Buffer {
  return pkcs11.C_GenerateKey(session, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
    { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
    { type: pkcs11js.CKA_VALUE_LEN, value: 32 },
    { type: pkcs11js.CKA_TOKEN, value: false },
    { type: pkcs11js.CKA_ENCRYPT, value: true },
    { type: pkcs11js.CKA_DECRYPT, value: true },
  ]);
}

const IV = Buffer.alloc(12, 7);
function gcm(): pkcs11js.Mechanism {
  const parameter: pkcs11js.AesGCM = { type: pkcs11js.CK_PARAMS_AES_GCM, iv: IV, ivBits: 96, aad: Buffer.alloc(0), tagBits: 128 };
  return { mechanism: pkcs11js.CKM_AES_GCM, parameter };
}

function roundTrip(pkcs11: pkcs11js.PKCS11, session: Buffer, key: Buffer): void {
  const plaintext = randomBytes(48);
  pkcs11.C_EncryptInit(session, gcm(), key);
  const sealed = pkcs11.C_Encrypt(session, plaintext, Buffer.alloc(64));
  pkcs11.C_DecryptInit(session, gcm(), key);
  assert.deepEqual(pkcs11.C_Decrypt(session, sealed, Buffer.alloc(64)), plaintext);
}

async function hsmRoundTrip(hsm: Pkcs11Hsm, key = hsm === hsmA ? keyA : keyB): Promise<void> {
  const plaintext = randomBytes(32);
  const { iv, ciphertext, tag } = await hsm.encrypt(key, plaintext, Buffer.from('aad'));
  assert.deepEqual(await hsm.decrypt(key, iv, ciphertext, tag, Buffer.from('aad')), plaintext);
}

function pkcs11Error(code: number) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof pkcs11js.Pkcs11Error, `expected Pkcs11Error, got ${String(err)}`);
    assert.equal(err.code, code, `expected 0x${code.toString(16)}, got 0x${err.code.toString(16)}`);
    return true;
  };
}

function hsmErrorWithCkr(code: number) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof HsmError, `expected HsmError, got ${String(err)}`);
    assert.equal(err.ckr, code, `expected ckr 0x${code.toString(16)}, got ${err.ckr?.toString(16)}`);
    return true;
  };
}

/** Clears the faults after `ms` from a worker thread: works while a hung call blocks this thread. */
function clearFromWorkerAfter(ms: number): Promise<number> {
  const code = `
    const { workerData, parentPort } = require('node:worker_threads');
    const fs = require('node:fs');
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, workerData.ms);
    fs.writeFileSync(workerData.file + '.worker.tmp', '');
    fs.renameSync(workerData.file + '.worker.tmp', workerData.file);
    parentPort.postMessage(performance.timeOrigin + performance.now());`;
  const worker = new Worker(code, { eval: true, workerData: { ms, file: faults.controlFile } });
  return new Promise((resolve, reject) => {
    worker.once('message', (at: number) => resolve(at - performance.timeOrigin));
    worker.once('error', reject);
  });
}

test('with no rules every call is forwarded: slots, tokens, keys, GCM round trips, random', LIMIT, async () => {
  const listed = lease.pkcs11.C_GetSlotList(true).map((slot) => slot.toString('hex'));
  assert.ok(listed.includes(slotA.toString('hex')) && listed.includes(slotB.toString('hex')));
  assert.deepEqual(lease.matchingSlots({ label: labelA }), [slotA]);
  withSession(slotA, (pkcs11, session, key) => {
    roundTrip(pkcs11, session, key);
    assert.equal(pkcs11.C_GenerateRandom(session, Buffer.alloc(16)).length, 16);
    assert.equal(pkcs11.C_GetSessionInfo(session).slotID.toString('hex'), slotA.toString('hex'));
  });
  await hsmRoundTrip(hsmA);
  await hsmRoundTrip(hsmB);
  assert.equal((await hsmA.random(64)).length, 64);
  assert.deepEqual(
    (await hsmA.listSymmetricKeys()).map((ref) => ref.id),
    [keyA.id],
  );
});

test('fail: every listed CKR (by name and by number) hits the labelled slot only (pkcs11js)', LIMIT, async () => {
  for (const name of LISTED) {
    for (const fail of [name, CKR[name]] as const) {
      await inject([{ label: labelA, scope: 'crypto', fail }]);
      withSession(slotA, (pkcs11, session, key) => {
        assert.throws(() => pkcs11.C_GenerateRandom(session, Buffer.alloc(16)), pkcs11Error(CKR[name]), `${name} as ${fail}`);
        assert.throws(() => pkcs11.C_EncryptInit(session, gcm(), key), pkcs11Error(CKR[name]));
        // Outside the scope: forwarded.
        assert.equal(pkcs11.C_GetSessionInfo(session).slotID.toString('hex'), slotA.toString('hex'));
      });
      withSession(slotB, (pkcs11, session, key) => roundTrip(pkcs11, session, key));
    }
  }
});

test('fail: the injected CKR surfaces as HsmError.ckr through Pkcs11Hsm; the other token is unaffected', LIMIT, async () => {
  for (const name of LISTED) {
    await inject([{ label: labelA, scope: 'crypto', fail: name }]);
    await assert.rejects(hsmA.encrypt(keyA, Buffer.from('x'), Buffer.alloc(0)), hsmErrorWithCkr(CKR[name]), name);
    await assert.rejects(hsmA.random(16), hsmErrorWithCkr(CKR[name]), name);
    await hsmRoundTrip(hsmB);
  }
  // Async calls (libuv's pool) are failed too: only C_Decrypt, so C_DecryptInit goes through.
  await inject([]);
  const { iv, ciphertext, tag } = await hsmA.encrypt(keyA, Buffer.from('y'), Buffer.alloc(0));
  await inject([{ label: labelA, scope: ['C_Decrypt'], fail: 'CKR_DEVICE_ERROR' }]);
  await assert.rejects(hsmA.decrypt(keyA, iv, ciphertext, tag, Buffer.alloc(0)), hsmErrorWithCkr(CKR.CKR_DEVICE_ERROR));
});

test('count=1 fails exactly the next matching call, then disarms', LIMIT, async () => {
  await inject([{ label: labelA, scope: ['C_GenerateRandom'], fail: 'CKR_FUNCTION_FAILED', count: 1 }]);
  withSession(slotA, (pkcs11, session) => {
    assert.throws(() => pkcs11.C_GenerateRandom(session, Buffer.alloc(8)), pkcs11Error(CKR.CKR_FUNCTION_FAILED));
    for (let i = 0; i < 5; i++) assert.equal(pkcs11.C_GenerateRandom(session, Buffer.alloc(8)).length, 8);
  });
  // Through Pkcs11Hsm (which may retry a call): at most two failures, all with the injected CKR,
  // and then the rule is spent without being cleared.
  await inject([{ label: labelA, scope: 'crypto', fail: 'CKR_DEVICE_ERROR', count: 2 }]);
  let failures = 0;
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      assert.equal((await hsmA.random(8)).length, 8);
      break;
    } catch (err) {
      hsmErrorWithCkr(CKR.CKR_DEVICE_ERROR)(err);
      failures += 1;
    }
  }
  assert.ok(failures >= 1 && failures <= 2, `${failures} failures`);
  await hsmRoundTrip(hsmA);
});

test('latency adds at least N ms to every crypto call on that slot only', LIMIT, async () => {
  const latencyMs = 50;
  await inject([{ label: labelA, scope: 'crypto', latencyMs }]);
  withSession(slotA, (pkcs11, session) => {
    const started = performance.now();
    for (let i = 0; i < 3; i++) pkcs11.C_GenerateRandom(session, Buffer.alloc(8));
    assert.ok(performance.now() - started >= 3 * latencyMs, 'three calls, three delays');
  });
  let started = performance.now();
  await hsmRoundTrip(hsmA);
  // encrypt: C_EncryptInit, C_Encrypt (IVs come from a batch drawn with one C_GenerateRandom);
  // decrypt: C_DecryptInit, C_Decrypt.
  assert.ok(performance.now() - started >= 4 * latencyMs, `round trip took ${performance.now() - started} ms`);
  started = performance.now();
  await hsmRoundTrip(hsmB);
  assert.ok(performance.now() - started < latencyMs, 'the other token is not slowed');
  // Not in the scope: no delay.
  started = performance.now();
  assert.deepEqual(lease.matchingSlots({ label: labelA }), [slotA]);
  assert.ok(performance.now() - started < latencyMs);
});

test('latency combines with fail: a slow failure', LIMIT, async () => {
  await inject([{ label: labelA, scope: ['C_GenerateRandom'], latencyMs: 30, fail: 'CKR_DEVICE_ERROR' }]);
  const started = performance.now();
  await assert.rejects(hsmA.random(8), hsmErrorWithCkr(CKR.CKR_DEVICE_ERROR));
  assert.ok(performance.now() - started >= 30);
});

test('hang blocks an async call until the rule is cleared, then forwards it (pkcs11js)', LIMIT, async () => {
  await inject([{ label: labelA, scope: ['C_Encrypt'], hang: true }]);
  await withSessionAsync(slotA, async (pkcs11, session, key) => {
    const plaintext = randomBytes(32);
    pkcs11.C_EncryptInit(session, gcm(), key);
    let settled = false;
    const pending = pkcs11.C_EncryptAsync(session, plaintext, Buffer.alloc(48)).finally(() => {
      settled = true;
    });
    await sleep(150);
    assert.equal(settled, false, 'the call is still hanging');
    // Meanwhile the other slot works, synchronously and on the thread pool.
    await withSessionAsync(slotB, async (pkcsB, sessionB, keyB2) => {
      pkcsB.C_EncryptInit(sessionB, gcm(), keyB2);
      assert.equal((await pkcsB.C_EncryptAsync(sessionB, plaintext, Buffer.alloc(48))).length, 48);
    });
    const clearedAt = performance.now();
    faults.clear();
    const sealed = await pending;
    assert.ok(performance.now() - clearedAt < 100, `released ${performance.now() - clearedAt} ms after the clear`);
    pkcs11.C_DecryptInit(session, gcm(), key);
    assert.deepEqual(pkcs11.C_Decrypt(session, sealed, Buffer.alloc(48)), plaintext);
  });
});

test('hang on the crypto scope holds Pkcs11Hsm calls (even synchronous ones) until cleared, then they succeed', LIMIT, async () => {
  await inject([{ label: labelA, scope: 'crypto', hang: true }]);
  // Pkcs11Hsm's calls run in its executor's worker threads; the clear still comes from a worker so
  // that the test would also hold for a PKCS#11 client that blocks the calling thread.
  const cleared = clearFromWorkerAfter(200);
  const started = performance.now();
  await hsmRoundTrip(hsmA);
  const clearedAt = await cleared;
  assert.ok(performance.now() - started >= 190, 'held until the clear');
  assert.ok(clearedAt - started >= 190);

  // A call held in a worker: the event loop keeps running.
  await inject([{ label: labelA, scope: ['C_Encrypt'], hang: true }]);
  let settled = false;
  const pending = hsmA.encrypt(keyA, Buffer.from('held'), Buffer.alloc(0)).finally(() => {
    settled = true;
  });
  await sleep(100);
  assert.equal(settled, false);
  await hsmRoundTrip(hsmB);
  faults.clear();
  const { iv, ciphertext, tag } = await pending;
  assert.deepEqual(await hsmA.decrypt(keyA, iv, ciphertext, tag, Buffer.alloc(0)), Buffer.from('held'));
});

test('a hang with count=1 holds one call; later calls pass while it is still held', LIMIT, async () => {
  await inject([{ label: labelA, scope: ['C_Encrypt'], hang: true, count: 1 }]);
  await withSessionAsync(slotA, async (pkcs11, session, key) => {
    pkcs11.C_EncryptInit(session, gcm(), key);
    let settled = false;
    const held = pkcs11.C_EncryptAsync(session, Buffer.alloc(16), Buffer.alloc(32)).finally(() => {
      settled = true;
    });
    await sleep(50);
    await withSessionAsync(slotA, async (pkcs2, session2, key2) => {
      pkcs2.C_EncryptInit(session2, gcm(), key2);
      assert.equal((await pkcs2.C_EncryptAsync(session2, Buffer.alloc(16), Buffer.alloc(32))).length, 32);
    });
    assert.equal(settled, false, 'the first call is still held');
    faults.clear();
    assert.equal((await held).length, 32);
  });
});

test('slot-id matching; scope all makes the token look removed to a reconnecting client', LIMIT, async () => {
  await inject([{ slot: slotIdOf(slotA), scope: 'all', fail: 'CKR_DEVICE_REMOVED' }]);
  const pkcs11 = lease.pkcs11;
  // Always forwarded: the slot is still listed.
  assert.ok(pkcs11.C_GetSlotList(true).some((slot) => slot.equals(slotA)));
  assert.throws(() => pkcs11.C_GetTokenInfo(slotA), pkcs11Error(CKR.CKR_DEVICE_REMOVED));
  assert.throws(() => pkcs11.C_OpenSession(slotA, pkcs11js.CKF_SERIAL_SESSION), pkcs11Error(CKR.CKR_DEVICE_REMOVED));
  assert.throws(() => pkcs11.C_GetSlotInfo(slotA), pkcs11Error(CKR.CKR_DEVICE_REMOVED));
  assert.deepEqual(lease.matchingSlots({ label: labelA }), []);
  await assert.rejects(hsmA.random(8), hsmErrorWithCkr(CKR.CKR_DEVICE_REMOVED));
  await assert.rejects(
    Pkcs11Hsm.open({ modulePath, tokenLabel: labelA, pin: fx.userPin, profile: loadVendorProfile('softhsm2') }),
    (err: unknown) => err instanceof HsmError,
  );
  // The other slot is untouched.
  assert.equal(pkcs11.C_GetTokenInfo(slotB).label.trim(), labelB);
  await hsmRoundTrip(hsmB);
  // By label, the same.
  await inject([{ label: labelB, scope: 'all', fail: 'CKR_DEVICE_REMOVED' }]);
  assert.throws(() => pkcs11.C_GetTokenInfo(slotB), pkcs11Error(CKR.CKR_DEVICE_REMOVED));
  assert.equal(pkcs11.C_GetTokenInfo(slotA).label.trim(), labelA);
});

test('a rule with both slot and label needs both; a rule with neither hits every slot', LIMIT, async () => {
  await inject([{ slot: slotIdOf(slotA), label: labelB, scope: ['C_GenerateRandom'], fail: 'CKR_DEVICE_ERROR' }]);
  withSession(slotA, (pkcs11, session) => assert.equal(pkcs11.C_GenerateRandom(session, Buffer.alloc(4)).length, 4));
  withSession(slotB, (pkcs11, session) => assert.equal(pkcs11.C_GenerateRandom(session, Buffer.alloc(4)).length, 4));
  await inject([{ scope: ['C_GenerateRandom'], fail: 'CKR_DEVICE_ERROR' }]);
  for (const slot of [slotA, slotB]) {
    withSession(slot, (pkcs11, session) => assert.throws(() => pkcs11.C_GenerateRandom(session, Buffer.alloc(4)), pkcs11Error(CKR.CKR_DEVICE_ERROR)));
  }
});

test('scopes: login, session, object and explicit function lists hit only their functions', LIMIT, async () => {
  const pkcs11 = lease.pkcs11;
  await inject([{ label: labelA, scope: 'login', fail: 'CKR_PIN_LOCKED' }]);
  withSession(slotA, (p, session, key) => {
    assert.throws(() => p.C_Login(session, pkcs11js.CKU_USER, fx.userPin), pkcs11Error(CKR.CKR_PIN_LOCKED));
    roundTrip(p, session, key);
  });

  await inject([{ label: labelA, scope: 'session', fail: 'CKR_DEVICE_ERROR' }]);
  assert.throws(() => pkcs11.C_OpenSession(slotA, pkcs11js.CKF_SERIAL_SESSION), pkcs11Error(CKR.CKR_DEVICE_ERROR));
  assert.equal(pkcs11.C_GetTokenInfo(slotA).label.trim(), labelA);
  withSession(slotB, (p, session, key) => roundTrip(p, session, key));

  // Sessions opened before the rule: object calls fail, crypto calls do not.
  await inject([]);
  const session = pkcs11.C_OpenSession(slotA, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
  try {
    const key = withSessionKey(pkcs11, session);
    await inject([{ label: labelA, scope: 'object', fail: 'CKR_SESSION_HANDLE_INVALID' }]);
    assert.throws(() => withSessionKey(pkcs11, session), pkcs11Error(CKR.CKR_SESSION_HANDLE_INVALID));
    assert.throws(() => pkcs11.C_FindObjectsInit(session, []), pkcs11Error(CKR.CKR_SESSION_HANDLE_INVALID));
    assert.throws(() => pkcs11.C_GetAttributeValue(session, key, [{ type: pkcs11js.CKA_LABEL }]), pkcs11Error(CKR.CKR_SESSION_HANDLE_INVALID));
    roundTrip(pkcs11, session, key);

    await inject([{ label: labelA, scope: ['C_Decrypt', 'C_DecryptInit'], fail: 'CKR_USER_NOT_LOGGED_IN' }]);
    pkcs11.C_EncryptInit(session, gcm(), key);
    const sealed = pkcs11.C_Encrypt(session, Buffer.from('abc'), Buffer.alloc(32));
    assert.throws(() => pkcs11.C_DecryptInit(session, gcm(), key), pkcs11Error(CKR.CKR_USER_NOT_LOGGED_IN));
    faults.clear();
    await sleep(SETTLE_MS);
    pkcs11.C_DecryptInit(session, gcm(), key);
    assert.deepEqual(pkcs11.C_Decrypt(session, sealed, Buffer.alloc(32)), Buffer.from('abc'));
  } finally {
    faults.clear();
    await sleep(SETTLE_MS);
    pkcs11.C_CloseSession(session);
  }
});

test('rules are picked up at run time, in the same loaded library, and bad lines are skipped', LIMIT, async () => {
  const refs = describeModule(modulePath)?.refs;
  const pkcs11 = lease.pkcs11;
  const session = pkcs11.C_OpenSession(slotA, pkcs11js.CKF_SERIAL_SESSION);
  try {
    for (let round = 0; round < 5; round++) {
      await inject([{ label: labelA, scope: ['C_GenerateRandom'], fail: 'CKR_DEVICE_ERROR' }]);
      assert.throws(() => pkcs11.C_GenerateRandom(session, Buffer.alloc(4)), pkcs11Error(CKR.CKR_DEVICE_ERROR));
      // Same size, same kind of rule, different code: a rewrite within one file-time tick is seen.
      faults.set([{ label: labelA, scope: ['C_GenerateRandom'], fail: 'CKR_DEVICE_MEMORY' }]);
      await sleep(SETTLE_MS);
      assert.throws(() => pkcs11.C_GenerateRandom(session, Buffer.alloc(4)), pkcs11Error(CKR.CKR_DEVICE_MEMORY));
      faults.clear();
      await sleep(SETTLE_MS);
      assert.equal(pkcs11.C_GenerateRandom(session, Buffer.alloc(4)).length, 4);
    }
    // Written by hand: comments, blank lines, an invalid line (reported on stderr and skipped).
    writeFileSync(
      faults.controlFile,
      `# a comment\n\nlabel=${labelA} scope=crypto fail=CKR_NO_SUCH_CODE\nlabel=${labelA} scope=C_GenerateRandom fail=0xa4 # trailing\n`,
    );
    await sleep(SETTLE_MS);
    assert.throws(() => pkcs11.C_GenerateRandom(session, Buffer.alloc(4)), pkcs11Error(CKR.CKR_PIN_LOCKED));
    // A missing control file means no faults.
    rmSync(faults.controlFile);
    await sleep(SETTLE_MS);
    assert.equal(pkcs11.C_GenerateRandom(session, Buffer.alloc(4)).length, 4);
  } finally {
    pkcs11.C_CloseSession(session);
  }
  assert.equal(describeModule(modulePath)?.refs, refs, 'the library was not reloaded');
});

test('under concurrent load while the rules are rewritten, every call succeeds or fails with an injected CKR', LIMIT, async () => {
  const injected = new Set<number>([CKR.CKR_DEVICE_ERROR, CKR.CKR_FUNCTION_FAILED]);
  const rulesets: FaultRule[][] = [
    [],
    [{ label: labelA, scope: 'crypto', latencyMs: 2 }],
    [{ label: labelA, scope: ['C_Encrypt', 'C_Decrypt'], fail: 'CKR_DEVICE_ERROR', count: 3 }],
    [{ label: labelA, scope: 'crypto', fail: 'CKR_FUNCTION_FAILED', count: 1 }, { label: labelB, scope: 'crypto', latencyMs: 1 }],
  ];
  let stop = false;
  const writer = (async () => {
    for (let i = 0; !stop; i++) {
      faults.set(rulesets[i % rulesets.length]!);
      await sleep(3);
    }
  })();
  const outcomes = await Promise.allSettled(
    Array.from({ length: 300 }, (_, i) => hsmRoundTrip(i % 3 === 0 ? hsmB : hsmA)),
  );
  stop = true;
  await writer;
  let failed = 0;
  for (const outcome of outcomes) {
    if (outcome.status === 'fulfilled') continue;
    failed += 1;
    const err: unknown = outcome.reason;
    assert.ok(err instanceof HsmError && err.ckr !== undefined && injected.has(err.ckr), `unexpected failure: ${String(err)}`);
  }
  assert.ok(failed < outcomes.length, 'some calls succeed');
  await inject([]);
  await hsmRoundTrip(hsmA);
  await hsmRoundTrip(hsmB);
});

test('gone by label: the slot leaves C_GetSlotList, answers CKR_SLOT_ID_INVALID, its sessions CKR_DEVICE_REMOVED; C_CloseSession is forwarded', LIMIT, async () => {
  const pkcs11 = lease.pkcs11;
  const [present, all] = [listedIds(true), listedIds(false)];
  assert.ok(present.includes(slotIdOf(slotA)) && all.includes(slotIdOf(slotA)));
  // Opened while the token is there: a logged-in session (the Pkcs11Hsm holds the login) with a key.
  const session = pkcs11.C_OpenSession(slotA, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
  const key = withSessionKey(pkcs11, session);
  pkcs11.C_EncryptInit(session, gcm(), key);
  latching = true;
  await inject([{ label: labelA, gone: true }]);

  // C_GetSlotList, with and without tokenPresent: one slot fewer, counted and listed.
  assert.deepEqual(listedIds(true), present.filter((id) => id !== slotIdOf(slotA)));
  assert.deepEqual(listedIds(false), all.filter((id) => id !== slotIdOf(slotA)));
  assert.deepEqual(lease.matchingSlots({ label: labelA }), []);
  assert.deepEqual(lease.matchingSlots({ label: labelB }), [slotB]);
  // Calls naming the slot.
  assert.throws(() => pkcs11.C_GetTokenInfo(slotA), pkcs11Error(CKR.CKR_SLOT_ID_INVALID));
  assert.throws(() => pkcs11.C_GetSlotInfo(slotA), pkcs11Error(CKR.CKR_SLOT_ID_INVALID));
  assert.throws(() => pkcs11.C_GetMechanismList(slotA), pkcs11Error(CKR.CKR_SLOT_ID_INVALID));
  assert.throws(() => pkcs11.C_OpenSession(slotA, pkcs11js.CKF_SERIAL_SESSION), pkcs11Error(CKR.CKR_SLOT_ID_INVALID));
  // Calls on a session of the slot, on libuv's pool and synchronous.
  await assert.rejects(pkcs11.C_EncryptAsync(session, randomBytes(16), Buffer.alloc(32)), pkcs11Error(CKR.CKR_DEVICE_REMOVED));
  assert.throws(() => pkcs11.C_Encrypt(session, randomBytes(16), Buffer.alloc(32)), pkcs11Error(CKR.CKR_DEVICE_REMOVED));
  assert.throws(() => pkcs11.C_EncryptInit(session, gcm(), key), pkcs11Error(CKR.CKR_DEVICE_REMOVED));
  assert.throws(() => pkcs11.C_GenerateRandom(session, Buffer.alloc(8)), pkcs11Error(CKR.CKR_DEVICE_REMOVED));
  assert.throws(() => pkcs11.C_GetSessionInfo(session), pkcs11Error(CKR.CKR_DEVICE_REMOVED));
  assert.throws(() => pkcs11.C_Login(session, pkcs11js.CKU_USER, fx.userPin), pkcs11Error(CKR.CKR_DEVICE_REMOVED));
  assert.throws(() => pkcs11.C_FindObjectsInit(session, []), pkcs11Error(CKR.CKR_DEVICE_REMOVED));
  await assert.rejects(hsmA.random(8), hsmErrorWithCkr(CKR.CKR_DEVICE_REMOVED));
  // C_CloseSession reaches the real library: a second close is the real library's answer.
  pkcs11.C_CloseSession(session);
  assert.throws(() => pkcs11.C_CloseSession(session), pkcs11Error(CKR.CKR_SESSION_HANDLE_INVALID));
  // The other token is untouched.
  assert.equal(tokenText(pkcs11.C_GetTokenInfo(slotB).label), labelB);
  withSession(slotB, (p, sessionB, keyB2) => roundTrip(p, sessionB, keyB2));
  await hsmRoundTrip(hsmB);
});

test('gone: removing the rule does not bring the token back; C_Finalize + C_Initialize does, and it works again', LIMIT, async () => {
  const pkcs11 = lease.pkcs11;
  const idA = slotIdOf(slotA);
  const session = pkcs11.C_OpenSession(slotA, pkcs11js.CKF_SERIAL_SESSION);
  latching = true;
  await inject([{ label: labelA, gone: true }]);
  assert.ok(!listedIds(true).includes(idA), 'latched by C_GetSlotList');

  // A C_Initialize answered CKR_CRYPTOKI_ALREADY_INITIALIZED clears nothing.
  assert.throws(() => pkcs11.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK }), pkcs11Error(CKR.CKR_CRYPTOKI_ALREADY_INITIALIZED));
  faults.clear();
  await sleep(SETTLE_MS);
  for (let round = 0; round < 3; round++) {
    assert.ok(!listedIds(true).includes(idA) && !listedIds(false).includes(idA), 'still absent without its rule');
    assert.throws(() => pkcs11.C_GetTokenInfo(slotA), pkcs11Error(CKR.CKR_SLOT_ID_INVALID));
    assert.throws(() => pkcs11.C_OpenSession(slotA, pkcs11js.CKF_SERIAL_SESSION), pkcs11Error(CKR.CKR_SLOT_ID_INVALID));
    assert.throws(() => pkcs11.C_GenerateRandom(session, Buffer.alloc(8)), pkcs11Error(CKR.CKR_DEVICE_REMOVED));
    await sleep(SETTLE_MS);
  }
  await assert.rejects(
    Pkcs11Hsm.open({ modulePath, tokenLabel: labelA, pin: fx.userPin, profile: loadVendorProfile('softhsm2') }),
    (err: unknown) => err instanceof HsmError && err.code === 'HSM_TOKEN_NOT_FOUND',
  );
  pkcs11.C_CloseSession(session);

  await closeAll();
  lease = acquireModule(modulePath);
  assert.deepEqual(describeModule(modulePath), { refs: 1, initializedByUs: true }, 'C_Initialize returned CKR_OK');
  // Back, under the same slot id (SoftHSM2 derives it from the token's serial).
  assert.ok(listedIds(true).includes(idA) && listedIds(false).includes(idA));
  slotA = lease.findSlot({ label: labelA });
  assert.equal(slotIdOf(slotA), idA);
  assert.equal(tokenText(lease.pkcs11.C_GetTokenInfo(slotA).label), labelA);
  // New sessions, a login and crypto: raw, then through Pkcs11Hsm with the token key made before.
  const fresh = lease.pkcs11.C_OpenSession(slotA, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
  try {
    lease.pkcs11.C_Login(fresh, pkcs11js.CKU_USER, fx.userPin);
    roundTrip(lease.pkcs11, fresh, withSessionKey(lease.pkcs11, fresh));
    lease.pkcs11.C_Logout(fresh);
  } finally {
    lease.pkcs11.C_CloseSession(fresh);
  }
  await openAll(lease);
  latching = false;
  await hsmRoundTrip(hsmA);
  await hsmRoundTrip(hsmB);
  assert.deepEqual(
    (await hsmA.listSymmetricKeys()).map((ref) => ref.id),
    [keyA.id],
  );
});

test('gone: a rule still in the file when the library is initialised again latches the slot again on first notice', LIMIT, async () => {
  const idB = slotIdOf(slotB);
  latching = true;
  await inject([{ label: labelB, gone: true }]);
  // Noticed by a call naming the slot (not by the slot list).
  assert.throws(() => lease.pkcs11.C_GetTokenInfo(slotB), pkcs11Error(CKR.CKR_SLOT_ID_INVALID));
  assert.ok(!listedIds(true).includes(idB));

  await closeAll();
  lease = acquireModule(modulePath);
  assert.equal(describeModule(modulePath)?.initializedByUs, true, 'C_Initialize returned CKR_OK');
  // The rule is still there: the first C_GetSlotList latches the slot again.
  assert.ok(!listedIds(true).includes(idB) && !listedIds(false).includes(idB));
  assert.throws(() => lease.pkcs11.C_GetTokenInfo(slotB), pkcs11Error(CKR.CKR_SLOT_ID_INVALID));
  await assert.rejects(
    Pkcs11Hsm.open({ modulePath, tokenLabel: labelB, pin: fx.userPin, profile: loadVendorProfile('softhsm2') }),
    (err: unknown) => err instanceof HsmError && err.code === 'HSM_TOKEN_NOT_FOUND',
  );
  // Slot A came back with the initialisation.
  assert.deepEqual(lease.findSlot({ label: labelA }), slotA);
  const session = lease.pkcs11.C_OpenSession(slotA, pkcs11js.CKF_SERIAL_SESSION);
  try {
    assert.equal(lease.pkcs11.C_GenerateRandom(session, Buffer.alloc(4)).length, 4);
  } finally {
    lease.pkcs11.C_CloseSession(session);
  }
  // afterEach clears the rule, finalizes and initialises: B is back for the next tests.
});

test('gone by slot id (other rules do not apply to it); C_CloseAllSessions is forwarded; gone with neither label nor slot empties the list', LIMIT, async () => {
  const pkcs11 = lease.pkcs11;
  const [idA, idB] = [slotIdOf(slotA), slotIdOf(slotB)];
  const session = pkcs11.C_OpenSession(slotB, pkcs11js.CKF_SERIAL_SESSION);
  latching = true;
  // Under load from both tokens' workers while B goes: A's calls all succeed, B's succeed or find
  // the token gone (a session call: CKR_DEVICE_REMOVED; a worker opening a new session after it:
  // CKR_SLOT_ID_INVALID).
  let doneOnB = 0;
  const load = Promise.allSettled(
    Array.from({ length: 200 }, (_, i) => (i % 2 === 0 ? hsmRoundTrip(hsmA) : hsmRoundTrip(hsmB).then(() => void (doneOnB += 1)))),
  );
  await until(() => doneOnB >= 10, 5_000, 'round trips on B');
  // A fail rule listed first: the gone token answers as a gone token, not with the injected CKR.
  await inject([{ slot: idB, scope: 'all', fail: 'CKR_DEVICE_ERROR' }, { slot: idB, gone: true }]);
  const outcomes = await load;
  outcomes.forEach((outcome, i) => {
    if (outcome.status === 'fulfilled') return;
    const err: unknown = outcome.reason;
    assert.ok(i % 2 === 1, `a call on A failed: ${String(err)}`);
    const gone: unknown[] = [CKR.CKR_DEVICE_REMOVED, CKR.CKR_SLOT_ID_INVALID];
    assert.ok(err instanceof HsmError && gone.includes(err.ckr), `unexpected failure on B: ${String(err)}`);
  });
  assert.ok(outcomes.some((outcome) => outcome.status === 'rejected'), 'B went while loaded');
  assert.throws(() => pkcs11.C_GenerateRandom(session, Buffer.alloc(4)), pkcs11Error(CKR.CKR_DEVICE_REMOVED));
  assert.throws(() => pkcs11.C_GetTokenInfo(slotB), pkcs11Error(CKR.CKR_SLOT_ID_INVALID));
  assert.ok(!listedIds(true).includes(idB) && listedIds(true).includes(idA));
  withSession(slotA, (p, sessionA, key) => roundTrip(p, sessionA, key));
  await hsmRoundTrip(hsmA);
  // C_CloseAllSessions(slot) reaches the real library, which closes our session there.
  pkcs11.C_CloseAllSessions(slotB);
  assert.throws(() => pkcs11.C_GenerateRandom(session, Buffer.alloc(4)), pkcs11Error(CKR.CKR_SESSION_HANDLE_INVALID));
  assert.throws(() => pkcs11.C_CloseSession(session), pkcs11Error(CKR.CKR_SESSION_HANDLE_INVALID));

  // Neither label nor slot: every slot (the free one too) is gone, with or without tokens.
  await inject([{ gone: true }]);
  assert.deepEqual(listedIds(true), []);
  assert.deepEqual(listedIds(false), []);
  assert.throws(() => pkcs11.C_GetTokenInfo(slotA), pkcs11Error(CKR.CKR_SLOT_ID_INVALID));
  await assert.rejects(hsmA.random(8), hsmErrorWithCkr(CKR.CKR_DEVICE_REMOVED));
});

test('FaultController refuses rules the module could not read', LIMIT, () => {
  const bad: FaultRule[] = [
    { label: 'has space', scope: 'all', fail: 'CKR_DEVICE_ERROR' },
    { label: labelA, scope: 'nope' as 'all', fail: 'CKR_DEVICE_ERROR' },
    { label: labelA, scope: [], fail: 'CKR_DEVICE_ERROR' },
    { label: labelA, scope: 'all' },
    { label: labelA, scope: 'all', hang: true, fail: 'CKR_DEVICE_ERROR' },
    { label: labelA, scope: 'all', fail: 0 },
    { label: labelA, scope: 'all', fail: 'CKR_DEVICE_ERROR', count: 0 },
    { label: labelA, scope: 'all', latencyMs: -1 },
    // A gone rule takes no scope and no fault (the types say so too; these come in through casts).
    ...[{ scope: 'all' }, { scope: ['C_Encrypt'] }, { fail: 'CKR_DEVICE_ERROR' }, { hang: true }, { latencyMs: 5 }, { latencyMs: 0 }, { count: 1 }].map(
      (extra) => ({ label: labelA, gone: true, ...extra }) as unknown as FaultRule,
    ),
    { label: labelA, gone: false } as unknown as FaultRule,
  ];
  for (const rule of bad) assert.throws(() => faults.set([rule]), TypeError, JSON.stringify(rule));
  // @ts-expect-error a gone rule has no scope
  const typed: FaultRule = { label: labelA, gone: true, scope: 'all' };
  // @ts-expect-error an ordinary rule needs a scope
  const unscoped: FaultRule = { label: labelA, fail: 'CKR_DEVICE_ERROR' };
  assert.throws(() => faults.set([typed]), TypeError);
  assert.throws(() => faults.set([unscoped]), TypeError);
  // Good gone rules: by label, by slot, both, neither (into a file the loaded module does not read).
  const written = new FaultController(join(dir, 'gone-rules'));
  written.set([{ label: labelA, gone: true }, { slot: 7, gone: true }, { label: labelA, slot: 7n, gone: true }, { gone: true }]);
  assert.equal(readFileSync(written.controlFile, 'utf8'), `label=${labelA} gone\nslot=7 gone\nlabel=${labelA} slot=7 gone\ngone\n`);
});
