// The runtime side of custom key stores: which stores are connected, their cluster connections,
// and the connection state machine (domain/custom-key-store.ts) carried out asynchronously, as
// AWS does: Connect and Disconnect return at once and the state moves on in the background.
//
// Every state change is written to the metadata store, so DescribeCustomKeyStores shows it and a
// restart knows what the operator wanted: stores that were connected reconnect by themselves.

import type { Logger } from 'pino';
import type { LoadedCluster, VendorProfileData } from '../config/clusters.js';
import {
  assertCanConnect,
  assertCanDisconnect,
  type ConnectionErrorCode,
  type ConnectionState,
  type CustomKeyStoreRecord,
  type XksProxyConfiguration,
} from '../domain/custom-key-store.js';
import { KmsError } from '../domain/errors.js';
import type { KeyRecord } from '../domain/key.js';
import { ClusterConnectError, ClusterHsm, type ClusterObserver, type ClusterStatus } from '../hsm/cluster/cluster-hsm.js';
import type { MemberCapabilities, ReplicaReport } from '../ports/key-stores.js';
import { RESYNC_LEASE_MS, whileHoldingClaim } from './work-claim.js';
import type { Hsm } from '../ports/hsm.js';
import type { ClusterInfo, KeyStores } from '../ports/key-stores.js';
import type { CustomKeyStorePatch, MetadataStore } from '../ports/store.js';
import type { XksStore } from '../ports/xks-store.js';
import type { SecretSealer } from './secret-sealer.js';
import { checkProxyHealth } from '../xks-client/health-check.js';
import { connectionErrorCodeOf, NOT_CONNECTED_MESSAGE } from '../xks-client/kms-answers.js';
import type { XksProxyClient } from '../xks-client/proxy-client.js';

export interface KeyStoreManagerDeps {
  readonly store: MetadataStore;
  readonly defaultHsm: Hsm;
  readonly clusters: ReadonlyMap<string, LoadedCluster>;
  readonly profile: (name: string) => VendorProfileData;
  readonly sealer: SecretSealer;
  readonly logger: Logger;
  /** Metrics for cluster member calls and state changes. */
  readonly observer?: ClusterObserver;
  /** The XKS proxy's keys: their objects are known keys too (re-synced to a member that comes back). */
  readonly xksStore?: XksStore;
  /**
   * A client for an external key store's proxy (the store's configuration and its unsealed
   * secret); absent when external key stores are not available.
   */
  readonly xksClient?: (proxy: XksProxyConfiguration, secretAccessKey: string) => XksProxyClient;
  /** This node, as it claims work in the shared store (a member's resync runs on one node at a time). */
  readonly node?: string;
}

interface Runtime {
  state: ConnectionState;
  cluster: ClusterHsm | undefined;
  /** An external key store's proxy client while CONNECTED. */
  proxy?: XksProxyClient | undefined;
  /** The background connect or disconnect in progress. */
  pending: Promise<void>;
  /** Why the connect FAILED, on this node. */
  errorCode?: ConnectionErrorCode;
  /** An external key store's proxy settings and sealed secret the client was made with (followIntent compares). */
  proxyVersion?: string;
}

/** What an external key store's proxy client depends on: a change on another node means a new client here. */
function proxyVersionOf(store: CustomKeyStoreRecord): string {
  return JSON.stringify([store.xksProxy ?? null, store.sealedPassword]);
}

export class KeyStoreManager implements KeyStores {
  private readonly runtimes = new Map<string, Runtime>();

  constructor(private readonly deps: KeyStoreManagerDeps) {}

  /**
   * After a restart: reconnect the stores the operator left connected (or connecting), finish
   * disconnects that were cut short. FAILED stays FAILED until the operator disconnects it.
   */
  async resume(): Promise<void> {
    let after: string | undefined;
    for (;;) {
      const page = await this.deps.store.listCustomKeyStores(after, 100);
      for (const record of page) {
        if (record.wantConnected && (record.connectionState === 'CONNECTED' || record.connectionState === 'CONNECTING')) {
          this.startConnect(record);
        } else if (record.connectionState === 'DISCONNECTING' || record.connectionState === 'CONNECTED' || record.connectionState === 'CONNECTING') {
          await this.persist(record.id, { connectionState: 'DISCONNECTED', connectionErrorCode: null, wantConnected: false });
        }
      }
      if (page.length < 100) return;
      after = page[page.length - 1]!.id;
    }
  }

