// GetHealthStatus (spec "GetHealthStatus"): deep, not shallow. For every key store behind a URI
// path (the stores its XKS keys live in; the default key store while it has none), an AES-GCM
// encrypt and decrypt round trip under an internal test key in that store's HSM, through the same
// cluster routing as real requests, so a success means the next request can succeed. Results are
// cached per store for healthCacheSeconds (the spec: never older than one minute), and concurrent
// checks share one round trip, so AWS KMS's periodic checks cost no HSM time beyond that.
//
// ekmFleetDetails lists each store's cluster members with the state their own periodic deep
// checks give them (ACTIVE, DEGRADED, UNAVAILABLE: the spec's three); a store whose round trip
// failed reports all its members UNAVAILABLE. When no store behind the path passes, the check
// fails with the error of the first failure, as the spec wants no 200 then.

import { createHash, randomBytes } from 'node:crypto';
import { HsmError, type BackingKeyRef, type Hsm } from '../ports/hsm.js';
import type { ClusterStatus } from '../ports/key-stores.js';
import { XksError } from './errors.js';
import { toXksError } from './hsm-errors.js';

/** The internal test key of every store's health check (never a KMS or XKS key). */
const TEST_KEY: BackingKeyRef = {
  id: createHash('sha256').update('keybridge internal xks-health key v1').digest('hex'),
  label: 'keybridge:internal:xks-health',
};

/** The spec: 1 to 10 entries. */
const MAX_FLEET_DETAILS = 10;

export interface HealthStore {
  /** null = the default key store. */
  readonly customKeyStoreId: string | null;
}

export interface XksHealthDeps {
  /** The stores behind a URI path. */
  storesOf(uriPath: string): Promise<readonly HealthStore[]>;
  /** The store's HSM; throws when the store is not connected. */
  hsmOf(store: HealthStore): Hsm;
  /** The store's cluster members' live state; undefined when it is not connected. */
  statusOf(store: HealthStore): ClusterStatus | undefined;
  readonly cacheMs: number;
  readonly now: () => number;
}

export interface HealthResponse {
  readonly xksProxyFleetSize: number;
  readonly xksProxyVendor: string;
  readonly xksProxyModel: string;
  readonly ekmVendor: string;
  readonly ekmFleetDetails: ReadonlyArray<{ readonly id: string; readonly model: string; readonly healthStatus: 'ACTIVE' | 'DEGRADED' | 'UNAVAILABLE' }>;
}

interface CheckResult {
  readonly at: number;
  readonly error: XksError | undefined;
}

export class XksHealth {
  readonly #results = new Map<string, CheckResult>();
  readonly #running = new Map<string, Promise<CheckResult>>();

  constructor(private readonly deps: XksHealthDeps) {}

  async check(uriPath: string): Promise<HealthResponse> {
    const stores = await this.deps.storesOf(uriPath);
    const results = await Promise.all(stores.map((store) => this.#roundTrip(store)));
    if (results.every((r) => r.error !== undefined)) throw results[0]!.error!;
    const details: Array<HealthResponse['ekmFleetDetails'][number]> = [];
    stores.forEach((store, i) => {
      const name = store.customKeyStoreId ?? 'default';
      const status = this.deps.statusOf(store);
      if (status === undefined) {
        details.push({ id: name, model: 'keybridge key store (not connected)', healthStatus: 'UNAVAILABLE' });
        return;
      }
      const failed = results[i]!.error !== undefined;
      for (const member of status.members) {
        details.push({ id: `${name}/${member.name}`, model: `PKCS#11 token ${member.tokenLabel}`, healthStatus: failed ? 'UNAVAILABLE' : member.state });
      }
    });
    return {
      xksProxyFleetSize: 1,
      xksProxyVendor: 'keybridge',
      xksProxyModel: 'keybridge XKS proxy (API v1.0.3)',
      ekmVendor: 'PKCS#11 HSM via keybridge',
      ekmFleetDetails: details.slice(0, MAX_FLEET_DETAILS),
    };
  }

  #roundTrip(store: HealthStore): Promise<CheckResult> {
    const key = store.customKeyStoreId ?? '';
    const cached = this.#results.get(key);
    if (cached !== undefined && this.deps.now() - cached.at < this.deps.cacheMs) return Promise.resolve(cached);
    let running = this.#running.get(key);
    if (running === undefined) {
      running = this.#run(store).then((result) => {
        this.#results.set(key, result);
        this.#running.delete(key);
        return result;
      });
      this.#running.set(key, running);
    }
    return running;
  }

  async #run(store: HealthStore): Promise<CheckResult> {
    try {
      const hsm = this.deps.hsmOf(store);
      const probe = randomBytes(32);
      const aad = Buffer.from('keybridge xks health');
      let sealed;
      try {
        sealed = await hsm.encrypt(TEST_KEY, probe, aad, 'AES_256_GCM');
      } catch (err) {
        if (!(err instanceof HsmError && err.code === 'HSM_KEY_NOT_FOUND')) throw err;
        // First check on this store: make its test key (a concurrent maker may win; encrypt decides).
        await hsm.generateSymmetricKey(TEST_KEY, 'AES_256_GCM').catch(() => undefined);
        sealed = await hsm.encrypt(TEST_KEY, probe, aad, 'AES_256_GCM');
      }
      const back = await hsm.decrypt(TEST_KEY, sealed.iv, sealed.ciphertext, sealed.tag, aad, 'AES_256_GCM');
      if (!back.equals(probe)) throw new XksError('InternalException', 'The health round trip returned different bytes.');
      return { at: this.deps.now(), error: undefined };
    } catch (err) {
      return { at: this.deps.now(), error: toXksError(err) };
    }
  }
}
