// The process-wide registry of PKCS#11 libraries: each library is loaded once per process and
// initialised while anybody in the process uses it.
//
// C_Initialize is process-wide: a second initialisation of the same library (even through another
// pkcs11js object, in another worker thread) gets CKR_CRYPTOKI_ALREADY_INITIALIZED and shares login
// and C_Finalize state with the first. So every part of keybridge that needs a library goes through
// this registry, which counts users and finalizes only when the last one releases it, and only if we
// initialised it. The registry that counts is the main thread's: direct users (token set-up, the
// operator CLI, tests) take a lease with acquireModule(); executor-backed users (Pkcs11Hsm, whose
// PKCS#11 calls run in worker threads) take one with acquireRemoteModule() and are told on release
// whether the finalize is theirs to do. Worker threads load the library through acquireModule() too,
// after leaveTeardownToMainThread(): there a release never finalizes and never logs out.
//
// Re-initialisation (reinitializeModule): a library builds its slot list at C_Initialize, so a
// token that disappears and comes back stays invisible until C_Finalize + C_Initialize — which
// ends every session and login of every user of the library in the process. So it is done for all
// of them at once: every executor-backed user (ModuleUser) is suspended (calls wait, sessions
// closed), the library re-initialised in one of their worker threads (or a thread of its own), and
// every user resumed (new sessions, new logins, empty handle caches).

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';

import pkcs11js from 'pkcs11js';

import { HsmError } from '../../ports/hsm.js';
import { CKR, ckrOf, toHsmError } from './ckr.js';

export type Pkcs11 = pkcs11js.PKCS11;
export type Handle = pkcs11js.Handle;

/** Token labels are exactly this many bytes, padded with spaces (PKCS#11 CK_TOKEN_INFO.label). */
export const TOKEN_LABEL_BYTES = 32;

export interface TokenSelector {
  readonly label?: string;
  readonly serial?: string;
}

export interface ModuleLease {
  /** The registry key: the library's real path. */
  readonly path: string;
  /** The raw pkcs11js object. WARNING: never C_Finalize or C_Logout through it on the hot path. */
  readonly pkcs11: Pkcs11;
  /** The slot holding the initialised token that matches; HSM_TOKEN_NOT_FOUND unless exactly one does. */
  findSlot(selector: TokenSelector): Handle;
  /** Every slot holding an initialised token that matches. */
  matchingSlots(selector: TokenSelector): Handle[];
  /** Slots with a present but uninitialised token (SoftHSM2 always offers one). */
  freeSlots(): Handle[];
  /**
   * Records that a caller keeps the user logged in on the token `tokenKey` (loginKey()) with `pin`.
   * The returned function forgets it and says whether that was the last holder in this process, i.e. whether a C_Logout
   * is now ours to do (login state is shared by every session of the application on the token).
   * Throws HSM_LOGIN_FAILED with ckr CKR_PIN_INCORRECT when the slot is already held with a
   * different PIN: once logged in, C_Login answers CKR_USER_ALREADY_LOGGED_IN without checking the
   * PIN, so a wrong PIN would otherwise pass unnoticed until the next restart.
   */
  holdLogin(tokenKey: string, pin: string): () => boolean;
  /** Gives the lease back; idempotent. The last release finalizes the library if we initialised it. */
  release(): void;
  /** Runs a session lifecycle call (C_OpenSession, C_CloseSession, C_Login, C_Logout) under the library's lock. */
  exclusive<T>(call: () => T): T;
}