  cluster(clusterId: string): ClusterInfo | undefined {
    const c = this.deps.clusters.get(clusterId);
    return c && {
      clusterId: c.clusterId,
      trustAnchorCertificate: c.trustAnchorPem,
      memberCount: c.members.length,
      minActiveMembersForCreateKey: c.minActiveMembersForCreateKey,
    };
  }

  isConnected(customKeyStoreId: string | null): boolean {
    return customKeyStoreId === null || this.runtimes.get(customKeyStoreId)?.state === 'CONNECTED';
  }

  activeMembers(customKeyStoreId: string): number {
    const runtime = this.runtimes.get(customKeyStoreId);
    return runtime?.state === 'CONNECTED' && runtime.cluster ? runtime.cluster.activeMembers().length : 0;
  }

  hsmFor(key: KeyRecord): Hsm {
    // A key in an external key store: its own (inner) layer is in keybridge's default key store,
    // whatever the store's state (the proxy is reached through xksProxyFor, which checks it).
    if (key.customKeyStoreId === null || key.origin === 'EXTERNAL_KEY_STORE') return this.deps.defaultHsm;
    const runtime = this.runtimes.get(key.customKeyStoreId);
    if (runtime?.state === 'CONNECTED' && runtime.cluster) return runtime.cluster;
    throw new KmsError('KMSInvalidStateException', `${key.arn} is unavailable.`);
  }

  xksProxyFor(key: KeyRecord): XksProxyClient {
    const runtime = key.customKeyStoreId === null ? undefined : this.runtimes.get(key.customKeyStoreId);
    if (runtime?.state === 'CONNECTED' && runtime.proxy) return runtime.proxy;
    throw new KmsError('KMSInvalidStateException', NOT_CONNECTED_MESSAGE);
  }

  replaceProxy(customKeyStoreId: string, proxy: XksProxyConfiguration, secretAccessKey: string): void {
    const runtime = this.runtimes.get(customKeyStoreId);
    if (runtime?.state !== 'CONNECTED' || runtime.proxy === undefined) return;
    const previous = runtime.proxy;
    runtime.proxy = this.xksClientFor(proxy, secretAccessKey);
    runtime.proxyVersion = undefined; // followIntent records the new version once it reads the store
    // Calls already under way on the old client finish first (a call lasts at most its timeout).
    setTimeout(() => previous.close(), 30_000).unref();
  }

  async unsealPassword(store: CustomKeyStoreRecord): Promise<string> {
    return this.deps.sealer.unseal(store.sealedPassword, store.id);
  }

  /** A client for a proxy configuration that is not (yet) a connected store's: Create and Update check with it. */
  xksClientFor(proxy: XksProxyConfiguration, secretAccessKey: string): XksProxyClient {
    if (this.deps.xksClient === undefined) throw new KmsError('UnsupportedOperationException', 'External key stores are not enabled in this keybridge.');
    return this.deps.xksClient(proxy, secretAccessKey);
  }

  hsmForStore(customKeyStoreId: string): Hsm {
    const runtime = this.runtimes.get(customKeyStoreId);
    if (runtime?.state === 'CONNECTED' && runtime.cluster) return runtime.cluster;
    throw new KmsError('CustomKeyStoreInvalidStateException', `Custom key store ${customKeyStoreId} is not connected.`);
  }

  /**
   * Brings this node's connections in line with the operator's intent as the store records it, when
   * another node (a shared PostgreSQL store) connected, disconnected, reconfigured or deleted a store:
   * each node connects its own sessions. What this node finds is its own (stateOf, health); it does
   * not overwrite the recorded state, which the node that carried out the operator's request writes.
   */
  async followIntent(): Promise<void> {
    const seen = new Set<string>();
    let after: string | undefined;
    for (;;) {
      const page = await this.deps.store.listCustomKeyStores(after, 100);
      for (const record of page) {
        seen.add(record.id);
        const runtime = this.runtimes.get(record.id);
        const local = runtime?.state ?? 'DISCONNECTED';
        const intendedUp = record.wantConnected && (record.connectionState === 'CONNECTED' || record.connectionState === 'CONNECTING');
        if (intendedUp && local === 'DISCONNECTED') {
          this.deps.logger.info({ customKeyStoreId: record.id }, 'custom key store connected by another node; connecting here too');
          this.startConnect(record, { persist: false });
        } else if (!record.wantConnected && (local === 'CONNECTED' || local === 'CONNECTING' || local === 'FAILED')) {
          this.deps.logger.info({ customKeyStoreId: record.id }, 'custom key store disconnected by another node; disconnecting here too');
          this.closeLocally(record.id, runtime!);
        } else if (local === 'CONNECTED' && runtime?.proxy !== undefined && runtime.proxyVersion !== proxyVersionOf(record) && record.xksProxy !== undefined) {
          this.replaceProxy(record.id, record.xksProxy, await this.unsealPassword(record));
          runtime.proxyVersion = proxyVersionOf(record);
        }
      }
      if (page.length < 100) break;
      after = page[page.length - 1]!.id;
    }
    for (const [id, runtime] of this.runtimes) if (!seen.has(id) && runtime.state !== 'DISCONNECTED') this.closeLocally(id, runtime);
  }

