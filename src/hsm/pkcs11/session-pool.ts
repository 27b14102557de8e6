// The session pool of one token: a logged-in anchor session for the pool's life, and work sessions
// leased exclusively, one operation at a time.
//
// Why an anchor: login belongs to the application and token, not to a session. Closing the last
// session logs the token out, and a C_Logout on any session logs out all of them, so we hold one
// session that stays logged in and never log out until close().

import { performance } from 'node:perf_hooks';

import pkcs11js from 'pkcs11js';
import type { Logger } from 'pino';

import { HsmError } from '../../ports/hsm.js';
import { CKR, ckrOf, ckrRule, toHsmError } from './ckr.js';
import type { Handle, ModuleLease, Pkcs11 } from './module.js';

// CK_STATE values (PKCS#11 v2.40 §5.7.1); pkcs11js does not export them.
const CKS_RO_USER_FUNCTIONS = 1;
const CKS_RW_USER_FUNCTIONS = 3;

const WORK_SESSION_FLAGS = pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION;
const DEFAULT_CLOSE_TIMEOUT_MS = 5_000;

export interface SessionPoolOptions {
  /** The pool takes the lease over once open() succeeds and releases it at the end of close(). */
  readonly module: ModuleLease;
  readonly slot: Handle;
  /** The token's key in the process-wide login count (loginKey()). */
  readonly tokenKey: string;
  readonly pin: string;
  /** Work sessions, not counting the anchor. Clamped to what the token reports it allows. */
  readonly maxSessions: number;
  readonly acquireTimeoutMs: number;
  readonly validateAfterIdleMs: number;
  /** How long close() waits for leased sessions to come back. */
  readonly closeTimeoutMs?: number;
  readonly logger?: Logger | undefined;
}

export interface SessionPoolStats {
  readonly open: number;
  readonly idle: number;
  readonly leased: number;
  readonly waiting: number;
  readonly limit: number;
  readonly generation: number;
  /** Work sessions the token itself allows this application besides the anchor (Infinity: no limit known). */
  readonly tokenLimit: number;
}

interface WorkSession {
  readonly handle: Handle;
  lastUsed: number;
}

interface Waiter {
  readonly resolve: (session: WorkSession) => void;
  readonly reject: (err: HsmError) => void;
  readonly timer: NodeJS.Timeout;
}

export class SessionPool {
  private readonly pkcs11: Pkcs11;
  private readonly idle: WorkSession[] = [];
  private readonly leased = new Set<WorkSession>();
  private readonly waiters: Waiter[] = [];
  private readonly releaseLogin: () => boolean;
  private anchor: Handle;
  private opened = 0;
  private limit: number;
  private loginGeneration = 0;
  private state: 'open' | 'closing' | 'closed' = 'open';
  private closing: Promise<void> | undefined;
  private onDrained: (() => void) | undefined;
  private teardownDeferred = false;
  private logoutOnClose = false;

  private constructor(
    private readonly options: SessionPoolOptions,
    anchor: Handle,
    limit: number,
    private readonly tokenLimit: number,
    releaseLogin: () => boolean,
  ) {
    this.pkcs11 = options.module.pkcs11;
    this.anchor = anchor;
    this.limit = limit;
    this.releaseLogin = releaseLogin;
  }

  /**
   * Opens the anchor session and logs the user in. Throws HsmError (HSM_LOGIN_FAILED on a wrong
   * PIN); on failure nothing stays open and the caller still owns `options.module`.
   */
  static open(options: SessionPoolOptions): SessionPool {
    if (!Number.isInteger(options.maxSessions) || options.maxSessions < 1) {
      throw new TypeError('maxSessions must be a positive integer');
    }
    const { pkcs11 } = options.module;
    const releaseLogin = options.module.holdLogin(options.tokenKey, options.pin);
    let anchor: Handle;
    try {
      anchor = options.module.exclusive(() => pkcs11.C_OpenSession(options.slot, WORK_SESSION_FLAGS));
    } catch (err) {
      releaseLogin();
      throw toHsmError(err, 'C_OpenSession (anchor)');
    }
    try {
      loginUser(options.module, anchor, options.pin);
    } catch (err) {
      // WARNING: no C_Logout here even if we were the first holder: the failed C_Login logged
      // nobody in, and a logout would log out anybody else in this process using the token.
      releaseLogin();
      closeQuietly(options.module, anchor);
      throw toHsmError(err, 'C_Login');
    }
    const tokenLimit = tokenSessionLimit(pkcs11, options.slot);
    return new SessionPool(options, anchor, Math.min(options.maxSessions, tokenLimit), tokenLimit, releaseLogin);
  }

