// The Hsm port over a PKCS#11 *cluster*: the members (tokens, one Pkcs11Hsm each) behind a custom
// key store, logged in with the store's crypto-user PIN (its KeyStorePassword), used as one.
//
// Connecting opens every member; the connection succeeds when at least `minMembers` of them open.
// When it fails, the ConnectionErrorCode (reference §4.1, fix-keystore) comes from what really
// happened on each member, classified by HsmError.code and .ckr only (never by message text).
//
// At run time (member.ts for one member's states):
// - Replication. `vendor`: the HSM product copies keys between its members; we generate on one
//   member and find the key by CKA_ID on whichever member serves. `keybridge`: we generate on one
//   member (extractable only under the SO-installed trusted wrapping key), wrap it there and unwrap
//   it into every other usable member; CreateKey succeeds only when the quorum holds it, and a
//   member that missed keys is resynced before it serves again.
// - Load balancing and failover: each call goes to the usable member with the least outstanding
//   work; calls that are safe to repeat move once to another member when a member fails, and a
//   member missing a key hands the call on to one that has it.
// - Circuit breaker: device-class failures (CKR table: session fate 'reset'), call timeouts and
//   repeated failures take a member out at once; the health checker resets and re-admits it.
// - Health: a periodic deep check per member (encrypt + decrypt under a canary key that lives on
//   that member only), under a deadline.
// - Admission control: a per-store request quota (token bucket) and a per-member concurrency
//   limit; beyond them ThrottlingException, before the HSM is asked.

import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';

import type { Logger } from 'pino';

import type { ConnectionErrorCode } from '../../domain/custom-key-store.js';
import { KEY_SPECS, usagesOf, type AsymmetricKeySpec, type HmacSpec, type KeySpec, type KeyUsage, type MacAlgorithm, type SigningAlgorithm } from '../../domain/key-spec.js';
import { chooseSuite, type SymmetricSuite, type SymmetricSuiteChoice, type SymmetricSuiteSetting } from '../../domain/symmetric-suite.js';
import {
  HsmError,
  type BackingKeyRef,
  type GcmResult,
  type Hsm,
  type ImportedKeyMaterial,
  type ImportKeyMaterialRequest,
  type ImportWrappingAlgorithm,
  type ImportWrappingKeySpec,
} from '../../ports/hsm.js';
import { AdmissionControl } from './admission.js';
import { CKR, ckrName, ckrRule, toHsmError } from '../pkcs11/ckr.js';
import { loopDeadline } from '../loop-deadline.js';
import { deepCheck, ensureCanary } from './canary.js';
import type { ClusterStatus, MemberCapabilities, ReplicaReport } from '../../ports/key-stores.js';
import { MemberRuntime, type MemberTransition } from './member.js';
import { Pkcs11Hsm, type KeyObjectCopy, type KeyObjectKind } from '../pkcs11/pkcs11-hsm.js';
import type { VendorProfile } from '../vendor-profile.js';

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
  /** How keys reach every member. Default `vendor`. */
  readonly replication?: ReplicationMode;
  /** `keybridge` mode: members that must hold a new key for CreateKey to succeed. Default: all usable. */
  readonly replicationQuorum?: number;
  /** The suite new symmetric material gets. Default `auto`: AES-GCM where the token has it, CBC-HMAC otherwise. */
  readonly symmetricSuite?: SymmetricSuiteSetting;
  /** Deadline for one call on one member, after which the member is taken out. Default 2,000 ms. */
  readonly callTimeoutMs?: number;
  /**
   * Deep-check period. Default 5,000 ms; 0 disables the periodic check and the recovery of
   * UNAVAILABLE members (tests drive checkNow()).
   */
  readonly healthCheckIntervalMs?: number;
  /**
   * The ceiling of the recovery backoff: an UNAVAILABLE member is tried again at least this often
   * (doubling from the health-check interval), for as long as the cluster is connected. Default 30,000 ms.
   */
  readonly maxRetryIntervalMs?: number;
  /** Deep checks slower than this leave the member DEGRADED. Default 250 ms. */
  readonly slowCheckMs?: number;
  /** Failures in a row (of any kind that is about the member) that trip its breaker. Default 3. */
  readonly failuresToTrip?: number;
  /** Requests per second across the store (AWS: 1,800 per custom key store). 0 = unlimited. */
  readonly requestsPerSecond?: number;
  /** Calls in flight per member before ThrottlingException. Default 4 × the member's session limit. */
  readonly maxOutstandingPerMember?: number;
  /**
   * The backing key ids metadata knows (any store). Resync copies only keys that metadata still
   * knows or that this connection made, so a key deleted while a member was away never returns.
   */
  readonly knownBackingKeyIds?: () => Promise<ReadonlySet<string>>;
  /**
   * Runs `work` unless another keybridge node sharing this cluster runs the same `item` now
   * (`{ ran: false }`). A member's resync copies keys into it: two nodes doing so at once could
   * each create one key's object, leaving two with one CKA_ID. Absent: one node, always runs.
   */
  readonly oneNodeAtATime?: <T>(item: string, work: () => Promise<T>) => Promise<{ readonly ran: true; readonly value: T } | { readonly ran: false }>;
  readonly observer?: ClusterObserver;
  /**
   * A short-lived look at the cluster (e.g. listing its keys for UpdateCustomKeyStore): members
   * serve as opened, with no canary, no resync and no health checks — nothing is written.
   */
  readonly passive?: boolean;
}

export type ReplicationMode = 'vendor' | 'keybridge';

/** What metrics and logs hear from a cluster. */
export interface ClusterObserver {
  memberCall(event: { clusterId: string; member: string; operation: string; seconds: number; outcome: 'ok' | 'error'; ckr?: string }): void;
  memberState(event: { clusterId: string } & MemberTransition): void;
}