/** A user whose PKCS#11 calls run in worker threads: counted here, loaded and initialised there. */
export interface RemoteModuleLease {
  readonly path: string;
  /** The library's lifecycle lock (Entry.lifecycleLock), for the user's worker threads (shared memory). */
  readonly lifecycleLock: Int32Array;
  /** As ModuleLease.holdLogin. */
  holdLogin(tokenKey: string, pin: string): () => boolean;
  /** A worker of this user ran C_Initialize and got CKR_OK: the process's initialisation is ours. */
  noteInitializedByUs(): void;
  /**
   * Gives the lease back (idempotent). True when this was the library's last user and we
   * initialised it: the caller must now run C_Finalize (in its worker) before anything else loads it.
   */
  release(): boolean;
  /** Records the finalize a release() of true asked for, so that a new user waits for it. */
  finalizing(done: Promise<void>): void;
  /**
   * Waits until no finalize or re-initialisation of the library is under way, then registers
   * `user` to be suspended and resumed around every later re-initialisation (until release()).
   * Await it before the user starts a worker.
   */
  attach(user: ModuleUser): Promise<void>;
}

/** An executor-backed user of a library, as a re-initialisation pauses it (executor.ts). */
export interface ModuleUser {
  /** Calls the device still holds (workers written off at a deadline): the library must not be finalized under them. */
  held(): number;
  /** Starts no more calls, lets running ones finish (bounded by their deadlines), closes every session without logging out. */
  suspend(): Promise<void>;
  /**
   * Runs C_Finalize + C_Initialize in one of its own (suspended) threads, which already have the
   * library loaded: faster than a new thread. False when it has no thread to do it with.
   */
  reinitializeLibrary(): Promise<boolean>;
  /** Opens sessions again (and so logs in again) and runs the calls that waited. */
  resume(): void;
}

interface Entry {
  readonly path: string;
  // WARNING: kept strongly referenced for the life of the process, also when only worker threads
  // call the library. Each thread's pkcs11js object dlcloses it when the thread ends: with no
  // reference left here, the library would be unloaded between two workers — losing its state
  // (seen: an initialised SoftHSM2 beneath a freshly mapped wrapper that then answered
  // CKR_CRYPTOKI_ALREADY_INITIALIZED to its own first C_Initialize), or crashing a vendor library
  // whose own threads still run. Undefined only before the library's first user.
  pkcs11: Pkcs11 | undefined;
  refs: number;
  // Of refs, the main-thread users holding a ModuleLease (their sessions cannot be paused).
  direct: number;
  initializedByUs: boolean;
  readonly users: Set<ModuleUser>;
  // Released users whose written-off workers may still be inside the library (held() > 0).
  readonly lingering: Set<ModuleUser>;
  reinitializing: Promise<void> | undefined;
  reinitializations: number;
  // performance.now() when the last re-initialisation ended.
  lastReinitializedAt: number;
  readonly logins: Map<string, { holders: number; pinDigest: Buffer }>;
  // A worker's C_Finalize under way: a C_Initialize racing it would be undone by it.
  finalizing: Promise<void> | undefined;
  // WARNING: the library's lifecycle calls (C_Initialize, C_Finalize, C_OpenSession,
  // C_CloseSession, C_Login, C_Logout) never run at once in two threads. SoftHSM2 2.6.1 checks
  // "already initialised" without a lock (two first calls both initialise, and the second pulls
  // slots from under the first: CKR_SLOT_ID_INVALID, then SIGSEGV), and crashes in C_CloseSession
  // racing another thread's session calls (softhsm/SoftHSMv2#464, #688; seen here in C_CloseSession).
  // They are rare — sessions live as long as their worker — so one lock per library costs nothing
  // measurable. Shared with every worker thread (Atomics on a SharedArrayBuffer).
  readonly lifecycleLock: Int32Array;
}

// After a re-initialisation the users get at least this long to serve (their workers start, their
// queues drain) before the next one: back-to-back requests (several members missing on one library,
// each retrying) would otherwise keep them paused for good.
export const MIN_REINITIALIZE_INTERVAL_MS = 1_000;

// Keyed per process so the digests kept in memory are not plain hashes of the PINs.
const PIN_DIGEST_KEY = randomBytes(32);

const registry = new Map<string, Entry>();

