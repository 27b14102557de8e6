// Builds keybridge's XKS proxy side from the configuration: the XKS keys and the proxy credentials
// (always: the operator may prepare them before enabling the listener), and, when
// `xksProxy.enabled`, the proxy's own listener. Called by the composition root.

import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { AuditTrail } from '../audit/audit-store.js';
import { SigV4Verifier } from '../auth/sigv4-verifier.js';
import type { Config } from '../config/schema.js';
import type { Metrics } from '../http/metrics.js';
import type { Clock } from '../ports/clock.js';
import type { Hsm } from '../ports/hsm.js';
import type { ClusterStatus, KeyStores } from '../ports/key-stores.js';
import type { MetadataStore } from '../ports/store.js';
import type { XksStore } from '../ports/xks-store.js';
import type { SecretSealer } from '../services/secret-sealer.js';
import { XksCredentials } from './credentials.js';
import { XksHealth, type HealthStore } from './health.js';
import { XksKeys } from './keys.js';
import { XksProxy } from './proxy.js';
import { SecondaryAuthorization } from './secondary-authorization.js';
import { buildXksServer } from './server.js';
import { followChanges } from '../services/follow-changes.js';

export interface XksSide {
  readonly keys: XksKeys;
  readonly credentials: XksCredentials;
  /** Starts the proxy listener when enabled; resolves its base URL (no path), else undefined. */
  listen(): Promise<string | undefined>;
  /** Stops accepting and drains the proxy listener. */
  close(): Promise<void>;
}

export interface XksSideDeps {
  readonly config: Readonly<Config>;
  readonly store: MetadataStore;
  readonly xksStore: XksStore;
  readonly keyStores: KeyStores;
  readonly defaultHsm: Hsm;
  /** The default key store's one-member cluster status (for GetHealthStatus). */
  readonly defaultStatus: () => ClusterStatus;
  readonly sealer: SecretSealer;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly audit: AuditTrail;
  readonly clock: Clock;
}

export async function composeXks(deps: XksSideDeps): Promise<XksSide> {
  const { config } = deps;
  const settings = config.xksProxy;
  const keys = new XksKeys({
    xks: deps.xksStore,
    store: deps.store,
    keyStores: deps.keyStores,
    defaultHsm: deps.defaultHsm,
    accountId: config.accountId,
    now: () => deps.clock.now(),
  });
  const credentials = new XksCredentials({ store: deps.xksStore, sealer: deps.sealer, logger: deps.logger });
  await credentials.refresh();
  // Other nodes' changes (a shared PostgreSQL store): a disabled key or a deleted credential takes effect here at once.
  const unfollow = [
    followChanges(deps.store.changes, ['xks-keys'], async () => keys.forget(), { logger: deps.logger, what: 'XKS keys' }),
    followChanges(deps.store.changes, ['xks-credentials'], () => credentials.refresh(), { logger: deps.logger, what: 'XKS proxy credentials' }),
  ];
  const stopFollowing = (): void => unfollow.forEach((stop) => stop());
  if (!settings.enabled) {
    return { keys, credentials, listen: async () => undefined, close: async () => stopFollowing() };
  }

  const health = new XksHealth({
    async storesOf(uriPath) {
      const ids = new Set((await keys.list(uriPath)).map((k) => k.customKeyStoreId));
      return ids.size === 0 ? [{ customKeyStoreId: null }] : [...ids].map((customKeyStoreId) => ({ customKeyStoreId }));
    },
    hsmOf: (store: HealthStore) => keys.hsmOf(store),
    statusOf: (store: HealthStore) => (store.customKeyStoreId === null ? deps.defaultStatus() : deps.keyStores.health(store.customKeyStoreId)),
    cacheMs: settings.healthCacheSeconds * 1000,
    now: () => Date.now(),
  });
  const rules = settings.secondaryAuthorization?.rules;
  const region = settings.region ?? config.region;
  const tls = settings.tls;
  const app: FastifyInstance = buildXksServer({
    proxy: new XksProxy({ keys, health, authorization: rules === undefined ? undefined : new SecondaryAuthorization(rules) }),
    credentials,
    verifier: new SigV4Verifier({ credentials, region, service: 'kms-xks-proxy', maxSkewMs: 5 * 60_000 }),
    logger: deps.logger,
    audit: deps.audit,
    metrics: deps.metrics,
    region,
    accountId: config.accountId,
    ...(settings.plainHttp || tls === undefined
      ? {}
      : {
          https: {
            cert: readFileSync(tls.certFile),
            key: readFileSync(tls.keyFile),
            ...(tls.clientCertificate ? { clientCertificate: { ca: readFileSync(tls.clientCertificate.caFile), subject: tls.clientCertificate.subject } } : {}),
          },
        }),
  });
  return {
    keys,
    credentials,
    async listen() {
      await app.listen({ host: settings.host, port: settings.port });
      const address = app.server.address();
      const port = typeof address === 'object' && address ? address.port : settings.port;
      const host = settings.host.includes(':') ? `[${settings.host}]` : settings.host;
      return `${settings.plainHttp ? 'http' : 'https'}://${host}:${port}`;
    },
    async close() {
      stopFollowing();
      await app.close();
    },
  };
}