  /**
   * Bumped every time we had to log in again. Object handles found under an older generation may
   * be dead (SoftHSM2 renumbers private objects on logout) and must be looked up again.
   */
  get generation(): number {
    return this.loginGeneration;
  }

  stats(): SessionPoolStats {
    return {
      open: this.opened,
      idle: this.idle.length,
      leased: this.leased.size,
      waiting: this.waiters.length,
      limit: this.limit,
      generation: this.loginGeneration,
      tokenLimit: this.tokenLimit,
    };
  }

  /**
   * Runs `fn` with a work session leased for its exclusive use and returns the session in `finally`.
   * Waits (FIFO) for a free session up to acquireTimeoutMs, then throws HSM_BUSY.
   *
   * WARNING: `fn` may run twice — once more on a fresh session after a session-class error, or after
   * logging in again on CKR_USER_NOT_LOGGED_IN. It must start its PKCS#11 operation from scratch
   * (its own *Init) and have no side effects before the call that failed.
   *
   * Errors thrown by `fn` as HsmError are taken as already classified: the session is kept.
   * Everything leaving this method is an HsmError.
   */
  async withSession<T>(fn: (session: Handle) => Promise<T>): Promise<T> {
    let retriedSession = false;
    let retriedLogin = false;
    for (;;) {
      const session = await this.acquire();
      let evict = false;
      try {
        return await fn(session.handle);
      } catch (err) {
        if (err instanceof HsmError) throw err;
        const code = ckrOf(err);
        const rule = code === undefined ? undefined : ckrRule(code);
        evict = rule === undefined || rule.session !== 'keep';
        if (rule?.session === 'reset') this.discardIdle();
        // Sessions seldom die alone (token restart, C_CloseAllSessions, a network HSM dropping the
        // client): weed out dead siblings so the single retry does not land on one of them.
        if (code === CKR.CKR_SESSION_HANDLE_INVALID || code === CKR.CKR_SESSION_CLOSED) this.discardDeadIdle();
        if (rule !== undefined && evict) {
          this.options.logger?.warn({ ckr: rule.name, fate: rule.session }, 'pkcs11 session evicted');
        }
        if (rule?.recovery === 'new-session' && !retriedSession && this.state === 'open') {
          retriedSession = true;
          continue;
        }
        if (rule?.recovery === 'relogin' && !retriedLogin && this.state === 'open') {
          retriedLogin = true;
          this.relogin();
          continue;
        }
        throw toHsmError(err, 'PKCS#11 operation');
      } finally {
        this.release(session, evict);
      }
    }
  }

  /**
   * Checks through the anchor that the user is still logged in and logs in again if not.
   * Returns true when it had to (callers then retry a lookup that found nothing). Throws HsmError.
   */
  ensureLoggedIn(): boolean {
    let state: number;
    try {
      state = this.pkcs11.C_GetSessionInfo(this.anchor).state;
    } catch (err) {
      if (ckrRule(ckrOf(err) ?? -1).recovery !== 'new-session') throw toHsmError(err, 'C_GetSessionInfo (anchor)');
      this.relogin();
      return true;
    }
    if (state === CKS_RW_USER_FUNCTIONS || state === CKS_RO_USER_FUNCTIONS) return false;
    this.relogin();
    return true;
  }

