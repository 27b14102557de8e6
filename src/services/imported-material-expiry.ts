// Expiry of what imports leave behind: imported key material whose ValidTo has passed is destroyed
// in the HSM and its key goes to PendingImport (AWS: the key becomes unusable until the same
// material is imported again; CloudTrail records DeleteExpiredKeyMaterial), and the RSA wrapping
// key pairs of GetParametersForImport are destroyed once their 24 hours are over. Runs on a timer
// on the injectable clock; tests call `expireOnce` after moving their clock forward.
//
// Order: the store first says the material is gone, then the HSM object goes. An interrupted run
// leaves a key that cannot be used and an object the next run (or DeleteImportedKeyMaterial)
// destroys, never a key that claims material the HSM has lost.

import type { Logger } from 'pino';

import type { KeyRecord } from '../domain/key.js';
import type { Clock } from '../ports/clock.js';
import { IMPORT_WRAPPING_KEY_LABEL, type Hsm } from '../ports/hsm.js';
import type { KeyStores } from '../ports/key-stores.js';
import type { MetadataStore } from '../ports/store.js';
import { startPeriodic } from './periodic.js';
import { onceAcrossNodes } from './work-claim.js';

export interface ImportExpiryDeps {
  /** This node, as the claimant of background work (default: this process, work-claim.ts NODE_ID). */
  readonly node?: string;
  readonly store: MetadataStore;
  readonly keyStores: KeyStores;
  /** The default key store's HSM, which holds the wrapping key pairs. */
  readonly defaultHsm: Hsm;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Told about every material that expired (the audit trail records DeleteExpiredKeyMaterial). */
  readonly onExpired?: (key: KeyRecord, materialId: string) => Promise<void>;
}

export interface ExpiryRound {
  /** Keys whose material expired in this round. */
  readonly keyIds: string[];
  readonly wrappingKeysDestroyed: number;
}

/** One round; a failure on one item does not stop the rest (it is retried next round). */
export async function expireOnce(deps: ImportExpiryDeps): Promise<ExpiryRound> {
  const now = deps.clock.now();
  const keyIds: string[] = [];
  for (const { key, material } of await deps.store.importedMaterialsExpiredBy(now)) {
    try {
      // One node expires a material (and records it in the trail): the one that claims it and finds it still imported and expired.
      const stillDue = async (): Promise<boolean> => {
        const current = (await deps.store.listKeyMaterials(key.keyId)).find((m) => m.materialId === material.materialId);
        return current?.imported?.importState === 'IMPORTED' && current.imported.validTo !== null && current.imported.validTo <= now;
      };
      const done = await onceAcrossNodes(deps.store, `expire-material:${material.materialId}`, now, stillDue, async () => {
        const updated = await deps.store.recordImportedMaterialDeleted(key.keyId, material.materialId);
        await deps.keyStores.hsmFor(key).destroySymmetricKey({ id: material.materialId, label: key.arn });
        deps.logger.info({ keyId: key.keyId, state: updated.state }, 'imported key material expired and was deleted');
        await deps.onExpired?.(updated, material.materialId).catch((err: unknown) => {
          deps.logger.error({ err, keyId: key.keyId }, 'the audit trail could not record expired key material');
        });
        return true;
      }, deps.node);
      if (done === true) keyIds.push(key.keyId);
    } catch (err) {
      deps.logger.error({ err, keyId: key.keyId }, 'could not delete expired imported key material; will retry');
    }
  }
  let wrappingKeysDestroyed = 0;
  for (const wrapping of await deps.store.importWrappingKeysExpiredBy(now)) {
    try {
      const stillDue = async (): Promise<boolean> => (await deps.store.importWrappingKeysExpiredBy(now)).some((w) => w.wrappingKeyId === wrapping.wrappingKeyId);
      const done = await onceAcrossNodes(deps.store, `destroy-wrapping-key:${wrapping.wrappingKeyId}`, now, stillDue, async () => {
        await deps.defaultHsm.destroySymmetricKey({ id: wrapping.wrappingKeyId, label: IMPORT_WRAPPING_KEY_LABEL });
        await deps.store.deleteImportWrappingKey(wrapping.wrappingKeyId);
        return true;
      }, deps.node);
      if (done === true) wrappingKeysDestroyed += 1;
    } catch (err) {
      deps.logger.error({ err, wrappingKeyId: wrapping.wrappingKeyId }, 'could not destroy an expired import wrapping key; will retry');
    }
  }
  return { keyIds, wrappingKeysDestroyed };
}

export interface ImportExpiry {
  /** Runs one round now (waiting for one already running). */
  expireOnce(): Promise<ExpiryRound>;
  stop(): Promise<void>;
}

export function startImportExpiry(deps: ImportExpiryDeps, intervalMs: number): ImportExpiry {
  const job = startPeriodic(() => expireOnce(deps), intervalMs);
  return { expireOnce: job.runOnce, stop: job.stop };
}