// In an executor worker thread: the main thread decides when to log out and finalize.
let teardownInThisThread = true;
// In an executor worker thread: the main thread's lifecycleLock for the one library this thread uses.
let workerLifecycleLock: Int32Array | undefined;

/**
 * Called once by executor worker threads before they acquire a module (see the file comment), with
 * the library's lifecycleLock from the main thread (RemoteModuleLease.lifecycleLock).
 */
export function leaveTeardownToMainThread(lifecycleLock: Int32Array): void {
  teardownInThisThread = false;
  workerLifecycleLock = lifecycleLock;
}

/** C_Finalize under the library's lifecycle lock. For the executor worker told to finalize. */
export function finalizeLocked(pkcs11: Pkcs11): void {
  withLifecycleLock(workerLifecycleLock, () => pkcs11.C_Finalize());
}

/**
 * C_Finalize then C_Initialize, in one hold of the library's lifecycle lock (so no other thread
 * opens a session in between). For the thread that runs a re-initialisation (reinitialize.ts).
 * A library that was not initialised is simply initialised. Throws the library's error.
 */
export function reinitializeLocked(pkcs11: Pkcs11): void {
  withLifecycleLock(workerLifecycleLock, () => {
    try {
      pkcs11.C_Finalize();
    } catch (err) {
      if (ckrOf(err) !== CKR.CKR_CRYPTOKI_NOT_INITIALIZED) throw err;
    }
    pkcs11.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
  });
}

function withLifecycleLock<T>(lock: Int32Array | undefined, fn: () => T): T {
  if (lock === undefined) return fn();
  // Not re-entrant: held for exactly one lifecycle call (milliseconds), so waiting in short slices
  // and retrying is enough.
  while (Atomics.compareExchange(lock, 0, 0, 1) !== 0) Atomics.wait(lock, 0, 1, 20);
  try {
    return fn();
  } finally {
    Atomics.store(lock, 0, 0);
    Atomics.notify(lock, 0);
  }
}

/** Loads (once) and initialises (while used) the library at `modulePath`. Throws HsmError. */
export function acquireModule(modulePath: string): ModuleLease {
  const entry = entryFor(canonicalPath(modulePath));
  const pkcs11 = pin(entry);
  // Initialise when nobody in the process has (or a remote user has, which this call learns from
  // CKR_CRYPTOKI_ALREADY_INITIALIZED): C_Initialize is cheap and idempotent in effect.
  if (entry.refs === 0 || !entry.initializedByUs) initialize(entry, pkcs11);
  entry.refs += 1;
  entry.direct += 1;
  return lease(entry, pkcs11);
}

/** The library loaded in this thread, for the life of the process (see Entry.pkcs11). */
function pin(entry: Entry): Pkcs11 {
  if (entry.pkcs11 !== undefined) return entry.pkcs11;
  const pkcs11 = new pkcs11js.PKCS11();
  try {
    pkcs11.load(entry.path);
  } catch (err) {
    if (entry.refs === 0) registry.delete(entry.path);
    throw new HsmError('HSM_UNAVAILABLE', 'cannot load the PKCS#11 library', { cause: err });
  }
  entry.pkcs11 = pkcs11;
  return pkcs11;
}

/**
 * Counts a user whose PKCS#11 calls run in worker threads (Pkcs11Hsm). Initialises nothing here,
 * but loads the library once in this thread too, to pin it (see Entry.pkcs11). Throws HsmError
 * HSM_UNAVAILABLE when the library cannot be loaded.
 */