  /**
   * Stops leasing, waits (bounded) for leased sessions, closes the work sessions, logs out (if no
   * other pool in this process still needs the login on this token), closes the anchor and
   * releases the module. Idempotent.
   */
  close(options: { logout?: boolean } = {}): Promise<void> {
    // In an executor worker the process-wide login count lives on the main thread, which says here
    // whether this pool's close is the token's last (see module.ts).
    if (options.logout === true) this.logoutOnClose = true;
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.state = 'closing';
    for (const waiter of this.waiters.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.reject(closedError());
    }
    if (this.leased.size > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.options.closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS);
        this.onDrained = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.onDrained = undefined;
    }
    this.state = 'closed';
    this.discardIdle();
    if (this.leased.size > 0) {
      // WARNING: logging out or finalizing under an operation still running on a libuv thread can
      // crash the library; the last straggler to come back does the teardown (see release()).
      this.options.logger?.warn({ leased: this.leased.size }, 'pkcs11 pool closed with sessions still leased');
      this.teardownDeferred = true;
      return;
    }
    this.teardown();
  }

  private teardown(): void {
    if (this.releaseLogin() || this.logoutOnClose) {
      try {
        this.options.module.exclusive(() => this.pkcs11.C_Logout(this.anchor));
      } catch {
        // Already logged out (or the device is gone); closing the anchor is all that is left.
      }
    }
    closeQuietly(this.options.module, this.anchor);
    this.options.module.release();
  }

  private acquire(): Promise<WorkSession> {
    if (this.state !== 'open') return Promise.reject(closedError());
    // Do not overtake callers that are already waiting.
    if (this.waiters.length === 0) {
      try {
        const ready = this.takeReady();
        if (ready !== undefined) return Promise.resolve(ready);
      } catch (err) {
        return Promise.reject(toHsmError(err, 'C_OpenSession'));
      }
    }
    return new Promise<WorkSession>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          const at = this.waiters.indexOf(waiter);
          if (at >= 0) this.waiters.splice(at, 1);
          reject(busyError(this.options.acquireTimeoutMs));
        }, this.options.acquireTimeoutMs),
      };
      this.waiters.push(waiter);
    });
  }

  /** A usable session marked leased, or undefined at the limit. Throws when opening fails. */
  private takeReady(): WorkSession | undefined {
    // LIFO keeps a few sessions warm; sessions at the bottom age and get validated before reuse.
    for (let session = this.idle.pop(); session !== undefined; session = this.idle.pop()) {
      let usable: boolean;
      try {
        usable = this.stillUsable(session);
      } catch (err) {
        this.idle.push(session);
        throw err;
      }
      if (usable) {
        this.leased.add(session);
        return session;
      }
      this.discard(session);
    }
    if (this.opened >= this.limit) return undefined;
    let handle: Handle;
    try {
      handle = this.options.module.exclusive(() => this.pkcs11.C_OpenSession(this.options.slot, WORK_SESSION_FLAGS));
    } catch (err) {
      if (ckrOf(err) === CKR.CKR_SESSION_COUNT && this.opened > 0) {
        // The token allows fewer sessions than configured (other applications hold some): shrink
        // to what we have and wait for one of ours instead of failing.
        this.limit = this.opened;
        this.options.logger?.warn({ limit: this.limit }, 'pkcs11 token session limit reached; pool shrunk');
        return undefined;
      }
      throw err;
    }
    // A token may hand out again the number of a session it dropped beneath us (SoftHSM2 2.6.1
    // does not; its handles only grow). WARNING: two pool entries with one handle would put two
    // operations on one session, so forget the dead entry (without closing: that would close ours).
    const alias = this.idle.findIndex((idle) => idle.handle.equals(handle));
    if (alias >= 0) {
      this.idle.splice(alias, 1);
      this.opened -= 1;
    }
    this.opened += 1;
    const session: WorkSession = { handle, lastUsed: performance.now() };
    this.leased.add(session);
    return session;
  }

  // Network HSMs (and their client middleware) drop idle sessions silently; ask before reuse.
  private stillUsable(session: WorkSession): boolean {
    if (performance.now() - session.lastUsed < this.options.validateAfterIdleMs) return true;
    let state: number;
    try {
      state = this.pkcs11.C_GetSessionInfo(session.handle).state;
    } catch {
      return false;
    }
    if (state !== CKS_RW_USER_FUNCTIONS && state !== CKS_RO_USER_FUNCTIONS) this.relogin();
    return true;
  }

  private release(session: WorkSession, evict: boolean): void {
    this.leased.delete(session);
    if (evict || this.state === 'closed') {
      this.discard(session);
    } else {
      session.lastUsed = performance.now();
      this.idle.push(session);
    }
    this.dispatch();
    if (this.leased.size === 0) {
      this.onDrained?.();
      if (this.teardownDeferred) {
        this.teardownDeferred = false;
        this.teardown();
      }
    }
  }

  /** Hands free or newly opened sessions to waiters, oldest first. */
  private dispatch(): void {
    while (this.waiters.length > 0 && this.state === 'open') {
      let session: WorkSession | undefined;
      try {
        session = this.takeReady();
      } catch (err) {
        const waiter = this.waiters.shift()!;
        clearTimeout(waiter.timer);
        waiter.reject(toHsmError(err, 'C_OpenSession'));
        continue;
      }
      if (session === undefined) return;
      const waiter = this.waiters.shift()!;
      clearTimeout(waiter.timer);
      waiter.resolve(session);
    }
  }

  private discard(session: WorkSession): void {
    this.opened -= 1;
    closeQuietly(this.options.module, session.handle);
  }

  private discardIdle(): void {
    for (const session of this.idle.splice(0)) this.discard(session);
  }

  private discardDeadIdle(): void {
    for (const session of this.idle.splice(0)) {
      try {
        this.pkcs11.C_GetSessionInfo(session.handle);
        this.idle.push(session);
      } catch {
        this.discard(session);
      }
    }
  }

  /**
   * Logs in again through the anchor (reopening it if it is gone) and bumps the generation, since
   * a logout happened and object handles may have died with it.
   */
  private relogin(): void {
    this.loginGeneration += 1;
    try {
      loginUser(this.options.module, this.anchor, this.options.pin);
    } catch (err) {
      if (ckrRule(ckrOf(err) ?? -1).recovery !== 'new-session') throw toHsmError(err, 'C_Login');
      closeQuietly(this.options.module, this.anchor);
      try {
        this.anchor = this.options.module.exclusive(() => this.pkcs11.C_OpenSession(this.options.slot, WORK_SESSION_FLAGS));
        loginUser(this.options.module, this.anchor, this.options.pin);
      } catch (reopenErr) {
        throw toHsmError(reopenErr, 'C_OpenSession/C_Login (anchor)');
      }
    }
    this.options.logger?.warn({ generation: this.loginGeneration }, 'pkcs11 token was logged out; logged in again');
  }
}