  /** Closes this node's connection of a store without recording anything (followIntent). */
  private closeLocally(id: string, runtime: Runtime): void {
    const next: Runtime = { state: 'DISCONNECTED', cluster: undefined, pending: Promise.resolve() };
    this.runtimes.set(id, next);
    next.pending = (async () => {
      await runtime.pending;
      await runtime.cluster?.close().catch((err: unknown) => this.deps.logger.error({ err, customKeyStoreId: id }, 'closing a cluster connection failed'));
      runtime.proxy?.close();
    })();
  }

  stateOf(store: CustomKeyStoreRecord): ConnectionState {
    return this.runtimes.get(store.id)?.state ?? store.connectionState;
  }

  errorCodeOf(store: CustomKeyStoreRecord): ConnectionErrorCode | null {
    const runtime = this.runtimes.get(store.id);
    if (runtime === undefined) return store.connectionState === 'FAILED' ? store.connectionErrorCode : null;
    return runtime.state === 'FAILED' ? (runtime.errorCode ?? store.connectionErrorCode) : null;
  }

  async connect(store: CustomKeyStoreRecord): Promise<void> {
    const current = { ...store, connectionState: this.stateOf(store) };
    if (current.connectionState === 'CONNECTED' || current.connectionState === 'CONNECTING') return;
    assertCanConnect(current);
    // CONNECTING here before the store says so: followIntent, woken by our own write, must not start a second connect.
    this.runtimes.set(store.id, { state: 'CONNECTING', cluster: undefined, pending: Promise.resolve() });
    await this.persist(store.id, { connectionState: 'CONNECTING', connectionErrorCode: null, wantConnected: true });
    this.startConnect(store);
  }

  async disconnect(store: CustomKeyStoreRecord): Promise<void> {
    assertCanDisconnect({ ...store, connectionState: this.stateOf(store) });
    const runtime = this.runtimes.get(store.id);
    const previous = runtime?.pending ?? Promise.resolve();
    const next: Runtime = { state: 'DISCONNECTING', cluster: undefined, pending: Promise.resolve() };
    this.runtimes.set(store.id, next);
    await this.persist(store.id, { connectionState: 'DISCONNECTING', wantConnected: false });
    next.pending = (async () => {
      // A connect still in flight finishes first; then whatever it opened is drained and closed.
      await previous;
      const cluster = runtime?.cluster ?? next.cluster;
      await cluster?.close().catch((err: unknown) => this.deps.logger.error({ err, customKeyStoreId: store.id }, 'closing a cluster connection failed'));
      runtime?.proxy?.close();
      next.state = 'DISCONNECTED';
      await this.persist(store.id, { connectionState: 'DISCONNECTED', connectionErrorCode: null });
      this.deps.logger.info({ customKeyStoreId: store.id }, 'custom key store disconnected');
    })();
  }

  async sealPassword(customKeyStoreId: string, password: string): Promise<string> {
    return this.deps.sealer.seal(password, customKeyStoreId);
  }

  async passwordMatches(store: CustomKeyStoreRecord, password: string): Promise<boolean> {
    return (await this.deps.sealer.unseal(store.sealedPassword, store.id)) === password;
  }

  async backingKeyIdsOn(clusterId: string, store: CustomKeyStoreRecord): Promise<Set<string>> {
    let cluster: ClusterHsm;
    try {
      cluster = await this.open(clusterId, await this.deps.sealer.unseal(store.sealedPassword, store.id), true);
    } catch (err) {
      throw new KmsError('CloudHsmClusterNotActiveException', `keybridge cannot open cluster ${clusterId} with this custom key store's password.`, { cause: err });
    }
    try {
      return new Set((await cluster.listSymmetricKeys()).map((k) => k.id));
    } finally {
      await cluster.close();
    }
  }