export function acquireRemoteModule(modulePath: string): RemoteModuleLease {
  const entry = entryFor(canonicalPath(modulePath));
  pin(entry);
  entry.refs += 1;
  let released = false;
  let attached: ModuleUser | undefined;
  return {
    path: entry.path,
    lifecycleLock: entry.lifecycleLock,
    holdLogin: (tokenKey, pin) => holdLogin(entry, tokenKey, pin),
    noteInitializedByUs: () => {
      entry.initializedByUs = true;
    },
    release: () => {
      if (released) return false;
      released = true;
      if (attached !== undefined) {
        entry.users.delete(attached);
        if (attached.held() > 0) entry.lingering.add(attached);
      }
      entry.refs -= 1;
      if (entry.refs > 0 || !entry.initializedByUs) return false;
      entry.initializedByUs = false;
      return true;
    },
    finalizing: (done) => {
      const settled: Promise<void> = done.catch(() => undefined).then(() => {
        if (entry.finalizing === settled) entry.finalizing = undefined;
      });
      entry.finalizing = settled;
    },
    attach: async (user) => {
      // The check and the registration run in one synchronous step after the last wait, so a
      // re-initialisation starting meanwhile either waits for nothing of ours or includes us.
      for (let pending = busy(entry); pending !== undefined; pending = busy(entry)) await pending.catch(() => undefined);
      if (released) return;
      attached = user;
      entry.users.add(user);
    },
  };
}

function busy(entry: Entry): Promise<void> | undefined {
  return entry.finalizing ?? entry.reinitializing;
}

/**
 * Re-initialises the library at `modulePath` for every user in the process (see the file comment):
 * suspends every attached user, has one of them run C_Finalize + C_Initialize in one of its threads
 * (or, when none has a thread, runs `reinitialize`, which does it in a thread of the caller's
 * choosing, under `lifecycleLock`), resumes the users. A call while one is under way joins it.
 * Does nothing when the library was never loaded in this process. Rejects with HSM_BUSY within
 * MIN_REINITIALIZE_INTERVAL_MS of the last one. Throws HsmError, and re-initialises nothing, when
 * it cannot be done safely: a main-thread lease is open (HSM_UNAVAILABLE), or a call is still held
 * inside the device by a written-off worker (HSM_TIMEOUT) — C_Finalize would pull the library from
 * under it.
 */
export function reinitializeModule(modulePath: string, reinitialize: (lifecycleLock: Int32Array) => Promise<void>): Promise<void> {
  const entry = registry.get(canonicalPath(modulePath));
  if (entry === undefined) return Promise.resolve();
  if (entry.reinitializing !== undefined) return entry.reinitializing;
  const since = performance.now() - entry.lastReinitializedAt;
  if (since < MIN_REINITIALIZE_INTERVAL_MS) {
    return Promise.reject(
      new HsmError('HSM_BUSY', `the PKCS#11 library was re-initialised ${Math.round(since)} ms ago; the next re-initialisation may start in ${Math.ceil(MIN_REINITIALIZE_INTERVAL_MS - since)} ms`),
    );
  }
  const run = async (): Promise<void> => {
    // With no user left the library may still be initialised (a last user that could not finalize
    // it): re-initialising it then costs nothing and is what the next user needs.
    await entry.finalizing?.catch(() => undefined);
    refuseUnsafe(entry);
    const users = [...entry.users];
    try {
      await Promise.all(users.map((user) => user.suspend()));
      refuseUnsafe(entry);
      let done = false;
      for (const user of users) if (!done) done = await user.reinitializeLibrary();
      if (!done) await reinitialize(entry.lifecycleLock);
      entry.initializedByUs = true;
      entry.reinitializations += 1;
    } finally {
      entry.lastReinitializedAt = performance.now();
      for (const user of users) user.resume();
    }
  };
  const done = run().finally(() => {
    if (entry.reinitializing === done) entry.reinitializing = undefined;
  });
  entry.reinitializing = done;
  return done;
}

function refuseUnsafe(entry: Entry): void {
  if (entry.direct > 0) {
    throw new HsmError('HSM_UNAVAILABLE', 'the PKCS#11 library is also in direct use in this process (token set-up); it cannot be re-initialised now');
  }
  let held = 0;
  for (const user of entry.users) held += user.held();
  for (const user of entry.lingering) {
    if (user.held() === 0) entry.lingering.delete(user);
    held += user.held();
  }
  if (held > 0) {
    throw new HsmError('HSM_TIMEOUT', `${held} call(s) are still held inside the PKCS#11 library; it cannot be re-initialised under them`);
  }
}

