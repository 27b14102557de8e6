// The composition root: the only file that knows every layer. Builds keybridge from a validated
// configuration and tears it down in reverse order of creation.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { readCredentialsFile } from './auth/credentials-file.js';
import { SigV4Verifier } from './auth/sigv4-verifier.js';
import { PrincipalCredentials } from './auth/principal-credentials.js';
import type { Config, TokenConfig } from './config/schema.js';
import { defaultHsmConfigDir, loadClusters, loadVendorProfile } from './config/clusters.js';
import { readSecret } from './config/secrets.js';
import { rootPrincipalArn, type Account } from './domain/arn.js';
import { ClusterConnectError, ClusterHsm, type ClusterConnectOptions, type ClusterObserver } from './hsm/cluster/cluster-hsm.js';
import type { VendorProfile } from './hsm/vendor-profile.js';
import { AuditTrail } from './audit/audit-store.js';
import type { AuditKey } from './audit/event.js';
import type { KeyRecord } from './domain/key.js';
import { AUDIT_SIGNING_KEY_FILE } from './audit/digest.js';
import { buildApp } from './http/app.js';
import { Metrics } from './http/metrics.js';
import { RecentRequests } from './http/recent-requests.js';
import type { OperationDeps } from './operations/operation.js';
import { systemClock, type Clock } from './ports/clock.js';
import type { AccessKey } from './ports/principals.js';
import { AuditSigningKey } from './services/audit-signing-key.js';
import { reconcile, type ReconcileReport } from './services/reconcile.js';
import { startSweeper, type Sweeper } from './services/deletion-sweeper.js';
import { startRotationScheduler, type RotationScheduler } from './services/key-rotation.js';
import { startImportExpiry, type ImportExpiry } from './services/imported-material-expiry.js';
import { KeyStoreManager } from './services/key-store-manager.js';
import { SecretSealer } from './services/secret-sealer.js';
import { prepareEmbedded } from './setup/embedded.js';
import { openStore, postgresConnection } from './store/open-store.js';
import { exclusivelyAcrossNodes, NODE_ID, RESYNC_LEASE_MS, whileHoldingClaim } from './services/work-claim.js';
import { backupRefusal, backupSourceOf } from './backup/source.js';
import type { LookupSource } from './audit/lookup.js';
import { PostgresAuditReader } from './audit/postgres/reader.js';
import { fileLookupSource } from './audit/tail.js';
import { fileTrailVerifier, postgresTrailVerifier } from './audit/trail-verifier.js';
import { startNodeReports, type NodeReporter } from './services/node-reports.js';
import { keyStoreHealthWire } from './admin/key-store-health-wire.js';
import { followChanges } from './services/follow-changes.js';
import { composeXks, type XksSide } from './xks/compose-xks.js';
import { xksClientFactory } from './xks-client/factory.js';

export interface Keybridge {
  readonly app: FastifyInstance;
  readonly deps: OperationDeps;
  readonly sweeper: Sweeper;
  readonly rotations: RotationScheduler;
  /** Expiry of imported key material and of import wrapping keys (runs on the sweeper's interval). */
  readonly importExpiry: ImportExpiry;
  /** This node's key store health reports for the other nodes (DescribeKeyStoreHealth). */
  readonly nodeReports: NodeReporter;
  readonly reconciliation: ReconcileReport;
  /** The access keys callers may sign with, by credentials-file profile. */
  readonly accessKeys: ReadonlyMap<string, AccessKey>;
  /** Listens on the configured host and port; resolves the base URL. */
  listen(): Promise<string>;
  readonly keyStores: KeyStoreManager;
  /** The XKS proxy's keys and credentials (issue #15). */
  readonly xks: Pick<XksSide, 'keys' | 'credentials'>;
  /** The XKS proxy listener's base URL once listening; undefined when it is disabled. */
  readonly xksProxyUrl: string | undefined;
  /** Stop accepting → drain → stop sweeper → close clusters → close HSM sessions → finalize → close store. */
  close(): Promise<void>;
}

export interface ComposeOptions {
  readonly logger: Logger;
  /** Injected by tests to pass a key's deletion window without waiting. */
  readonly clock?: Clock;
  /** This node's name in work claims, reports and the shared audit trail; tests running several nodes in one process name each. Default: this process. */
  readonly node?: string;
}