  async settled(): Promise<void> {
    await Promise.all([...this.runtimes.values()].map((r) => r.pending));
  }

  async close(): Promise<void> {
    await this.settled();
    for (const [id, runtime] of this.runtimes) {
      await runtime.cluster?.close().catch((err: unknown) => this.deps.logger.error({ err, customKeyStoreId: id }, 'closing a cluster connection failed'));
      runtime.cluster = undefined;
      runtime.proxy?.close();
      runtime.proxy = undefined;
      runtime.state = 'DISCONNECTED';
    }
  }

  /** `persist: false` (followIntent): this node's outcome is its own, not written to the store. */
  private startConnect(store: CustomKeyStoreRecord, options: { persist: boolean } = { persist: true }): void {
    const runtime: Runtime = { state: 'CONNECTING', cluster: undefined, pending: Promise.resolve(), proxyVersion: proxyVersionOf(store) };
    this.runtimes.set(store.id, runtime);
    runtime.pending = (async () => {
      let outcome: { state: 'CONNECTED' } | { state: 'FAILED'; code: ConnectionErrorCode };
      try {
        const password = await this.deps.sealer.unseal(store.sealedPassword, store.id);
        if (store.type === 'EXTERNAL_KEY_STORE') runtime.proxy = await this.connectProxy(store, password);
        else runtime.cluster = await this.open(store.clusterId, password);
        outcome = { state: 'CONNECTED' };
      } catch (err) {
        const code: ConnectionErrorCode =
          err instanceof ClusterConnectError ? err.connectionErrorCode : store.type === 'EXTERNAL_KEY_STORE' ? connectionErrorCodeOf(err) : 'INTERNAL_ERROR';
        this.deps.logger.warn({ err, customKeyStoreId: store.id, connectionErrorCode: code }, 'custom key store failed to connect');
        outcome = { state: 'FAILED', code };
      }
      // A disconnect that arrived meanwhile has replaced this runtime; it closes what we opened.
      if (this.runtimes.get(store.id) !== runtime) return;
      if (outcome.state === 'FAILED') {
        runtime.proxy?.close();
        runtime.proxy = undefined;
        runtime.errorCode = outcome.code;
      }
      runtime.state = outcome.state;
      if (outcome.state === 'CONNECTED') {
        if (options.persist) await this.persist(store.id, { connectionState: 'CONNECTED', connectionErrorCode: null });
        this.deps.logger.info({ customKeyStoreId: store.id, members: runtime.cluster?.activeMembers() }, 'custom key store connected');
      } else if (options.persist) {
        await this.persist(store.id, { connectionState: 'FAILED', connectionErrorCode: outcome.code });
      }
    })();
  }

  /**
   * An external key store connects when its proxy's GetHealthStatus succeeds with at least one
   * external key manager that can serve (AWS: XKS_PROXY_NOT_REACHABLE when all are UNAVAILABLE).
   */
  private async connectProxy(store: CustomKeyStoreRecord, secret: string): Promise<XksProxyClient> {
    if (store.xksProxy === undefined) throw new Error(`external key store ${store.id} has no proxy configuration`);
    const client = this.xksClientFor(store.xksProxy, secret);
    try {
      await checkProxyHealth(client, 'ConnectCustomKeyStore');
      return client;
    } catch (err) {
      client.close();
      throw err;
    }
  }

  /** Live member health of a CONNECTED store's cluster, or undefined when it is not connected. */
  health(customKeyStoreId: string): ClusterStatus | undefined {
    const runtime = this.runtimes.get(customKeyStoreId);
    return runtime?.state === 'CONNECTED' ? runtime.cluster?.status() : undefined;
  }

  async capabilities(customKeyStoreId: string): Promise<readonly MemberCapabilities[] | undefined> {
    const runtime = this.runtimes.get(customKeyStoreId);
    return runtime?.state === 'CONNECTED' ? runtime.cluster?.capabilities() : undefined;
  }

