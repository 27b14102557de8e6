// The Hsm port over a PKCS#11 *cluster*: the members (tokens, one Pkcs11Hsm each) behind a custom
// key store, logged in with the store's crypto-user PIN (its KeyStorePassword), used as one.
//
// Connecting opens every member; the connection succeeds when at least `minMembers` of them open.
// When it fails, the ConnectionErrorCode (reference §4.1, fix-keystore) comes from what really
// happened on each member, classified by HsmError.code and .ckr only (never by message text).
//
// Replication of key objects across members arrives with the cluster-resilience issue. Until then
// a key is generated on the first active member only, and operations on a key look for it on the
// active members in the configured order.

import { resolve } from 'node:path';

import type { Logger } from 'pino';

import type { ConnectionErrorCode } from '../domain/custom-key-store.js';
import { HsmError, type BackingKeyRef, type GcmResult, type Hsm } from '../ports/hsm.js';
import { CKR, ckrName, toHsmError } from './ckr.js';
import { Pkcs11Hsm } from './pkcs11-hsm.js';
import type { VendorProfile } from './vendor-profile.js';

export interface ClusterMember {
  /** Unique within the cluster; used in logs and by activeMembers(). */
  readonly name: string;
  readonly modulePath: string;
  readonly tokenLabel: string;
  readonly tokenSerial?: string;
  readonly profile: VendorProfile;
}

export interface ClusterConnectOptions {
  readonly clusterId: string;
  readonly members: readonly ClusterMember[];
  /** The crypto-user PIN (the store's KeyStorePassword). Never logged, never in an error. */
  readonly pin: string;
  /** Members that must open for the connection to succeed (>= 1). */
  readonly minMembers: number;
  readonly logger?: Logger;
  /** Per member; defaults to the member's vendor profile. */
  readonly maxSessions?: number;
  readonly acquireTimeoutMs?: number;
}

/** Why one member did not open. */
export interface ClusterMemberFailure {
  readonly member: string;
  readonly connectionErrorCode: ConnectionErrorCode;
  readonly error: HsmError;
}

/** Thrown by ClusterHsm.connect when fewer than minMembers members opened. */
export class ClusterConnectError extends Error {
  readonly code = 'CLUSTER_CONNECT_FAILED';
  readonly clusterId: string;
  /** What the custom key store reports (CustomKeyStoresListEntry.ConnectionErrorCode). */
  readonly connectionErrorCode: ConnectionErrorCode;
  /** Per-member causes, for logs, in the configured member order. */
  readonly failures: readonly ClusterMemberFailure[];
  /** Members that did open (and were closed again). */
  readonly opened: readonly string[];

  constructor(clusterId: string, connectionErrorCode: ConnectionErrorCode, failures: readonly ClusterMemberFailure[], opened: readonly string[], minMembers: number) {
    super(
      `cluster ${clusterId}: ${opened.length} of ${opened.length + failures.length} members opened, ${minMembers} needed (${connectionErrorCode})`,
      { cause: new AggregateError(failures.map((failure) => failure.error), 'cluster member failures') },
    );
    this.name = 'ClusterConnectError';
    this.clusterId = clusterId;
    this.connectionErrorCode = connectionErrorCode;
    this.failures = failures;
    this.opened = opened;
  }
}

// Login failures that are about the crypto user, not the cluster. Everything here fails the
// connection with its own code even when other members are missing or opened.
const CREDENTIAL_CODES: ReadonlyMap<number, ConnectionErrorCode> = new Map<number, ConnectionErrorCode>([
  [CKR.CKR_PIN_INCORRECT, 'INVALID_CREDENTIALS'],
  [CKR.CKR_PIN_INVALID, 'INVALID_CREDENTIALS'],
  [CKR.CKR_PIN_LEN_RANGE, 'INVALID_CREDENTIALS'],
  [CKR.CKR_PIN_LOCKED, 'USER_LOCKED_OUT'],
  [CKR.CKR_USER_PIN_NOT_INITIALIZED, 'USER_NOT_FOUND'],
  [CKR.CKR_USER_TYPE_INVALID, 'USER_NOT_FOUND'],
  [CKR.CKR_USER_ANOTHER_ALREADY_LOGGED_IN, 'USER_LOGGED_IN'],
]);

const CREDENTIAL_CLASS: ReadonlySet<ConnectionErrorCode> = new Set(CREDENTIAL_CODES.values());

/**
 * The ConnectionErrorCode for one member that failed to open (Pkcs11Hsm.open's HsmError).
 * A wrong PIN on a token this process already holds logged in arrives as HSM_LOGIN_FAILED with
 * ckr CKR_PIN_INCORRECT from the module registry (SoftHSM2 itself would answer
 * CKR_USER_ALREADY_LOGGED_IN without looking at the PIN).
 */