// CKR_USER_ALREADY_LOGGED_IN means another of our sessions (or another part of this process) holds
// the login already, which is all we need.
function loginUser(module: ModuleLease, session: Handle, pin: string): void {
  try {
    module.exclusive(() => module.pkcs11.C_Login(session, pkcs11js.CKU_USER, pin));
  } catch (err) {
    if (ckrOf(err) !== CKR.CKR_USER_ALREADY_LOGGED_IN) throw err;
  }
}

function closeQuietly(module: ModuleLease, session: Handle): void {
  try {
    module.exclusive(() => module.pkcs11.C_CloseSession(session));
  } catch {
    // Already closed beneath us; nothing to give back.
  }
}

// ulMaxRwSessionCount: 0 is CK_EFFECTIVELY_INFINITE (SoftHSM2), ~0 CK_UNAVAILABLE_INFORMATION.
// One session is the anchor's.
function tokenSessionLimit(pkcs11: Pkcs11, slot: Handle): number {
  try {
    const max = pkcs11.C_GetTokenInfo(slot).maxRwSessionCount;
    return max > 1 && max < 0xffff_ffff ? max - 1 : Number.POSITIVE_INFINITY;
  } catch {
    return Number.POSITIVE_INFINITY;
  }
}

function busyError(timeoutMs: number): HsmError {
  return new HsmError('HSM_BUSY', `no PKCS#11 session became free within ${timeoutMs} ms`);
}

function closedError(): HsmError {
  return new HsmError('HSM_UNAVAILABLE', 'the PKCS#11 session pool is closed');
}