export async function compose(config: Readonly<Config>, options: ComposeOptions): Promise<Keybridge> {
  const { logger } = options;
  const clock = options.clock ?? systemClock;
  const node = options.node ?? NODE_ID;
  const account: Account = { partition: config.partition, region: config.region, accountId: config.accountId };

  const profilesDir = config.profilesDir ?? defaultHsmConfigDir('profiles');
  const clusters = loadClusters(config.clustersDir ?? defaultHsmConfigDir('clusters'), profilesDir);
  const tokenConfig = config.embedded ? (await prepareEmbedded(config, clusters.values(), logger)).defaultKeyStore : config.defaultKeyStore!;
  const accessKeys = loadAccessKeys(config, account);

  const store = await openStore(config.store, logger);
  const metrics = new Metrics();
  let hsm: ClusterHsm;
  try {
    hsm = await openToken(tokenConfig, config, profilesDir, logger, metrics, (item, work) => whileHoldingClaim(store, item, work, { owner: node, leaseMs: RESYNC_LEASE_MS }));
  } catch (err) {
    await store.close();
    throw err;
  }

  const sealer = new SecretSealer(hsm);
  try {
    // The HSM's internal keys are made on a fresh token by one node at a time: nodes sharing the
    // token would otherwise each make one under the same id.
    await exclusivelyAcrossNodes(store, 'first-start:secret-sealing-key', () => sealer.prepare(), { owner: node });
  } catch (err) {
    await hsm.close();
    await store.close();
    throw err;
  }
  const keyStores = new KeyStoreManager({
    store,
    defaultHsm: hsm,
    clusters,
    profile: (name) => loadVendorProfile(profilesDir, name),
    sealer,
    logger,
    observer: metrics,
    xksStore: store.xks,
    xksClient: xksClientFactory(config),
    node,
  });
  metrics.attach({ clusters: () => [{ customKeyStoreId: DEFAULT_KEY_STORE, status: hsm.status() }, ...keyStores.connectedClusters()] });
  const deps: OperationDeps = { account, store, hsm, keyStores, clock, logger, sealer, maxOnDemandRotations: config.maxOnDemandRotationsPerKey, xksStore: store.xks };
  // XKS keys' objects in the default key store are known too (not orphans).
  const xksBackingKeys = new Set((await store.xks.listXksKeys()).filter((k) => k.customKeyStoreId === null).map((k) => k.backingKeyId));
  const reconciliation = await reconcile(store, hsm, logger, xksBackingKeys);
  await keyStores.resume();
  // What another node does to a custom key store (a shared PostgreSQL store), this node follows with its own sessions.
  const unfollowKeyStores = followChanges(store.changes, ['custom-key-stores'], () => keyStores.followIntent(), { logger, what: 'custom key stores' });
  let audit: AuditTrail;
  // VerifyAuditTrail checks digests with the key the HSM signs them with, not the PEM file beside the trail.
  let auditPublicKeyPem: string;
  try {
    // The digest-signing key lives in the default key store's HSM, made by one node at a time on a
    // fresh token (see the sealing key above); its public key goes to the data directory.
    const signer = await exclusivelyAcrossNodes(store, 'first-start:audit-signing-key', () => AuditSigningKey.open(hsm, join(config.dataDir, AUDIT_SIGNING_KEY_FILE)), {
      owner: node,
    });
    auditPublicKeyPem = signer.publicKeyPem;
    // With PostgreSQL the trail is in the shared database: one chain for every node.
    audit = await AuditTrail.open({
      ...(config.store.kind === 'postgres' ? { postgres: postgresConnection(config.store), node } : { path: config.audit.path! }),
      retention: config.audit.retention, logger, signer, digestIntervalSeconds: config.audit.digestIntervalSeconds,
    });
  } catch (err) {
    await keyStores.close();
    await hsm.close();
    await store.close();
    throw err;
  }
  const sweeper = startSweeper(
    {
      node,
      store,
      keyStores,
      clock,
      logger,
      // The intent is durable before anything is destroyed; the outcome carries the id it named.
      onDeleting: (key, deletionId) =>
        audit.serviceIntent({ eventName: 'DeleteKey', time: new Date(clock.now()), region: account.region, key: auditKeyOf(key), eventId: deletionId }),
      onDeleted: (key, destroyed, deletionId) =>
        audit.serviceEvent({
          eventName: 'DeleteKey',
          time: new Date(clock.now()),
          region: account.region,
          key: auditKeyOf(key),
          eventId: deletionId,
          ...(key.customKeyStoreId === null ? {} : { backingKeyDeletionStatus: destroyed === true ? 'SUCCESS' : destroyed === false ? 'NOT_FOUND' : 'STORE_NOT_CONNECTED' }),
        }),
    },
    config.deletionSweepIntervalMs,
  );

  const rotations = startRotationScheduler(
    {
      node,
      store,
      keyStores,
      clock,
      logger,
      onRotated: (key, type) =>
        type === 'AUTOMATIC' ? audit.serviceEvent({ eventName: 'RotateKey', time: new Date(clock.now()), region: account.region, key: auditKeyOf(key) }) : Promise.resolve(),
    },
    config.rotationCheckIntervalMs,
  );

  const importExpiry = startImportExpiry(
    {
      node,
      store,
      keyStores,
      defaultHsm: hsm,
      clock,
      logger,
      onExpired: (key) => audit.serviceEvent({ eventName: 'DeleteExpiredKeyMaterial', time: new Date(clock.now()), region: account.region, key: auditKeyOf(key) }),
    },
    config.deletionSweepIntervalMs,
  );

  // Store-backed principals (admin API) first, then the operator's keys from the credentials file.
  const principals = new PrincipalCredentials({ store, sealer, operatorKeys: [...accessKeys.values()], logger });
  await principals.refresh();
  // Another node's change (a shared PostgreSQL store) — a deleted or deactivated key — holds here at once.
  const unfollowPrincipals = followChanges(store.changes, ['principals'], () => principals.refresh(), { logger, what: 'principals and access keys' });

  let xks: XksSide;
  try {
    xks = await composeXks({
      config, store, xksStore: store.xks, keyStores, defaultHsm: hsm, defaultStatus: () => hsm.status(), sealer, logger, metrics, audit, clock,
    });
  } catch (err) {
    unfollowPrincipals();
    unfollowKeyStores();
    await Promise.all([sweeper.stop(), rotations.stop(), importExpiry.stop()]);
    await audit.close();
    await keyStores.close();
    await hsm.close();
    await store.close();
    throw err;
  }
  let xksProxyUrl: string | undefined;
  // This node's view of each custom key store, for DescribeKeyStoreHealth on every node.
  const nodeReports = startNodeReports({ store, node, clock, logger, describe: (record) => keyStoreHealthWire(record, keyStores) });

  let ready = false;
  const authenticator = new SigV4Verifier({
    credentials: principals,
    region: config.region,
    service: 'kms',
    maxSkewMs: config.signatureMaxSkewMinutes * 60_000,
  });
  const tls = config.listen.tls;
  // LookupEvents reads the trail: the file, or (shared PostgreSQL) one connection opened on first use.
  const pgAudit = config.store.kind === 'postgres' ? postgresConnection(config.store) : undefined;
  let auditReader: PostgresAuditReader | undefined;
  const auditLookup: LookupSource =
    pgAudit === undefined
      ? fileLookupSource(config.audit.path!)
      : { newestBefore: (...args) => (auditReader ??= new PostgresAuditReader(pgAudit)).newestBefore(...args) };
  // VerifyAuditTrail: the same trail, verified as `keybridge audit verify` does (a snapshot of PostgreSQL's through the same reader).
  const auditVerifier =
    pgAudit === undefined
      ? fileTrailVerifier(config.audit.path!, auditPublicKeyPem)
      : postgresTrailVerifier(() => (auditReader ??= new PostgresAuditReader(pgAudit)), auditPublicKeyPem);
  // The web console's request charts (DescribeRequestMetrics): this process's last 15 minutes.
  const recentRequests = new RecentRequests(() => clock.now());
  const app = buildApp({
    deps,
    authenticator,
    logger,
    maxBodyBytes: config.maxBodyBytes,
    notReadyBecause: () => notReadyBecause(ready, hsm, keyStores),
    metrics,
    recentRequests,
    audit,
    admin: {
      ...deps,
      principals,
      xks,
      node,
      backups: {
        source: config.store.kind === 'postgres' ? undefined : backupSourceOf(config),
        refusal: backupRefusal(config),
        directory: config.backupDirectory ?? join(config.dataDir, 'backups'),
      },
      auditLookup,
      auditVerifier,
      recentRequests,
    },
    ...(tls ? { https: { cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile) } } : {}),
    ...(config.console.enabled ? { console: { region: config.region } } : {}),
  });

  let closed: Promise<void> | undefined;
  return {
    app,
    deps,
    sweeper,
    rotations,
    importExpiry,
    nodeReports,
    keyStores,
    reconciliation,
    accessKeys,
    xks,
    get xksProxyUrl() {
      return xksProxyUrl;
    },
    async listen() {
      await app.listen({ host: config.listen.host, port: config.listen.port });
      xksProxyUrl = await xks.listen();
      ready = true;
      const address = app.server.address();
      const port = typeof address === 'object' && address ? address.port : config.listen.port;
      const host = config.listen.host.includes(':') ? `[${config.listen.host}]` : config.listen.host;
      return `${tls ? 'https' : 'http'}://${host}:${port}`;
    },
    close() {
      closed ??= (async () => {
        ready = false;
        await Promise.all([app.close(), xks.close()]);
        unfollowPrincipals();
        unfollowKeyStores();
        await sweeper.stop();
        await rotations.stop();
        await importExpiry.stop();
        await nodeReports.stop();
        // Before the HSM closes: the trail's final digest is signed by it.
        await audit.close();
        await auditReader?.close();
        await keyStores.close();
        await hsm.close();
        await store.close();
      })();
      return closed;
    },
  };
}

