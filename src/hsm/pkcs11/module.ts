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

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { resolve } from 'node:path';

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
  /** Resolves once no finalize of this library is under way (await before starting workers). */
  settled(): Promise<void>;
}

interface Entry {
  readonly path: string;
  // WARNING: kept strongly referenced for the life of the process. Letting the pkcs11js object be
  // collected (or dlclose-ing the library) while sessions or async calls exist crashes the process.
  // Undefined while only remote users (worker threads) have the library loaded.
  pkcs11: Pkcs11 | undefined;
  refs: number;
  initializedByUs: boolean;
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
  const path = canonicalPath(modulePath);
  const entry = entryFor(path);
  if (entry.pkcs11 === undefined) {
    const pkcs11 = new pkcs11js.PKCS11();
    try {
      pkcs11.load(path);
    } catch (err) {
      if (entry.refs === 0) registry.delete(path);
      throw new HsmError('HSM_UNAVAILABLE', 'cannot load the PKCS#11 library', { cause: err });
    }
    entry.pkcs11 = pkcs11;
  }
  // Initialise when nobody in the process has (or a remote user has, which this call learns from
  // CKR_CRYPTOKI_ALREADY_INITIALIZED): C_Initialize is cheap and idempotent in effect.
  if (entry.refs === 0 || !entry.initializedByUs) initialize(entry, entry.pkcs11);
  entry.refs += 1;
  return lease(entry, entry.pkcs11);
}

/** Counts a user whose PKCS#11 calls run in worker threads (Pkcs11Hsm). Loads nothing here. */
export function acquireRemoteModule(modulePath: string): RemoteModuleLease {
  const entry = entryFor(canonicalPath(modulePath));
  entry.refs += 1;
  let released = false;
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
    settled: () => entry.finalizing ?? Promise.resolve(),
  };
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
      initializedByUs: false,
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
