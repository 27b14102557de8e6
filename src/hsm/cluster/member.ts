// One member of a cluster at run time: its Pkcs11Hsm (when open), its health state and why, the
// work outstanding on it, and its circuit breaker.
//
// States: ACTIVE (healthy), DEGRADED (serving, but its last deep check was slow or a replication
// to it failed), UNAVAILABLE (not serving: it did not open, its breaker tripped, or a deep check
// failed). An UNAVAILABLE member comes back only through recover(): a controlled reset (close the
// old connection, open a new one: sessions, login, handle cache — and, when the token is not found,
// a re-initialisation of its library: Pkcs11Hsm.open), a resync of missed keys, and a passing deep
// check — all driven by the cluster's health checker, retried with exponential backoff up to a
// ceiling for as long as the cluster is connected: never given up.

import { performance } from 'node:perf_hooks';

import type { Logger } from 'pino';

import { HsmError } from '../../ports/hsm.js';
import { toHsmError } from '../pkcs11/ckr.js';
import type { ClusterMember } from './cluster-hsm.js';
import type { Pkcs11Hsm } from '../pkcs11/pkcs11-hsm.js';
import type { MemberState, MemberStatus } from '../../ports/key-stores.js';

export type { MemberState, MemberStatus };

export interface MemberTransition {
  readonly member: string;
  readonly from: MemberState;
  readonly to: MemberState;
  readonly reason: string | undefined;
}

/** The longest wait between two recovery attempts, unless the cluster says otherwise (issue #19). */
export const DEFAULT_MAX_RETRY_INTERVAL_MS = 30_000;

export class MemberRuntime {
  private current: Pkcs11Hsm | undefined;
  // The connection a reset closed: its written-off workers may still be inside the device.
  private previous: Pkcs11Hsm | undefined;
  private memberState: MemberState = 'UNAVAILABLE';
  private why: string | undefined = 'not opened yet';
  private sinceMs = Date.now();
  private failuresInARow = 0;
  private attempts = 0;
  private nextAttemptAt = 0;
  // The same instant on the wall clock, for the health output.
  private nextAttemptWallMs: number | undefined;
  private resetCount = 0;
  private check: MemberStatus['lastCheck'];
  /** Calls running on this member now (least-outstanding load balancing, concurrency limit). */
  outstanding = 0;

  constructor(
    readonly config: ClusterMember,
    private readonly openHsm: () => Promise<Pkcs11Hsm>,
    private readonly onTransition: (transition: MemberTransition) => void,
    private readonly logger: Logger | undefined,
    private readonly maxRetryIntervalMs = DEFAULT_MAX_RETRY_INTERVAL_MS,
  ) {}

  get name(): string {
    return this.config.name;
  }

  get tokenLabel(): string {
    return this.config.tokenLabel;
  }

  get state(): MemberState {
    return this.memberState;
  }

  /** Serving requests: open, and not UNAVAILABLE. */
  get usable(): boolean {
    return this.current !== undefined && this.memberState !== 'UNAVAILABLE';
  }

  /** The open connection. Throws HSM_UNAVAILABLE when the member is not open. */
  get hsm(): Pkcs11Hsm {
    if (this.current === undefined) {
      throw new HsmError('HSM_UNAVAILABLE', `cluster member ${this.name} is not connected (${this.why ?? 'unknown reason'})`);
    }
    return this.current;
  }

  /** The connection whether or not the member serves (recovery uses it before going ACTIVE). */
  get connection(): Pkcs11Hsm | undefined {
    return this.current;
  }

  /** Opens the member for the first time; on failure it stays UNAVAILABLE with the reason. */
  async open(): Promise<void> {
    this.current = await this.openHsm();
  }

  adoptOpenFailure(error: HsmError): void {
    this.setState('UNAVAILABLE', `did not open: ${describe(error)}`);
    this.scheduleRetry(1_000);
  }

  markServing(state: 'ACTIVE' | 'DEGRADED', reason?: string): void {
    this.failuresInARow = 0;
    this.attempts = 0;
    this.nextAttemptWallMs = undefined;
    this.setState(state, state === 'ACTIVE' ? undefined : reason);
  }

  /** A call succeeded on this member. */
  succeeded(): void {
    this.failuresInARow = 0;
  }

  /**
   * A call failed in a way that says something about the member. Trips the breaker at once for
   * device-class failures (`trip`), otherwise after `threshold` failures in a row.
   */
  failed(error: HsmError, trip: boolean, threshold: number): void {
    this.failuresInARow += 1;
    if (trip || this.failuresInARow >= threshold) this.trip(describe(error));
  }