export type { ClusterStatus };

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
  if (err.code === 'HSM_UNAVAILABLE' || err.code === 'HSM_DEVICE_GONE' || err.code === 'HSM_TIMEOUT' || err.code === 'HSM_TOKEN_NOT_FOUND') return 'CLUSTER_NOT_FOUND';
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

const DEFAULT_CALL_TIMEOUT_MS = 2_000;
const DEFAULT_HEALTH_INTERVAL_MS = 5_000;
// How often due recoveries are looked for: a member comes back at most this late after its backoff.
const RECOVERY_TICK_MS = 1_000;
const SEED_PROGRESS_EVERY = 250;
// At connect, how long to wait for another node preparing the same member, and how often to ask.
const ADMIT_WAIT_MS = 60_000;
const ADMIT_POLL_MS = 200;
const DEFAULT_SLOW_CHECK_MS = 250;
const DEFAULT_FAILURES_TO_TRIP = 3;
const DEFAULT_RPS = 1_800;

/** How a failed call on one member is handled. */
type FailureClass =
  /** About the request (bad tag, bad input): thrown as is. */
  | 'request'
  /** This member lacks the key: another member may have it. Not the member's fault. */
  | 'missing-key'
  /** No free session in time: try elsewhere, but the member is not broken. */
  | 'busy'
  /** About the member: counts towards its breaker, and moves safe calls to another member. */
  | 'member'
  /** The device itself (CKR table 'reset', timeouts): trips the breaker at once. */
  | 'device';

function classify(error: HsmError): FailureClass {
  switch (error.code) {
    case 'HSM_DECRYPT_FAILED':
    case 'HSM_BAD_SIGNATURE':
    case 'HSM_UNSUPPORTED':
    case 'HSM_INCORRECT_KEY_MATERIAL':
    case 'HSM_THROTTLED':
    case 'HSM_NO_ACTIVE_MEMBER':
      return 'request';
    case 'HSM_KEY_NOT_FOUND':
      return 'missing-key';
    case 'HSM_BUSY':
      return 'busy';
    case 'HSM_TIMEOUT':
    case 'HSM_DEVICE_GONE':
      return 'device';
    case 'HSM_UNAVAILABLE':
    case 'HSM_TOKEN_NOT_FOUND':
      return error.ckr === undefined || ckrRule(error.ckr).session === 'reset' ? 'device' : 'member';
    case 'HSM_LOGIN_FAILED':
      return 'member';
    case 'HSM_FAILED':
      // A failure the CKR table says leaves the session healthy is about the request.
      if (error.ckr === undefined || ckrRule(error.ckr).session === 'keep') return 'request';
      return ckrRule(error.ckr).session === 'reset' ? 'device' : 'member';
  }
}

export class ClusterHsm implements Hsm {
  private closing: Promise<void> | undefined;
  private readonly admission: AdmissionControl;
  private readonly replication: ReplicationMode;
  // Creating, copying and destroying key objects one at a time across the cluster, so a resync
  // never races a CreateKey or a deletion (both are rare: AWS allows 5 CreateKey/s).
  private objectChanges: Promise<unknown> = Promise.resolve();
  // Keys this connection made (metadata may not name them yet) and keys it destroyed while some
  // member was away (that member must destroy its copy when it returns).
  private readonly madeHere = new Set<string>();
  private readonly destroyWhenBack = new Map<string, BackingKeyRef>();
  private healthTimer: NodeJS.Timeout | undefined;
  private recoveryTimer: NodeJS.Timeout | undefined;
  private checking: Promise<void> | undefined;
  private readonly recovering = new Set<MemberRuntime>();

  private constructor(
    readonly clusterId: string,
    private readonly members: readonly MemberRuntime[],
    private readonly options: ClusterConnectOptions,
    private readonly logger: Logger | undefined,
  ) {
    this.replication = options.replication ?? 'vendor';
    this.admission = new AdmissionControl(options.requestsPerSecond ?? DEFAULT_RPS);
  }