/** The key under which logins are counted: the token's label, and its serial when configured. */
export function loginKey(selector: TokenSelector): string {
  return `${selector.label ?? ''}\u0000${selector.serial ?? ''}`;
}

function entryFor(path: string): Entry {
  let entry = registry.get(path);
  if (entry === undefined) {
    entry = {
      path,
      pkcs11: undefined,
      refs: 0,
      direct: 0,
      initializedByUs: false,
      users: new Set(),
      lingering: new Set(),
      reinitializing: undefined,
      reinitializations: 0,
      lastReinitializedAt: Number.NEGATIVE_INFINITY,
      logins: new Map(),
      finalizing: undefined,
      lifecycleLock: new Int32Array(new SharedArrayBuffer(4)),
    };
    registry.set(path, entry);
  }
  return entry;
}

/** Bookkeeping for tests and health checks; undefined when the library was never loaded. */
export function describeModule(modulePath: string): { refs: number; initializedByUs: boolean } | undefined {
  const entry = registry.get(canonicalPath(modulePath));
  return entry === undefined ? undefined : { refs: entry.refs, initializedByUs: entry.initializedByUs };
}

/** How often the library was re-initialised while in use (reinitializeModule), for tests and health. */
export function reinitializationsOf(modulePath: string): number {
  return registry.get(canonicalPath(modulePath))?.reinitializations ?? 0;
}

function initialize(entry: Entry, pkcs11: Pkcs11): void {
  try {
    // WARNING: CKF_OS_LOCKING_OK is mandatory. The executor's worker threads (and pkcs11js' *Async
    // calls) use the library from several threads, and SoftHSM2 crashes under concurrent use
    // without it (softhsm/SoftHSMv2#688).
    withLifecycleLock(workerLifecycleLock ?? entry.lifecycleLock, () => pkcs11.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK }));
    entry.initializedByUs = true;
  } catch (err) {
    if (ckrOf(err) === CKR.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
      // Somebody else in this process (or a remote user of ours, which counts itself) owns the
      // initialisation; this lease must never finalize it.
      return;
    }
    const wrapped = toHsmError(err, 'C_Initialize');
    throw new HsmError('HSM_UNAVAILABLE', wrapped.message, { ckr: wrapped.ckr, cause: err });
  }
}

function lease(entry: Entry, pkcs11: Pkcs11): ModuleLease {
  let released = false;
  return {
    path: entry.path,
    pkcs11,
    findSlot: (selector) => findSlot(pkcs11, selector),
    matchingSlots: (selector) => matchingSlots(pkcs11, selector),
    freeSlots: () => freeSlots(pkcs11),
    exclusive: (call) => withLifecycleLock(workerLifecycleLock ?? entry.lifecycleLock, call),
    holdLogin: (tokenKey, pin) => {
      const release = holdLogin(entry, tokenKey, pin);
      return teardownInThisThread ? release : () => (release(), false);
    },
    release: () => {
      if (released) return;
      released = true;
      entry.refs -= 1;
      entry.direct -= 1;
      if (entry.refs === 0 && entry.initializedByUs && teardownInThisThread) {
        entry.initializedByUs = false;
        try {
          withLifecycleLock(entry.lifecycleLock, () => pkcs11.C_Finalize());
        } catch {
          // Already finalized beneath us (device reset); there is nothing left to release.
        }
      }
    },
  };
}