export function connectionErrorCodeOf(err: HsmError): ConnectionErrorCode {
  const credentials = err.ckr === undefined ? undefined : CREDENTIAL_CODES.get(err.ckr);
  if (credentials !== undefined) return credentials;
  // At open, HSM_UNAVAILABLE means the library could not be loaded or initialised (or the device
  // is gone), HSM_TOKEN_NOT_FOUND that no token (or more than one) matches the label/serial.
  if (err.code === 'HSM_UNAVAILABLE' || err.code === 'HSM_TOKEN_NOT_FOUND') return 'CLUSTER_NOT_FOUND';
  return 'INTERNAL_ERROR';
}

/**
 * The connection's ConnectionErrorCode when fewer than minMembers opened:
 * 1. the first credentials-class code in member order (a wrong PIN is INVALID_CREDENTIALS even
 *    if another member is missing, or another member opened);
 * 2. CLUSTER_NOT_FOUND when no member could be found at all;
 * 3. INSUFFICIENT_CLOUDHSM_HSMS when some members opened: the cluster is there and works, it has
 *    too few usable HSMs (the others are missing or broken);
 * 4. INTERNAL_ERROR otherwise: nothing opened and at least one member that was not simply missing
 *    failed for another reason, so nothing says the cluster is healthy-but-small (retry, see logs).
 */
export function clusterConnectionErrorCode(openedCount: number, failures: readonly ClusterMemberFailure[]): ConnectionErrorCode {
  const credentials = failures.find((failure) => CREDENTIAL_CLASS.has(failure.connectionErrorCode));
  if (credentials !== undefined) return credentials.connectionErrorCode;
  if (openedCount === 0 && failures.every((failure) => failure.connectionErrorCode === 'CLUSTER_NOT_FOUND')) return 'CLUSTER_NOT_FOUND';
  if (openedCount > 0) return 'INSUFFICIENT_CLOUDHSM_HSMS';
  return 'INTERNAL_ERROR';
}

interface ActiveMember {
  readonly name: string;
  readonly hsm: Pkcs11Hsm;
}

export class ClusterHsm implements Hsm {
  private closing: Promise<void> | undefined;

  private constructor(
    readonly clusterId: string,
    private readonly members: readonly ActiveMember[],
    private readonly logger: Logger | undefined,
  ) {}

  /**
   * Opens every member (Pkcs11Hsm.open with the PIN) and resolves once at least minMembers did;
   * the members that did not are logged as unavailable and stay out of this connection.
   * Throws ClusterConnectError (after closing the members that opened) when fewer opened, and
   * TypeError for options that can never describe a cluster (no members, duplicate members,
   * minMembers not a positive integer).
   *
   * NOTE: the opens are started together, but Pkcs11Hsm.open makes its PKCS#11 calls
   * synchronously (pkcs11js has no async C_Login/C_OpenSession), so they run one after the other
   * on the event-loop thread; a member whose library hangs holds up the process meanwhile.
   */
  static async connect(options: ClusterConnectOptions): Promise<ClusterHsm> {
    validate(options);
    const logger = options.logger?.child({ component: 'cluster', clusterId: options.clusterId });
    const outcomes = await Promise.allSettled(
      options.members.map((member) =>
        Pkcs11Hsm.open({
          modulePath: member.modulePath,
          tokenLabel: member.tokenLabel,
          ...(member.tokenSerial === undefined ? {} : { tokenSerial: member.tokenSerial }),
          pin: options.pin,
          profile: member.profile,
          ...(options.maxSessions === undefined ? {} : { maxSessions: options.maxSessions }),
          ...(options.acquireTimeoutMs === undefined ? {} : { acquireTimeoutMs: options.acquireTimeoutMs }),
          ...(logger === undefined ? {} : { logger: logger.child({ member: member.name }) }),
        }),
      ),
    );

    const opened: ActiveMember[] = [];
    const failures: ClusterMemberFailure[] = [];
    outcomes.forEach((outcome, at) => {
      const { name } = options.members[at]!;
      if (outcome.status === 'fulfilled') {
        opened.push({ name, hsm: outcome.value });
      } else {
        const error = toHsmError(outcome.reason, 'opening the cluster member');
        failures.push({ member: name, connectionErrorCode: connectionErrorCodeOf(error), error });
      }
    });
    for (const failure of failures) {
      logger?.warn(
        {
          member: failure.member,
          connectionErrorCode: failure.connectionErrorCode,
          hsmError: failure.error.code,
          ...(failure.error.ckr === undefined ? {} : { ckr: ckrName(failure.error.ckr) }),
        },
        'cluster member unavailable',
      );
    }

    if (opened.length >= options.minMembers) {
      logger?.info({ active: opened.map((member) => member.name), configured: options.members.length }, 'cluster connected');
      return new ClusterHsm(options.clusterId, opened, logger);
    }

    const closed = await Promise.allSettled(opened.map((member) => member.hsm.close()));
    closed.forEach((outcome, at) => {
      if (outcome.status === 'rejected') {
        logger?.warn({ member: opened[at]!.name, hsmError: toHsmError(outcome.reason, 'closing').code }, 'cluster member did not close cleanly');
      }
    });
    const connectionErrorCode = clusterConnectionErrorCode(opened.length, failures);
    logger?.warn({ connectionErrorCode, opened: opened.length, minMembers: options.minMembers }, 'cluster connection failed');
    throw new ClusterConnectError(
      options.clusterId,
      connectionErrorCode,
      failures,
      opened.map((member) => member.name),
      options.minMembers,
    );
  }

