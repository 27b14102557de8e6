// Which HSM serves a key: the default key store's token, or the cluster of the custom key store
// the key lives in. Also the runtime side of custom key stores: connecting and disconnecting.
//
// Owned by the composition root. Connection state changes are persisted through the store port
// so that they survive a restart (stores that were connected reconnect by themselves).

import type { ConnectionErrorCode, ConnectionState, CustomKeyStoreRecord, XksProxyConfiguration } from '../domain/custom-key-store.js';
import type { XksProxyClient } from '../xks-client/proxy-client.js';
import type { KeyRecord } from '../domain/key.js';
import type { KeySpec, KeyUsage } from '../domain/key-spec.js';
import type { Hsm } from './hsm.js';
import type { SymmetricSuite } from '../domain/symmetric-suite.js';

/** A cluster member's health (`keybridge keystore health`, /metrics). */
export type MemberState = 'ACTIVE' | 'DEGRADED' | 'UNAVAILABLE';

export interface MemberStatus {
  readonly name: string;
  readonly tokenLabel: string;
  readonly state: MemberState;
  /** Why the member is not ACTIVE; undefined when it is. */
  readonly reason: string | undefined;
  /** When the member entered its state (ISO 8601). */
  readonly since: string;
  /** Calls running on the member now. */
  readonly outstanding: number;
  readonly pool: { readonly open: number; readonly idle: number; readonly leased: number; readonly waiting: number; readonly limit: number } | undefined;
  readonly lastCheck: { readonly at: string; readonly ok: boolean; readonly latencyMs: number } | undefined;
  /** Controlled resets (reopen after a trip) that succeeded. */
  readonly resets: number;
  /** When an UNAVAILABLE member is tried again (ISO 8601); undefined while it serves. */
  readonly nextAttempt: string | undefined;
  /** Recovery attempts since the member last served (0 while it serves). */
  readonly recoveryAttempts: number;
}

/**
 * What one member's token can serve, from its mechanism list (C_GetMechanismList and
 * C_GetMechanismInfo): for every key spec and usage AWS offers, the mechanism it lacks, if any.
 * The facts CreateKey refuses by, shown before anyone asks (`keybridge keystore health --capabilities`).
 */
export interface MemberCapabilities {
  readonly name: string;
  readonly tokenLabel: string;
  /** Undefined when the member is not open (its token is not reachable now). */
  readonly keySpecs: ReadonlyArray<{ readonly spec: KeySpec; readonly usage: KeyUsage; readonly missing: string | undefined }> | undefined;
  /** The suite new symmetric material gets on this member (the store's setting and its token), when open and possible. */
  readonly symmetricSuite?: SymmetricSuite;
}

/**
 * Where each key of a cluster is (`keybridge keystore health --replicas`): the members holding
 * every object of it (its secret key, or its private and public key, or a CBC-HMAC material's two
 * keys). A member that is not open holds nothing it can prove.
 */
export interface ReplicaReport {
  /** Every configured member, in configured order. */
  readonly members: readonly string[];
  /** The members whose objects were listed (open now); the others are counted as holding nothing. */
  readonly listed: readonly string[];
  /** How many members a key must be on: `replicationQuorum`, or every configured member. */
  readonly quorum: number;
  /**
   * The store's keys (one entry per key material), each with the members holding it, in member
   * order, and its KMS key (null for an XKS key; absent where only the cluster answered).
   */
  readonly keys: ReadonlyArray<{ readonly backingKeyId: string; readonly keyId?: string | null; readonly holders: readonly string[] }>;
}

export interface ClusterStatus {
  readonly clusterId: string;
  readonly replication: 'vendor' | 'keybridge';
  readonly members: readonly MemberStatus[];
}

/** What operations need to know about a configured cluster. */
export interface ClusterInfo {
  readonly clusterId: string;
  /** The PEM the cluster's definition names, when it names one: CreateCustomKeyStore must match it. */
  readonly trustAnchorCertificate: string | undefined;
  readonly memberCount: number;
  readonly minActiveMembersForCreateKey: number;
}

export interface KeyStores {
  /** A cluster from hsm-config/clusters, or undefined. */
  cluster(clusterId: string): ClusterInfo | undefined;
  /** Active members of a CONNECTED store's cluster (0 when not connected). */
  activeMembers(customKeyStoreId: string): number;
  /** Seals a KeyStorePassword under the default key store's HSM, bound to the store id. */
  sealPassword(customKeyStoreId: string, password: string): Promise<string>;
  /** Whether `password` is the one sealed in `store` (for idempotent CreateCustomKeyStore). */
  passwordMatches(store: CustomKeyStoreRecord, password: string): Promise<boolean>;
  /**
   * Opens the cluster with the store's password just long enough to list its backing key ids;
   * CloudHsmClusterNotActiveException when it cannot be opened.
   */
  backingKeyIdsOn(clusterId: string, store: CustomKeyStoreRecord): Promise<Set<string>>;
  /** True for the default store; for a custom key store, true only while CONNECTED. */
  isConnected(customKeyStoreId: string | null): boolean;
  /**
   * The HSM for a key, or for a custom key store id (null = the default store). Throws
   * KmsError KMSInvalidStateException "<arn> is unavailable." when the key's store is not
   * CONNECTED.
   */
  hsmFor(key: KeyRecord): Hsm;
  /** The cluster of a CONNECTED store; CustomKeyStoreInvalidStateException otherwise. */
  hsmForStore(customKeyStoreId: string): Hsm;
  /** The proxy of a key's CONNECTED external key store; KMSInvalidStateException otherwise. */
  xksProxyFor(key: KeyRecord): XksProxyClient;
  /** A connected external key store switches to this configuration and secret (UpdateCustomKeyStore); otherwise nothing. */
  replaceProxy(customKeyStoreId: string, proxy: XksProxyConfiguration, secretAccessKey: string): void;
  /** The store's sealed password or proxy secret, unsealed. */
  unsealPassword(store: CustomKeyStoreRecord): Promise<string>;
  /** A client for a proxy configuration (Create/Update check the proxy before saving it). */
  xksClientFor(proxy: XksProxyConfiguration, secretAccessKey: string): XksProxyClient;
  /** The live state (which may be newer than the record's). */
  stateOf(store: CustomKeyStoreRecord): ConnectionState;
  /** Why this node's connection FAILED (which may be newer than the record's, or this node's own); null otherwise. */
  errorCodeOf(store: CustomKeyStoreRecord): ConnectionErrorCode | null;
  /** Moves to CONNECTING and returns at once; the outcome is CONNECTED or FAILED. */
  connect(store: CustomKeyStoreRecord): Promise<void>;
  /** Moves to DISCONNECTING and returns at once; sessions drain, then DISCONNECTED. */
  disconnect(store: CustomKeyStoreRecord): Promise<void>;
  /** Live member health of a CONNECTED store's cluster; undefined when the store is not connected. */
  health(customKeyStoreId: string): ClusterStatus | undefined;
  /** Each member's capabilities, for a CONNECTED store; undefined otherwise. */
  capabilities(customKeyStoreId: string): Promise<readonly MemberCapabilities[] | undefined>;
  /** Which members hold each of the store's keys, for a CONNECTED store; undefined otherwise. */
  replicas(customKeyStoreId: string): Promise<ReplicaReport | undefined>;
  /** Waits for every pending connect/disconnect (tests, shutdown). */
  settled(): Promise<void>;
  /** Disconnects everything without changing what the operator asked for (shutdown). */
  close(): Promise<void>;
}