  /**
   * Opens every member (Pkcs11Hsm.open with the PIN) and resolves once at least minMembers did;
   * the members that did not are UNAVAILABLE and the health checker keeps trying them.
   * Throws ClusterConnectError (after closing the members that opened) when fewer opened, and
   * TypeError for options that can never describe a cluster (no members, duplicate members,
   * minMembers not a positive integer).
   *
   * The opens run in parallel, each in its member's executor (worker threads): a member whose
   * library hangs costs its own open timeout, never the event loop or the other members.
   */
  static async connect(options: ClusterConnectOptions): Promise<ClusterHsm> {
    validate(options);
    const logger = options.logger?.child({ component: 'cluster', clusterId: options.clusterId });
    let cluster: ClusterHsm | undefined;
    const runtimes = options.members.map(
      (member) =>
        new MemberRuntime(
          member,
          () =>
            Pkcs11Hsm.open({
              modulePath: member.modulePath,
              tokenLabel: member.tokenLabel,
              ...(member.tokenSerial === undefined ? {} : { tokenSerial: member.tokenSerial }),
              pin: options.pin,
              profile: member.profile,
              closeTimeoutMs: options.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS,
              // The executor's own deadline: a call past it fails and its worker is written off.
              callTimeoutMs: options.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS,
              ...(options.maxSessions === undefined ? {} : { maxSessions: options.maxSessions }),
              ...(options.acquireTimeoutMs === undefined ? {} : { acquireTimeoutMs: options.acquireTimeoutMs }),
              ...(logger === undefined ? {} : { logger: logger.child({ member: member.name }) }),
            }),
          (transition) => cluster?.transitioned(transition),
          logger,
          options.maxRetryIntervalMs,
        ),
    );
    const outcomes = await Promise.allSettled(runtimes.map((runtime) => runtime.open()));

    const opened: MemberRuntime[] = [];
    const failures: ClusterMemberFailure[] = [];
    outcomes.forEach((outcome, at) => {
      const runtime = runtimes[at]!;
      if (outcome.status === 'fulfilled') {
        opened.push(runtime);
      } else {
        const error = toHsmError(outcome.reason, 'opening the cluster member');
        failures.push({ member: runtime.name, connectionErrorCode: connectionErrorCodeOf(error), error });
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
      cluster = new ClusterHsm(options.clusterId, runtimes, options, logger);
      failures.forEach((failure) => runtimes.find((r) => r.name === failure.member)!.adoptOpenFailure(failure.error));
      if (options.passive === true) {
        opened.forEach((member) => member.markServing('ACTIVE'));
      } else {
        await cluster.admitOpened(opened);
        cluster.startHealthChecks();
      }
      logger?.info({ active: cluster.activeMembers(), configured: options.members.length, replication: cluster.replication }, 'cluster connected');
      return cluster;
    }

    const closed = await Promise.allSettled(opened.map((member) => member.close()));
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

  /** Names of the members that serve now (ACTIVE or DEGRADED), in configured order. */
  activeMembers(): string[] {
    return this.members.filter((member) => member.usable).map((member) => member.name);
  }

  status(): ClusterStatus {
    return { clusterId: this.clusterId, replication: this.replication, members: this.members.map((member) => member.status()) };
  }

  /**
   * Which members hold every object of each of `backingKeyIds` (the keys of the store on this
   * cluster): what a lost member would take with it, and whether a seeded member is complete. A
   * key's objects are those any member lists for it; a member lacking one of them does not hold
   * the key, and a key no member lists is held by none. Members not open hold nothing provable.
   */
  async replicas(backingKeyIds: ReadonlySet<string>): Promise<ReplicaReport> {
    this.assertOpen();
    const listings = await Promise.all(
      this.members
        .filter((member) => member.connection !== undefined)
        .map(async (member) => ({ member: member.name, objects: await member.connection!.listKeyObjects().catch(() => undefined) })),
    );
    const kindsOf = new Map<string, Set<KeyObjectKind>>();
    const heldBy = new Map<string, Set<KeyObjectKind>>();
    for (const { member, objects } of listings) {
      for (const object of objects ?? []) {
        if (!backingKeyIds.has(object.id)) continue;
        kindsOf.set(object.id, (kindsOf.get(object.id) ?? new Set()).add(object.kind));
        const at = `${member}\0${object.id}`;
        heldBy.set(at, (heldBy.get(at) ?? new Set()).add(object.kind));
      }
    }
    const listed = listings.filter((l) => l.objects !== undefined).map((l) => l.member);
    const keys = [...backingKeyIds].sort().map((backingKeyId) => {
      const kinds = [...(kindsOf.get(backingKeyId) ?? [])];
      const holders = kinds.length === 0 ? [] : listed.filter((member) => kinds.every((kind) => heldBy.get(`${member}\0${backingKeyId}`)?.has(kind) === true));
      return { backingKeyId, holders };
    });
    return {
      members: this.members.map((member) => member.name),
      listed,
      quorum: Math.min(this.options.replicationQuorum ?? this.members.length, this.members.length),
      keys,
    };
  }

  /** What each open member's token lists, for every key spec and usage (read once per token). */
  async capabilities(): Promise<MemberCapabilities[]> {
    return Promise.all(
      this.members.map(async (member) => {
        const hsm = member.connection;
        if (hsm === undefined) return { name: member.name, tokenLabel: member.tokenLabel, keySpecs: undefined };
        // SYMMETRIC_DEFAULT as CreateKey decides it: the store's suite setting applied to this token.
        const choice = await hsm
          .symmetricSuites()
          .then((support) => chooseSuite(support, this.options.symmetricSuite))
          .catch(() => undefined);
        const keySpecs = await Promise.all(
          KEY_SPECS.flatMap((spec) =>
            usagesOf(spec).map(async (usage) => ({
              spec,
              usage,
              missing: spec === 'SYMMETRIC_DEFAULT' && choice !== undefined ? ('refusal' in choice ? choice.refusal : undefined) : await hsm.missingMechanism(spec, usage),
            })),
          ),
        ).catch(() => undefined);
        return { name: member.name, tokenLabel: member.tokenLabel, keySpecs, ...(choice !== undefined && 'suite' in choice ? { symmetricSuite: choice.suite } : {}) };
      }),
    );
  }

  async generateSymmetricKey(ref: BackingKeyRef, suite: SymmetricSuite = 'AES_256_GCM'): Promise<void> {
    this.assertOpen();
    const kinds: KeyObjectKind[] = suite === 'AES_256_CBC_HMAC_SHA_256' ? ['secret', 'mac'] : ['secret'];
    await this.oneObjectChangeAtATime(() =>
      this.replication === 'keybridge' ? this.generateReplicated(ref, (hsm) => hsm.generateReplicableSymmetricKey(ref, suite), kinds) : this.generateOnOne(ref, suite),
    );
  }

  async encrypt(ref: BackingKeyRef, plaintext: Buffer, aad: Buffer, suite: SymmetricSuite = 'AES_256_GCM'): Promise<GcmResult> {
    return this.onMemberHolding((hsm) => hsm.encrypt(ref, plaintext, aad, suite), 'encrypt');
  }

  async decrypt(ref: BackingKeyRef, iv: Buffer, ciphertext: Buffer, tag: Buffer, aad: Buffer, suite: SymmetricSuite = 'AES_256_GCM'): Promise<Buffer> {
    return this.onMemberHolding((hsm) => hsm.decrypt(ref, iv, ciphertext, tag, aad, suite), 'decrypt');
  }

  /**
   * The suite new symmetric material gets: the configured one (`auto`: AES-GCM where the token has
   * it, CBC-HMAC otherwise), as a member's token can serve it. In `keybridge` replication across
   * members a CBC-HMAC material's MAC key must be copied too: where the token cannot wrap it, the
   * refusal says so (use `vendor` replication or a single member).
   */
  async symmetricSuite(): Promise<SymmetricSuiteChoice> {
    this.assertOpen();
    const hsm = this.someMember().hsm;
    const choice = chooseSuite(await hsm.symmetricSuites(), this.options.symmetricSuite);
    if (!('suite' in choice) || choice.suite !== 'AES_256_CBC_HMAC_SHA_256' || this.replication !== 'keybridge' || this.members.length < 2) return choice;
    const refusal = await hsm.replicationRefusal('HMAC_256');
    return refusal === undefined
      ? choice
      : { refusal: `the CBC-HMAC suite's MAC keys cannot be replicated (${refusal}); use \`vendor\` replication or a single member for symmetric keys on this HSM` };
  }

  async random(length: number): Promise<Buffer> {
    return this.onMemberHolding((hsm) => hsm.random(length), 'random');
  }

  // --- Asymmetric, HMAC and key-agreement keys (issue #8): key use on a member holding the key,
  // with failover like the symmetric operations above. In `keybridge` mode they are replicated like
  // AES backing keys: the private (or HMAC) key is generated wrappable under the trusted key only,
  // copied into the other members the same way, and the public key object is created there
  // from its public values. In `vendor` mode the HSM product replicates them like any other object.

  /**
   * The member's missing mechanism; in `keybridge` mode with more than one member, also why keys of
   * this spec cannot be replicated (probed on the member: SoftHSM2 cannot wrap Ed25519 keys).
   */
  async missingMechanism(spec: KeySpec, usage: KeyUsage): Promise<string | undefined> {
    this.assertOpen();
    if (spec === 'SYMMETRIC_DEFAULT') {
      const choice = await this.symmetricSuite();
      return 'refusal' in choice ? choice.refusal : undefined;
    }
    const hsm = this.someMember().hsm;
    const missing = await hsm.missingMechanism(spec, usage);
    if (missing !== undefined || this.replication !== 'keybridge' || this.members.length < 2) return missing;
    return hsm.replicationRefusal(spec);
  }

  async generateKeyPair(ref: BackingKeyRef, spec: AsymmetricKeySpec, usage: KeyUsage): Promise<Buffer> {
    this.assertOpen();
    return this.oneObjectChangeAtATime(async () => {
      if (this.replication === 'keybridge') {
        return this.generateReplicated(ref, (hsm) => hsm.generateReplicableKeyPair(ref, spec, usage), ['private', 'public']);
      }
      const publicKey = await this.someMember().hsm.generateKeyPair(ref, spec, usage);
      this.madeHere.add(ref.id);
      return publicKey;
    });
  }

  async generateMacKey(ref: BackingKeyRef, spec: HmacSpec): Promise<void> {
    this.assertOpen();
    await this.oneObjectChangeAtATime(async () => {
      if (this.replication === 'keybridge') {
        await this.generateReplicated(ref, (hsm) => hsm.generateReplicableMacKey(ref, spec), ['secret']);
        return;
      }
      await this.someMember().hsm.generateMacKey(ref, spec);
      this.madeHere.add(ref.id);
    });
  }

  async generateDataKeyPair(spec: AsymmetricKeySpec): Promise<{ publicKey: Buffer; privateKey: Buffer }> {
    return this.onMemberHolding((hsm) => hsm.generateDataKeyPair(spec), 'generateDataKeyPair');
  }

  // --- Importing key material. AWS KMS does not allow it for keys in a custom key store (the
  // operations refuse those); this cluster serves it for the default key store, which is a
  // cluster of one member, and for clusters whose HSMs replicate by themselves (`vendor`). In
  // `keybridge` replication an imported object could not be copied to the other members (it is
  // unwrapped non-extractable, as the import's promise), so it is refused there.

  async generateImportWrappingKey(ref: BackingKeyRef, spec: ImportWrappingKeySpec): Promise<Buffer> {
    this.assertImportable();
    return this.oneObjectChangeAtATime(async () => {
      const publicKey = await this.someMember().hsm.generateImportWrappingKey(ref, spec);
      this.madeHere.add(ref.id);
      return publicKey;
    });
  }

  async importAlgorithmRefusal(probeWith: BackingKeyRef, algorithm: ImportWrappingAlgorithm): Promise<string | undefined> {
    this.assertImportable();
    return this.onMemberHolding((hsm) => hsm.importAlgorithmRefusal(probeWith, algorithm), 'importAlgorithmRefusal');
  }

  async importKeyMaterial(request: ImportKeyMaterialRequest): Promise<ImportedKeyMaterial> {
    this.assertImportable();
    return this.oneObjectChangeAtATime(async () => {
      // The member holding the wrapping key answers; the others answer HSM_KEY_NOT_FOUND.
      const imported = await this.onMemberHolding((hsm) => hsm.importKeyMaterial(request), 'importKeyMaterial');
      this.madeHere.add(imported.materialId);
      return imported;
    });
  }

  private assertImportable(): void {
    if (this.replication === 'keybridge' && this.members.length > 1) throw importUnsupported();
  }

  async getPublicKey(ref: BackingKeyRef, spec: AsymmetricKeySpec): Promise<Buffer> {
    return this.onMemberHolding((hsm) => hsm.getPublicKey(ref, spec), 'getPublicKey');
  }

  async sign(ref: BackingKeyRef, algorithm: SigningAlgorithm, input: Buffer): Promise<Buffer> {
    return this.onMemberHolding((hsm) => hsm.sign(ref, algorithm, input), 'sign');
  }

  async verify(ref: BackingKeyRef, spec: AsymmetricKeySpec, algorithm: SigningAlgorithm, input: Buffer, signature: Buffer): Promise<boolean> {
    return this.onMemberHolding((hsm) => hsm.verify(ref, spec, algorithm, input, signature), 'verify');
  }

  async rsaEncrypt(ref: BackingKeyRef, hash: 'sha1' | 'sha256', plaintext: Buffer): Promise<Buffer> {
    return this.onMemberHolding((hsm) => hsm.rsaEncrypt(ref, hash, plaintext), 'rsaEncrypt');
  }

  async rsaDecrypt(ref: BackingKeyRef, hash: 'sha1' | 'sha256', ciphertext: Buffer): Promise<Buffer> {
    return this.onMemberHolding((hsm) => hsm.rsaDecrypt(ref, hash, ciphertext), 'rsaDecrypt');
  }

  async mac(ref: BackingKeyRef, algorithm: MacAlgorithm, message: Buffer): Promise<Buffer> {
    return this.onMemberHolding((hsm) => hsm.mac(ref, algorithm, message), 'mac');
  }

  async verifyMac(ref: BackingKeyRef, algorithm: MacAlgorithm, message: Buffer, tag: Buffer): Promise<boolean> {
    return this.onMemberHolding((hsm) => hsm.verifyMac(ref, algorithm, message, tag), 'verifyMac');
  }

  async deriveSharedSecret(ref: BackingKeyRef, peerPoint: Buffer, length: number): Promise<Buffer> {
    return this.onMemberHolding((hsm) => hsm.deriveSharedSecret(ref, peerPoint, length), 'deriveSharedSecret');
  }

  /**
   * Destroys the key object on every usable member and resolves true if any held it. Members that
   * are away destroy their copy when they come back (before they serve again).
   */
  async destroySymmetricKey(ref: BackingKeyRef): Promise<boolean> {
    this.assertOpen();
    return this.oneObjectChangeAtATime(async () => {
      let destroyed = false;
      for (const member of this.members) {
        if (!member.usable) {
          this.destroyWhenBack.set(ref.id, ref);
          continue;
        }
        try {
          if (await member.hsm.destroySymmetricKey(ref)) destroyed = true;
        } catch (err) {
          if (!isKeyNotFound(err)) throw toHsmError(err, 'destroying a key');
        }
      }
      this.madeHere.delete(ref.id);
      return destroyed;
    });
  }

  /** The union over the usable members, deduplicated by id (first member's label wins). */
  async listSymmetricKeys(): Promise<BackingKeyRef[]> {
    this.assertOpen();
    const byId = new Map<string, BackingKeyRef>();
    for (const member of this.members) {
      if (!member.usable) continue;
      for (const ref of await member.hsm.listSymmetricKeys()) {
        if (!byId.has(ref.id)) byId.set(ref.id, ref);
      }
    }
    return [...byId.values()];
  }

  /** Runs one round of deep checks and recoveries now (the periodic checker calls this too). */
  checkNow(): Promise<void> {
    this.checking ??= this.checkAll().finally(() => {
      this.checking = undefined;
    });
    return this.checking;
  }

  /** Closes every member (each drains its pool). Idempotent; throws the first member's failure. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    if (this.healthTimer !== undefined) clearInterval(this.healthTimer);
    if (this.recoveryTimer !== undefined) clearInterval(this.recoveryTimer);
    await this.checking?.catch(() => undefined);
    const outcomes = await Promise.allSettled(this.members.map((member) => member.close()));
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
   * Runs `op` on the usable member with the least outstanding work. When a member lacks the key,
   * the call moves on to the next member that may hold it; when the member itself fails, a call
   * that is safe to repeat (every call routed here is: Encrypt, Decrypt, GenerateRandom, Sign, …)
   * moves once to another member. Errors about the request are thrown at once.
   */
  private async onMemberHolding<T>(op: (hsm: Pkcs11Hsm) => Promise<T>, operation = 'call'): Promise<T> {
    this.assertOpen();
    this.admission.admitRequest();
    const tried = new Set<MemberRuntime>();
    let memberFailures = 0;
    let lastError: HsmError | undefined;
    for (;;) {
      const member = this.pick(tried);
      if (member === undefined) {
        // Every member is out (the failures just now may have tripped the last ones): say so at
        // once, as AWS does for a key whose HSMs are gone, rather than the last member's error.
        if (lastError === undefined || !this.members.some((m) => m.usable)) throw this.noMemberError(lastError);
        throw lastError;
      }
      tried.add(member);
      try {
        return await this.callOn(member, op, operation);
      } catch (err) {
        const error = toHsmError(err, 'using the cluster');
        const kind = classify(error);
        if (kind === 'request') throw error;
        lastError = error;
        if (kind === 'member' || kind === 'device') {
          memberFailures += 1;
          if (memberFailures > 1) throw this.members.some((m) => m.usable) ? error : this.noMemberError(error);
        }
      }
    }
  }

  private async callOn<T>(member: MemberRuntime, op: (hsm: Pkcs11Hsm) => Promise<T>, operation: string): Promise<T> {
    const hsm = member.hsm;
    const limit = this.options.maxOutstandingPerMember ?? hsm.concurrency * 4;
    if (member.outstanding >= limit) {
      throw new HsmError('HSM_THROTTLED', `cluster member ${member.name} has ${member.outstanding} calls in flight`);
    }
    const started = performance.now();
    member.outstanding += 1;
    try {
      const result = await withDeadline(op(hsm), this.options.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS, member.name);
      member.succeeded();
      this.observe(member, operation, started, 'ok');
      return result;
    } catch (err) {
      const error = toHsmError(err, `calling member ${member.name}`);
      const kind = classify(error);
      this.observe(member, operation, started, 'error', error.ckr);
      if (kind === 'member' || kind === 'device') {
        this.logger?.warn({ member: member.name, hsmError: error.code, ...(error.ckr === undefined ? {} : { ckr: ckrName(error.ckr) }) }, 'cluster member call failed');
        member.failed(error, kind === 'device', this.options.failuresToTrip ?? DEFAULT_FAILURES_TO_TRIP);
      }
      throw error;
    } finally {
      member.outstanding -= 1;
    }
  }

  /** The usable member not yet tried with the least outstanding work (ACTIVE before DEGRADED). */
  private pick(tried: ReadonlySet<MemberRuntime>): MemberRuntime | undefined {
    let best: MemberRuntime | undefined;
    for (const member of this.members) {
      if (!member.usable || tried.has(member)) continue;
      if (best === undefined || rank(member) < rank(best)) best = member;
    }
    if (best === undefined) return undefined;
    const limit = this.options.maxOutstandingPerMember;
    if (limit !== undefined && best.outstanding >= limit) {
      throw new HsmError('HSM_THROTTLED', `every member of cluster ${this.clusterId} is at its concurrency limit`);
    }
    return best;
  }

  /** The usable member with the least work; HSM_NO_ACTIVE_MEMBER when there is none. */
  private someMember(): MemberRuntime {
    const member = this.pick(new Set());
    if (member === undefined) throw this.noMemberError();
    return member;
  }

  private noMemberError(cause?: HsmError): HsmError {
    const reasons = this.members.map((member) => `${member.name}: ${member.status().reason ?? member.state}`).join('; ');
    return new HsmError('HSM_NO_ACTIVE_MEMBER', `no member of cluster ${this.clusterId} is available (${reasons})`, {
      ...(cause === undefined ? {} : { cause }),
    });
  }

  private async generateOnOne(ref: BackingKeyRef, suite: SymmetricSuite): Promise<void> {
    const origin = this.pick(new Set());
    if (origin === undefined) throw this.noMemberError();
    await origin.hsm.generateSymmetricKey(ref, suite);
    this.madeHere.add(ref.id);
  }

  /**
   * `keybridge` replication: generate on one member (`generate`, the origin copy), copy its objects
   * (`kinds`: secret and private keys wrapped under the trusted key, public keys by value) into
   * every other usable member. Fewer holders than the quorum: the copies made are destroyed and
   * CreateKey fails — a key is on the quorum or on none. Members that missed it are taken out and
   * get it by resync before they serve again.
   * The default quorum, every usable member, counts the members still usable once the copies are
   * made: a member that failed to take its copy for a reason of its own (device, session, timeout,
   * no free session — anything but a refusal of the request itself) is taken out, as if it had been
   * away already, instead of failing the client's CreateKey. A configured quorum is kept as is.
   */
  private async generateReplicated<T>(ref: BackingKeyRef, generate: (hsm: Pkcs11Hsm) => Promise<T>, kinds: readonly KeyObjectKind[]): Promise<T> {
    const targets = this.members.filter((member) => member.usable);
    const origin = this.pick(new Set());
    if (origin === undefined) throw this.noMemberError();
    const result = await generate(origin.hsm);
    const holders: MemberRuntime[] = [origin];
    // Members that got some of the key's objects but not all: an undo must reach them too.
    const partial: MemberRuntime[] = [];
    const missed: Array<{ member: MemberRuntime; error: HsmError }> = [];
    if (targets.length > 1) {
      const copies: KeyObjectCopy[] = [];
      try {
        for (const kind of kinds) copies.push(await origin.hsm.exportKeyObject(ref, kind));
        for (const member of targets) {
          if (member === origin) continue;
          let landed = 0;
          try {
            for (const copy of copies) {
              await member.hsm.importKeyObject(ref, copy);
              landed += 1;
            }
            holders.push(member);
          } catch (err) {
            if (landed > 0) partial.push(member);
            missed.push({ member, error: toHsmError(err, 'copying a new key') });
          }
        }
      } catch (err) {
        await this.undoGenerate(ref, [...holders, ...partial]);
        throw toHsmError(err, 'wrapping a new key for the other members');
      } finally {
        for (const copy of copies) copy.wrapped?.fill(0);
      }
    }
    const takenOut = missed.filter(({ error }) => classify(error) !== 'request').length;
    const quorum = Math.min(this.options.replicationQuorum ?? targets.length - takenOut, targets.length);
    if (holders.length < Math.max(quorum, 1)) {
      await this.undoGenerate(ref, [...holders, ...partial]);
      const why = missed.map(({ member, error }) => `${member.name}: ${error.message}`).join('; ');
      throw new HsmError('HSM_UNAVAILABLE', `the new key reached ${holders.length} of ${quorum} members (${why})`, { cause: missed[0]?.error });
    }
    this.madeHere.add(ref.id);
    for (const { member, error } of missed) {
      this.logger?.warn({ member: member.name, hsmError: error.code }, 'a new key did not reach this member; it is resynced before it serves again');
      member.trip(`missed a new key: ${error.message}`);
    }
    return result;
  }

  private async undoGenerate(ref: BackingKeyRef, holders: readonly MemberRuntime[]): Promise<void> {
    for (const member of holders) {
      try {
        await member.hsm.destroySymmetricKey(ref);
      } catch (err) {
        this.logger?.error({ member: member.name, backingKeyId: ref.id, hsmError: toHsmError(err, 'undo').code }, 'could not remove a partly replicated key; reconciliation reports it');
      }
    }
  }

  /**
   * At connect: canary and resync for every member that opened, then they serve. Another node
   * connecting the same cluster at the same moment (or resyncing a member) goes first and this one
   * waits its turn: both would otherwise create the canary, or copy a key, into one token at once.
   */
  private async admitOpened(opened: readonly MemberRuntime[]): Promise<void> {
    for (const member of opened) {
      try {
        const prepared = async (): Promise<void> => this.oneObjectChangeAtATime(() => this.prepare(member, member.hsm, opened));
        let ran = await this.inTurn(member, prepared);
        for (let waited = 0; !ran && waited < ADMIT_WAIT_MS; waited += ADMIT_POLL_MS) {
          await new Promise((resolve) => setTimeout(resolve, ADMIT_POLL_MS));
          ran = await this.inTurn(member, prepared);
        }
        if (!ran) throw new HsmError('HSM_UNAVAILABLE', `another keybridge node has been resyncing this member for over ${ADMIT_WAIT_MS / 1000} s`);
        await this.deepCheck(member, member.hsm);
      } catch (err) {
        member.recoveryFailed(toHsmError(err, 'admitting the member').message, this.healthIntervalMs());
      }
    }
  }

  /**
   * Makes a member fit to serve: its canary key exists, keys deleted while it was away are gone,
   * and (keybridge mode) keys it missed are copied in from a member that may export them.
   */
  private async prepare(member: MemberRuntime, hsm: Pkcs11Hsm, peers: readonly MemberRuntime[]): Promise<void> {
    await ensureCanary(hsm);
    for (const ref of this.destroyWhenBack.values()) {
      await hsm.destroySymmetricKey(ref);
    }
    if (this.replication !== 'keybridge') return;
    const sources = peers.filter((peer) => peer !== member && peer.connection !== undefined);
    if (sources.length === 0) return;
    // Compared object by object: a key pair may lack only its public (or only its private) half.
    const present = new Set((await hsm.listKeyObjects()).map((object) => `${object.id}:${object.kind}`));
    const known = await this.options.knownBackingKeyIds?.();
    const missing = new Map<string, { ref: BackingKeyRef; kind: KeyObjectKind; from: MemberRuntime[] }>();
    for (const source of sources) {
      for (const object of await source.connection!.listKeyObjects()) {
        const key = `${object.id}:${object.kind}`;
        if (present.has(key) || this.destroyWhenBack.has(object.id)) continue;
        if (known !== undefined && !known.has(object.id) && !this.madeHere.has(object.id)) continue;
        const entry = missing.get(key) ?? { ref: { id: object.id, label: object.label }, kind: object.kind, from: [] };
        entry.from.push(source);
        missing.set(key, entry);
      }
    }
    // Secret, MAC and private keys before public ones: what a key is for needs its secret half.
    const ordered = [...missing.values()].sort((x, y) => Number(x.kind === 'public') - Number(y.kind === 'public'));
    let copied = 0;
    let done = 0;
    for (const { ref, kind, from } of ordered) {
      if (await this.copyFromAny(ref, kind, from, hsm)) copied += 1;
      // A replaced member is seeded with every key: say how far it got (keystore health --replicas counts too).
      if (++done % SEED_PROGRESS_EVERY === 0) this.logger?.info({ member: member.name, done, missing: ordered.length, copied }, 'seeding member');
    }
    if (missing.size > 0) this.logger?.info({ member: member.name, missing: missing.size, copied }, 'member resynced');
  }

  /**
   * Copies one object of a key from whichever source may export it: a secret or private key from
   * any copy wrappable under the trusted key (every copy made since replicas are; copies made by
   * keybridge before that are not), a public key from any member holding it.
   * What to create is read from the source object (class, key type, usage, public values).
   */
  private async copyFromAny(ref: BackingKeyRef, kind: KeyObjectKind, sources: readonly MemberRuntime[], into: Pkcs11Hsm): Promise<boolean> {
    for (const source of sources) {
      let copy: KeyObjectCopy;
      try {
        copy = await source.connection!.exportKeyObject(ref, kind);
      } catch (err) {
        const error = toHsmError(err, 'exporting a key object');
        if (error.ckr === CKR.CKR_KEY_UNEXTRACTABLE || error.ckr === CKR.CKR_KEY_NOT_WRAPPABLE || error.code === 'HSM_KEY_NOT_FOUND') continue;
        throw error;
      }
      try {
        await into.importKeyObject(ref, copy);
        return true;
      } finally {
        copy.wrapped?.fill(0);
      }
    }
    this.logger?.error({ backingKeyId: ref.id, object: kind }, 'no member can export this key (its origin member is away); the member serves without it and calls for it fail over');
    return false;
  }

  private startHealthChecks(): void {
    const interval = this.options.healthCheckIntervalMs ?? DEFAULT_HEALTH_INTERVAL_MS;
    if (interval <= 0) return;
    this.healthTimer = setInterval(() => void this.checkNow(), interval);
    this.healthTimer.unref();
    // Recoveries keep their own schedule (backoff up to maxRetryIntervalMs), not the deep checks'.
    this.recoveryTimer = setInterval(() => void this.recoverDue(), Math.min(interval, RECOVERY_TICK_MS));
    this.recoveryTimer.unref();
  }

  private healthIntervalMs(): number {
    const interval = this.options.healthCheckIntervalMs ?? DEFAULT_HEALTH_INTERVAL_MS;
    return interval > 0 ? interval : 1_000;
  }

  private async checkAll(): Promise<void> {
    if (this.closing !== undefined) return;
    const now = performance.now();
    await Promise.all(
      this.members.map(async (member) => {
        if (member.usable) {
          await this.deepCheck(member, member.hsm).catch(() => undefined);
        } else if (member.dueForRecovery(now)) {
          await this.recover(member);
        }
      }),
    );
  }

  private async recoverDue(): Promise<void> {
    if (this.closing !== undefined) return;
    const now = performance.now();
    await Promise.all(this.members.filter((member) => member.dueForRecovery(now)).map((member) => this.recover(member)));
  }

  /** Brings an UNAVAILABLE member back: reset, resync, deep check. Failures back off. One at a time per member. */
  private async recover(member: MemberRuntime): Promise<void> {
    if (this.recovering.has(member)) return;
    this.recovering.add(member);
    try {
      await this.recoverOnce(member);
    } finally {
      this.recovering.delete(member);
    }
  }

  private async recoverOnce(member: MemberRuntime): Promise<void> {
    let hsm: Pkcs11Hsm;
    try {
      hsm = await member.reopen(this.healthIntervalMs());
    } catch {
      return;
    }
    try {
      // The bulk of a resync (a replaced member seeded with every key takes minutes) runs without
      // holding up CreateKey and deletions: while the member is away they do not touch it, and a
      // deletion meanwhile is remembered for it (destroyWhenBack). The second pass, holding the
      // lock, destroys those and copies what was created since, so nothing is missed.
      const resync = async (): Promise<void> => {
        await this.prepare(member, hsm, this.members.filter((m) => m.usable));
        await this.oneObjectChangeAtATime(() => this.prepare(member, hsm, this.members.filter((m) => m.usable)));
      };
      if (!(await this.inTurn(member, resync))) {
        // The other node's resync fills the member; this node's next attempt finds it complete.
        member.recoveryFailed('another keybridge node is resyncing this member', this.healthIntervalMs());
        return;
      }
      await this.deepCheck(member, hsm);
      this.logger?.info({ member: member.name }, 'cluster member is back');
    } catch (err) {
      member.recoveryFailed(`recovery failed: ${toHsmError(err, 'recovering').message}`, this.healthIntervalMs());
    }
  }

  /** Runs `work` on `member` unless another node sharing the cluster works on it now (oneNodeAtATime): then false. */
  private async inTurn(member: MemberRuntime, work: () => Promise<void>): Promise<boolean> {
    if (this.options.oneNodeAtATime === undefined) {
      await work();
      return true;
    }
    return (await this.options.oneNodeAtATime(`cluster-resync:${this.clusterId}:${member.name}`, work)).ran;
  }

  /** Encrypt + decrypt under the member's canary key within the call deadline. Throws on failure. */
  private async deepCheck(member: MemberRuntime, hsm: Pkcs11Hsm): Promise<void> {
    const started = performance.now();
    try {
      await withDeadline(deepCheck(hsm), this.options.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS, member.name);
    } catch (err) {
      const error = toHsmError(err, 'deep check');
      member.recordCheck(false, performance.now() - started);
      this.observe(member, 'health_check', started, 'error', error.ckr);
      member.recoveryFailed(`deep check failed: ${error.message}`, this.healthIntervalMs());
      throw error;
    }
    const latency = performance.now() - started;
    member.recordCheck(true, latency);
    this.observe(member, 'health_check', started, 'ok');
    const slow = this.options.slowCheckMs ?? DEFAULT_SLOW_CHECK_MS;
    if (latency > slow) member.markServing('DEGRADED', `deep check took ${Math.round(latency)} ms (over ${slow} ms)`);
    else member.markServing('ACTIVE');
  }

  private transitioned(transition: MemberTransition): void {
    const log = transition.to === 'UNAVAILABLE' ? 'warn' : 'info';
    this.logger?.[log]({ member: transition.member, from: transition.from, to: transition.to, reason: transition.reason }, 'cluster member state changed');
    this.options.observer?.memberState({ clusterId: this.clusterId, ...transition });
  }

  private observe(member: MemberRuntime, operation: string, started: number, outcome: 'ok' | 'error', ckr?: number): void {
    this.options.observer?.memberCall({
      clusterId: this.clusterId,
      member: member.name,
      operation,
      seconds: (performance.now() - started) / 1000,
      outcome,
      ...(ckr === undefined ? {} : { ckr: ckrName(ckr) }),
    });
  }

  private oneObjectChangeAtATime<T>(change: () => Promise<T>): Promise<T> {
    const result = this.objectChanges.then(change, change);
    this.objectChanges = result.catch(() => undefined);
    return result;
  }

  private assertOpen(): void {
    if (this.closing !== undefined) {
      throw new HsmError('HSM_UNAVAILABLE', `the connection to cluster ${this.clusterId} is closed`);
    }
  }
}

function rank(member: MemberRuntime): number {
  // Outstanding work first; a DEGRADED member only wins when it is clearly less loaded. A member
  // whose library is being re-initialised (its calls wait) is the last choice.
  return member.outstanding + (member.state === 'DEGRADED' ? 4 : 0) + (member.connection?.paused === true ? 1_000 : 0);
}

/**
 * Rejects with HSM_TIMEOUT (DependencyTimeoutException) when `work` takes longer than `ms` (an
 * answer that came while our own event loop was stalled still counts: loop-deadline.ts). The
 * call itself cannot be cancelled (it runs in a worker thread); its late outcome is dropped.
 */
function withDeadline<T>(work: Promise<T>, ms: number, member: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const deadline = loopDeadline(ms, () => {
      reject(new HsmError('HSM_TIMEOUT', `cluster member ${member} did not answer within ${ms} ms`));
    });
    work.then(
      (value) => {
        deadline.clear();
        resolve(value);
      },
      (err: unknown) => {
        deadline.clear();
        reject(err);
      },
    );
  });
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

function importUnsupported(): HsmError {
  return new HsmError('HSM_UNSUPPORTED', 'importing key material into a cluster with `keybridge` replication is not supported: an imported key cannot be copied to the other members');
}