function holdLogin(entry: Entry, key: string, pin: string): () => boolean {
  const pinDigest = createHmac('sha256', PIN_DIGEST_KEY).update(pin, 'utf8').digest();
  const held = entry.logins.get(key);
  if (held === undefined) {
    entry.logins.set(key, { holders: 1, pinDigest });
  } else if (timingSafeEqual(held.pinDigest, pinDigest)) {
    held.holders += 1;
  } else {
    // The held PIN was accepted by the token, so this one is wrong: say so as the token would have
    // (callers such as the cluster connect classify login failures by `ckr`).
    throw new HsmError('HSM_LOGIN_FAILED', 'the token is already logged in in this process with a different PIN', {
      ckr: CKR.CKR_PIN_INCORRECT,
    });
  }
  let done = false;
  return () => {
    const current = entry.logins.get(key);
    if (done || current === undefined) return false;
    done = true;
    current.holders -= 1;
    if (current.holders > 0) return false;
    entry.logins.delete(key);
    return true;
  };
}

function findSlot(pkcs11: Pkcs11, selector: TokenSelector): Handle {
  const matches = matchingSlots(pkcs11, selector);
  if (matches.length === 0) {
    throw new HsmError('HSM_TOKEN_NOT_FOUND', 'no initialised token matches the configured label/serial');
  }
  if (matches.length > 1) {
    throw new HsmError('HSM_TOKEN_NOT_FOUND', 'several tokens match the configured label; configure the serial too');
  }
  return matches[0]!;
}

function matchingSlots(pkcs11: Pkcs11, selector: TokenSelector): Handle[] {
  if (selector.label === undefined && selector.serial === undefined) {
    throw new TypeError('a token selector needs a label or a serial');
  }
  return tokens(pkcs11)
    .filter(
      ({ info }) =>
        (info.flags & pkcs11js.CKF_TOKEN_INITIALIZED) !== 0 &&
        (selector.label === undefined || tokenText(info.label) === selector.label) &&
        (selector.serial === undefined || tokenText(info.serialNumber) === selector.serial),
    )
    .map(({ slot }) => slot);
}

function freeSlots(pkcs11: Pkcs11): Handle[] {
  return tokens(pkcs11)
    .filter(({ info }) => (info.flags & pkcs11js.CKF_TOKEN_INITIALIZED) === 0)
    .map(({ slot }) => slot);
}

function tokens(pkcs11: Pkcs11): { slot: Handle; info: pkcs11js.TokenInfo }[] {
  let slots: Handle[];
  try {
    slots = pkcs11.C_GetSlotList(true);
  } catch (err) {
    throw toHsmError(err, 'C_GetSlotList');
  }
  const found: { slot: Handle; info: pkcs11js.TokenInfo }[] = [];
  for (const slot of slots) {
    try {
      found.push({ slot, info: pkcs11.C_GetTokenInfo(slot) });
    } catch {
      // A token removed between C_GetSlotList and C_GetTokenInfo is simply not a candidate.
    }
  }
  return found;
}

/**
 * A CK_TOKEN_INFO text field as a string: PKCS#11 pads with spaces, but pkcs11js' C_InitToken pads
 * a short label with NULs, so tokens made by other tools may carry either.
 */
export function tokenText(field: string): string {
  return field.replace(/[\s\0]+$/u, '');
}

/**
 * `label` padded with spaces to exactly 32 bytes, as C_InitToken must receive it.
 * WARNING: pass the padded form to pkcs11js' C_InitToken; unpadded, it pads with NULs and the token
 * label no longer compares equal in tools that only trim spaces (softhsm2-util, p11tool).
 */
export function padTokenLabel(label: string): string {
  const bytes = Buffer.byteLength(label, 'utf8');
  if (label.length === 0 || bytes > TOKEN_LABEL_BYTES) {
    throw new TypeError(`a token label must be 1 to ${TOKEN_LABEL_BYTES} bytes`);
  }
  if (tokenText(label) !== label) throw new TypeError('a token label must not end in blanks');
  return label + ' '.repeat(TOKEN_LABEL_BYTES - bytes);
}

// Symlinked paths to one library dlopen the same code and share one initialisation; keying the
// registry by real path keeps the refcount honest.
function canonicalPath(modulePath: string): string {
  const absolute = resolve(modulePath);
  try {
    return realpathSync(absolute);
  } catch {
    return absolute;
  }
}