  /**
   * Opens the breaker: no new work is routed here. In-flight calls finish or fail on their own;
   * the old connection is closed in the background (bounded by the pool's close timeout).
   */
  trip(reason: string, retryBaseMs = 0): void {
    if (this.memberState === 'UNAVAILABLE' && this.current === undefined) return;
    this.setState('UNAVAILABLE', reason);
    const old = this.current;
    this.current = undefined;
    this.scheduleRetry(retryBaseMs);
    if (old !== undefined) {
      this.previous = old;
      void closeQuietly(old, this.logger, this.name);
    }
  }

  /** Whether the health checker should try to bring this member back now. */
  dueForRecovery(now: number): boolean {
    return this.memberState === 'UNAVAILABLE' && now >= this.nextAttemptAt;
  }

  /**
   * The controlled reset: a fresh connection (the old one is closed; when this member was the
   * library's last user in the process, that means C_Finalize and a new C_Initialize). Returns the
   * new connection, which does not serve until the caller has resynced and checked it.
   */
  async reopen(baseBackoffMs: number): Promise<Pkcs11Hsm> {
    // A device still holding calls (written off at their deadline, their threads not ended) would
    // only hold the new connection's calls too: each attempt would start threads that hang, and
    // their start-up costs the CPU the other members serve with. Wait until it lets them go.
    const held = (this.current ?? this.previous)?.stats().lost ?? 0;
    if (held > 0) {
      const error = new HsmError('HSM_TIMEOUT', `${held} call(s) are still held by the device`);
      this.why = `reset postponed: ${describe(error)}`;
      this.scheduleRetry(baseBackoffMs);
      throw error;
    }
    const old = this.current;
    this.current = undefined;
    if (old !== undefined) {
      this.previous = old;
      await closeQuietly(old, this.logger, this.name);
    }
    try {
      this.current = await this.openHsm();
      this.resetCount += 1;
      return this.current;
    } catch (err) {
      const error = toHsmError(err, 'reopening the member');
      this.why = `reset failed: ${describe(error)}`;
      this.scheduleRetry(baseBackoffMs);
      throw error;
    }
  }

  /** Recovery got the member open but could not finish (resync or deep check failed). */
  recoveryFailed(reason: string, baseBackoffMs: number): void {
    if (this.memberState === 'UNAVAILABLE' && this.current === undefined) {
      this.why = reason;
      this.scheduleRetry(baseBackoffMs);
    } else {
      this.trip(reason, baseBackoffMs);
    }
  }

  recordCheck(ok: boolean, latencyMs: number): void {
    this.check = { at: new Date().toISOString(), ok, latencyMs: Math.round(latencyMs * 100) / 100 };
  }

  status(): MemberStatus {
    return {
      name: this.name,
      tokenLabel: this.config.tokenLabel,
      state: this.memberState,
      reason: this.why,
      since: new Date(this.sinceMs).toISOString(),
      outstanding: this.outstanding,
      pool: this.current?.stats(),
      lastCheck: this.check,
      resets: this.resetCount,
      nextAttempt: this.memberState === 'UNAVAILABLE' && this.nextAttemptWallMs !== undefined ? new Date(this.nextAttemptWallMs).toISOString() : undefined,
      recoveryAttempts: this.attempts,
    };
  }

  async close(): Promise<void> {
    const old = this.current;
    this.current = undefined;
    if (old !== undefined) await old.close();
  }

  /** The next attempt: `baseMs` doubled per failed attempt in a row, never more than the ceiling. */
  private scheduleRetry(baseMs: number): void {
    const delay = Math.min(baseMs * 2 ** Math.min(this.attempts, 30), this.maxRetryIntervalMs);
    this.attempts += 1;
    this.nextAttemptAt = performance.now() + delay;
    this.nextAttemptWallMs = Date.now() + delay;
    if (this.attempts > 1) this.logger?.warn({ member: this.name, attempt: this.attempts - 1, reason: this.why, retryInMs: Math.round(delay) }, 'cluster member still unavailable');
  }

  private setState(state: MemberState, reason: string | undefined): void {
    const from = this.memberState;
    const changed = from !== state || this.why !== reason;
    this.memberState = state;
    this.why = reason;
    if (from !== state) this.sinceMs = Date.now();
    if (changed) this.onTransition({ member: this.name, from, to: state, reason });
  }
}

export function describe(error: HsmError): string {
  return error.ckr === undefined ? `${error.code}: ${error.message}` : `${error.code}: ${error.message}`;
}

async function closeQuietly(hsm: Pkcs11Hsm, logger: Logger | undefined, member: string): Promise<void> {
  try {
    await hsm.close();
  } catch (err) {
    logger?.warn({ member, hsmError: toHsmError(err, 'closing').code }, 'cluster member did not close cleanly');
  }
}