  async replicas(customKeyStoreId: string): Promise<ReplicaReport | undefined> {
    const runtime = this.runtimes.get(customKeyStoreId);
    if (runtime?.state !== 'CONNECTED' || runtime.cluster === undefined) return undefined;
    // The store's own keys' materials (every material of a rotated key) by KMS key, and its XKS keys.
    const keyIdOf = new Map<string, string | null>();
    const storeOf = new Map<string, string | undefined>();
    for (const { keyId, backingKeyId } of await this.deps.store.allBackingKeyIds()) {
      if (!storeOf.has(keyId)) storeOf.set(keyId, (await this.deps.store.getKey(keyId))?.customKeyStoreId ?? undefined);
      if (storeOf.get(keyId) === customKeyStoreId) keyIdOf.set(backingKeyId, keyId);
    }
    for (const key of (await this.deps.xksStore?.listXksKeys()) ?? []) if (key.customKeyStoreId === customKeyStoreId) keyIdOf.set(key.backingKeyId, null);
    const report = await runtime.cluster.replicas(new Set(keyIdOf.keys()));
    return { ...report, keys: report.keys.map((key) => ({ ...key, keyId: keyIdOf.get(key.backingKeyId) ?? null })) };
  }

  /** Every CONNECTED store's cluster status (for /metrics). */
  connectedClusters(): Array<{ customKeyStoreId: string; status: ClusterStatus }> {
    const out: Array<{ customKeyStoreId: string; status: ClusterStatus }> = [];
    for (const [id, runtime] of this.runtimes) {
      if (runtime.state === 'CONNECTED' && runtime.cluster !== undefined) out.push({ customKeyStoreId: id, status: runtime.cluster.status() });
    }
    return out;
  }

  /** Connected stores with no member serving (for /readyz). */
  storesWithoutActiveMember(): string[] {
    return [...this.runtimes.entries()]
      .filter(([, runtime]) => runtime.state === 'CONNECTED' && runtime.cluster !== undefined && runtime.cluster.activeMembers().length === 0)
      .map(([id]) => id);
  }

  private async open(clusterId: string, pin: string, passive = false): Promise<ClusterHsm> {
    const cluster = this.deps.clusters.get(clusterId);
    if (!cluster) {
      // Defined when the store was created, gone from hsm-config since: nothing to connect to.
      throw new ClusterConnectError(clusterId, 'CLUSTER_NOT_FOUND', [], [], 1);
    }
    return ClusterHsm.connect({
      clusterId,
      pin,
      minMembers: cluster.minActiveMembersToConnect,
      members: cluster.members.map((m) => ({
        name: m.name,
        modulePath: m.module,
        tokenLabel: m.tokenLabel,
        ...(m.tokenSerial === undefined ? {} : { tokenSerial: m.tokenSerial }),
        profile: this.deps.profile(m.profile),
      })),
      logger: this.deps.logger,
      passive,
      replication: cluster.replication,
      ...(cluster.replicationQuorum === undefined ? {} : { replicationQuorum: cluster.replicationQuorum }),
      symmetricSuite: cluster.symmetricSuite,
      requestsPerSecond: cluster.requestsPerSecond,
      ...(cluster.maxOutstandingPerMember === undefined ? {} : { maxOutstandingPerMember: cluster.maxOutstandingPerMember }),
      callTimeoutMs: cluster.health.callTimeoutMs,
      healthCheckIntervalMs: cluster.health.intervalMs,
      slowCheckMs: cluster.health.slowCheckMs,
      failuresToTrip: cluster.health.failuresToTrip,
      maxRetryIntervalMs: cluster.health.maxRetryIntervalMs,
      knownBackingKeyIds: async () =>
        new Set([
          ...(await this.deps.store.allBackingKeyIds()).map((row) => row.backingKeyId),
          ...((await this.deps.xksStore?.listXksKeys()) ?? []).map((key) => key.backingKeyId),
        ]),
      ...(this.deps.observer === undefined ? {} : { observer: this.deps.observer }),
      oneNodeAtATime: (item, work) => whileHoldingClaim(this.deps.store, item, work, { leaseMs: RESYNC_LEASE_MS, ...(this.deps.node === undefined ? {} : { owner: this.deps.node }) }),
    });
  }

  private async persist(id: string, patch: CustomKeyStorePatch): Promise<void> {
    try {
      await this.deps.store.updateCustomKeyStore(id, patch);
    } catch (err) {
      // Deleted meanwhile, or the store failed: the live state is still right for this process.
      this.deps.logger.error({ err, customKeyStoreId: id, patch }, 'could not record a custom key store state change');
    }
  }
}