  /** Names of the members that opened, in configured order. */
  activeMembers(): string[] {
    return this.members.map((member) => member.name);
  }

  async generateSymmetricKey(ref: BackingKeyRef): Promise<void> {
    this.assertOpen();
    // On the first active member only: replication across members arrives with the
    // cluster-resilience issue. Other members find nothing under this id until then.
    await this.members[0]!.hsm.generateSymmetricKey(ref);
  }

  async encrypt(ref: BackingKeyRef, plaintext: Buffer, aad: Buffer): Promise<GcmResult> {
    return this.onMemberHolding((hsm) => hsm.encrypt(ref, plaintext, aad));
  }

  async decrypt(ref: BackingKeyRef, iv: Buffer, ciphertext: Buffer, tag: Buffer, aad: Buffer): Promise<Buffer> {
    return this.onMemberHolding((hsm) => hsm.decrypt(ref, iv, ciphertext, tag, aad));
  }

  async random(length: number): Promise<Buffer> {
    this.assertOpen();
    return this.members[0]!.hsm.random(length);
  }

  /**
   * Destroys the key object on *every* active member, in order, and resolves true if any held it.
   * Stopping at the first member that held one would leave copies that encrypt/decrypt still find
   * by falling through to the next member. Any error other than HSM_KEY_NOT_FOUND is thrown at
   * once; destroying again is safe (members already done answer false).
   */
  async destroySymmetricKey(ref: BackingKeyRef): Promise<boolean> {
    this.assertOpen();
    let destroyed = false;
    for (const { hsm } of this.members) {
      try {
        if (await hsm.destroySymmetricKey(ref)) destroyed = true;
      } catch (err) {
        if (!isKeyNotFound(err)) throw toHsmError(err, 'destroying a key');
      }
    }
    return destroyed;
  }

  /** The union over the active members, deduplicated by id (first member's label wins). */
  async listSymmetricKeys(): Promise<BackingKeyRef[]> {
    this.assertOpen();
    const byId = new Map<string, BackingKeyRef>();
    for (const { hsm } of this.members) {
      for (const ref of await hsm.listSymmetricKeys()) {
        if (!byId.has(ref.id)) byId.set(ref.id, ref);
      }
    }
    return [...byId.values()];
  }

  /** Closes every member (each drains its pool). Idempotent; throws the first member's failure. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    const outcomes = await Promise.allSettled(this.members.map((member) => member.hsm.close()));
    let failure: HsmError | undefined;
    outcomes.forEach((outcome, at) => {
      if (outcome.status === 'fulfilled') return;
      const error = toHsmError(outcome.reason, 'closing the cluster member');
      failure ??= error;
      this.logger?.warn({ member: this.members[at]!.name, hsmError: error.code }, 'cluster member did not close cleanly');
    });
    this.logger?.info('cluster disconnected');
    if (failure !== undefined) throw failure;
  }

  /**
   * Runs `op` on the active members in order until one holds the key: HSM_KEY_NOT_FOUND moves on
   * to the next member, any other error (a bad tag included) is thrown at once.
   */
  private async onMemberHolding<T>(op: (hsm: Pkcs11Hsm) => Promise<T>): Promise<T> {
    this.assertOpen();
    let notFound: HsmError | undefined;
    for (const { hsm } of this.members) {
      try {
        return await op(hsm);
      } catch (err) {
        if (!isKeyNotFound(err)) throw toHsmError(err, 'using the cluster');
        notFound = err;
      }
    }
    throw notFound ?? new HsmError('HSM_UNAVAILABLE', 'the cluster has no active member', 'KMSInternalException');
  }

  private assertOpen(): void {
    if (this.closing !== undefined) {
      throw new HsmError('HSM_UNAVAILABLE', `the connection to cluster ${this.clusterId} is closed`, 'KMSInternalException');
    }
  }
}

function isKeyNotFound(err: unknown): err is HsmError {
  return err instanceof HsmError && err.code === 'HSM_KEY_NOT_FOUND';
}

function validate(options: ClusterConnectOptions): void {
  if (options.members.length === 0) throw new TypeError('a cluster needs at least one member');
  if (!Number.isInteger(options.minMembers) || options.minMembers < 1) throw new TypeError('minMembers must be a positive integer');
  const names = new Set<string>();
  const tokens = new Set<string>();
  for (const member of options.members) {
    if (names.has(member.name)) throw new TypeError(`cluster member name ${member.name} is used twice`);
    names.add(member.name);
    // The same token twice would count one HSM as two towards minMembers.
    const token = JSON.stringify([resolve(member.modulePath), member.tokenLabel, member.tokenSerial ?? null]);
    if (tokens.has(token)) throw new TypeError(`cluster member ${member.name} names a token another member names too`);
    tokens.add(token);
  }
}