/** Ready: listening, not closing, and every connected custom key store has a member serving. */
function notReadyBecause(listening: boolean, defaultStore: ClusterHsm, keyStores: KeyStoreManager): string | undefined {
  if (!listening) return 'starting or shutting down';
  if (defaultStore.activeMembers().length === 0) return 'the default key store\'s HSM is not available';
  const stranded = keyStores.storesWithoutActiveMember();
  if (stranded.length > 0) return `no HSM of custom key store ${stranded.join(', ')} is available`;
  return undefined;
}

/** A key as the audit trail names it. */
function auditKeyOf(key: KeyRecord): AuditKey {
  return { arn: key.arn, accountId: key.accountId, backingKeyId: key.backingKeyId, ...(key.customKeyStoreId === null ? {} : { customKeyStoreId: key.customKeyStoreId }) };
}

/** Metrics and health name the default key store's one-member cluster so. */
const DEFAULT_KEY_STORE = 'default';

/**
 * The default key store's token, as a one-member cluster: the same circuit breaker, controlled
 * reset, deep health checks and per-member metrics as a custom key store's HSMs, without a quota
 * (AWS's default key store quotas are per account and far higher than one token can serve).
 */
async function openToken(
  token: TokenConfig,
  config: Pick<Config, 'defaultKeyStoreHealth' | 'defaultKeyStoreSymmetricSuite'>,
  profilesDir: string,
  logger: Logger,
  observer: ClusterObserver,
  oneNodeAtATime: NonNullable<ClusterConnectOptions['oneNodeAtATime']>,
): Promise<ClusterHsm> {
  const profile: VendorProfile = loadVendorProfile(profilesDir, token.profile);
  const health = config.defaultKeyStoreHealth;
  try {
    return await ClusterHsm.connect({
      clusterId: DEFAULT_KEY_STORE,
      members: [{ name: DEFAULT_KEY_STORE, modulePath: token.module, tokenLabel: token.tokenLabel, profile }],
      pin: readSecret(token.userPin),
      minMembers: 1,
      replication: 'vendor',
      symmetricSuite: config.defaultKeyStoreSymmetricSuite,
      requestsPerSecond: 0,
      // The pool's FIFO wait (with its deadline) is the only queue bound the default store needs.
      maxOutstandingPerMember: Number.POSITIVE_INFINITY,
      observer,
      logger,
      // Nodes sharing the token make its canary one at a time.
      oneNodeAtATime,
      callTimeoutMs: health.callTimeoutMs,
      healthCheckIntervalMs: health.intervalMs,
      slowCheckMs: health.slowCheckMs,
      failuresToTrip: health.failuresToTrip,
      maxRetryIntervalMs: health.maxRetryIntervalMs,
      ...(token.maxSessions !== undefined ? { maxSessions: token.maxSessions } : {}),
      ...(token.acquireTimeoutMs !== undefined ? { acquireTimeoutMs: token.acquireTimeoutMs } : {}),
    });
  } catch (err) {
    // One member: its own failure (wrong PIN, missing token, missing library) says it best.
    throw err instanceof ClusterConnectError && err.failures[0] !== undefined ? err.failures[0].error : err;
  }
}

/**
 * Every profile of the credentials file is a caller. The operator's profile (credentialsProfile)
 * is the account's root principal; any other is IAM user `<profile>` of the account, unless the
 * metadata store knows its key (PrincipalCredentials gives the store's principal precedence).
 */
function loadAccessKeys(config: Readonly<Config>, account: Account): Map<string, AccessKey> {
  const keys = new Map<string, AccessKey>();
  for (const [profile, creds] of readCredentialsFile(config.credentialsFile!)) {
    const operator = profile === config.credentialsProfile;
    keys.set(profile, {
      accessKeyId: creds.accessKeyId,
      secretAccessKey: creds.secretAccessKey,
      principal: operator
        ? { arn: rootPrincipalArn(account), accountId: account.accountId, type: 'Root' }
        : {
            arn: `arn:${account.partition}:iam::${account.accountId}:user/${profile}`,
            accountId: account.accountId,
            type: 'IAMUser',
            userName: profile,
          },
    });
  }
  if (keys.size === 0) throw new Error(`the credentials file ${config.credentialsFile} defines no profile`);
  return keys;
}
