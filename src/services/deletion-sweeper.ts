// Destroys keys whose deletion window has passed: first the intent is recorded (onDeleting), then
// the HSM object is destroyed, then the metadata, so a crash between the two leaves metadata whose
// next sweep finds the object already gone and finishes the job. Runs on a timer; tests call `sweepOnce` after moving their clock forward.

import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { KeyRecord } from '../domain/key.js';
import type { Clock } from '../ports/clock.js';
import type { KeyStores } from '../ports/key-stores.js';
import type { MetadataStore } from '../ports/store.js';
import { startPeriodic } from './periodic.js';
import { onceAcrossNodes } from './work-claim.js';

export interface SweeperDeps {
  /** This node, as the claimant of background work (default: this process, work-claim.ts NODE_ID). */
  readonly node?: string;
  readonly store: MetadataStore;
  readonly keyStores: KeyStores;
  readonly clock: Clock;
  readonly logger: Logger;
  /**
   * Told about every key about to be deleted, before anything is destroyed (the audit trail
   * records the intent). When it rejects, the key is left for the next sweep: nothing is deleted
   * that the trail does not hold. `deletionId` is the same in both calls for one deletion.
   */
  readonly onDeleting?: (key: KeyRecord, deletionId: string) => Promise<void>;
  /** Told about every key deleted (the audit trail records a DeleteKey service event). */
  readonly onDeleted?: (key: KeyRecord, backingKeyDestroyed: boolean | 'store not connected', deletionId: string) => Promise<void>;
}

/** Deletes every due key; returns the ids deleted. A failure on one key does not stop the rest. */
export async function sweepOnce(deps: SweeperDeps): Promise<string[]> {
  const deleted: string[] = [];
  const now = deps.clock.now();
  for (const due of await deps.store.keysDueForDeletion(now)) {
    try {
      // Exactly one node deletes a key (and records it in the trail): the one that claims it, once
      // it has read the key again and found it still due (not cancelled, not deleted meanwhile).
      let key = due;
      const stillDue = async (): Promise<boolean> => {
        const current = await deps.store.getKey(due.keyId);
        if (current?.state !== 'PendingDeletion' || current.deletionDate === null || current.deletionDate > now) return false;
        key = current;
        return true;
      };
      const done = await onceAcrossNodes(deps.store, `delete-key:${due.keyId}`, now, stillDue, () => deleteDueKey(deps, key), deps.node);
      if (done === true) deleted.push(key.keyId);
    } catch (err) {
      deps.logger.error({ err, keyId: due.keyId }, 'could not delete a key whose waiting period has passed; will retry');
    }
  }
  return deleted;
}

/** Destroys the key's HSM objects, then its metadata; the audit trail hears both steps. */
async function deleteDueKey(deps: SweeperDeps, key: KeyRecord): Promise<true> {
  const deletionId = randomUUID();
  await deps.onDeleting?.(key, deletionId);
  let destroyed: boolean | 'store not connected';
  // A key in an external key store has its own material in the default key store: always reachable.
  if (key.origin === 'EXTERNAL_KEY_STORE' || deps.keyStores.isConnected(key.customKeyStoreId)) {
    // Every material the key has had (rotations keep the old ones for decryption), the current
    // one included; "destroyed" only when every one was found and destroyed.
    const hsm = deps.keyStores.hsmFor(key);
    const materials = await deps.store.listKeyMaterials(key.keyId);
    // (A key of origin EXTERNAL whose material was never imported has none.)
    const ids = materials.length > 0 ? materials.map((m) => m.materialId) : key.backingKeyId === '' ? [] : [key.backingKeyId];
    destroyed = true;
    for (const id of ids) destroyed = (await hsm.destroySymmetricKey({ id, label: key.arn })) && destroyed;
  } else {
    // AWS makes a best effort for keys in custom key stores: the KMS key is deleted even when
    // its cluster cannot be reached, and the backing key stays behind in the cluster.
    destroyed = 'store not connected';
  }
  await deps.store.deleteKey(key.keyId);
  await deps.onDeleted?.(key, destroyed, deletionId).catch((err: unknown) => {
    // The key is gone either way; the missing record is the audit trail's failure to report.
    deps.logger.error({ err, keyId: key.keyId }, 'the audit trail could not record a key deletion');
  });
  deps.logger.info({ keyId: key.keyId, customKeyStoreId: key.customKeyStoreId, backingKeyDestroyed: destroyed }, 'key deleted at the end of its waiting period');
  return true;
}

export interface Sweeper {
  /** Runs one sweep now (waiting for one already running). */
  sweepOnce(): Promise<string[]>;
  stop(): Promise<void>;
}

export function startSweeper(deps: SweeperDeps, intervalMs: number): Sweeper {
  const job = startPeriodic(() => sweepOnce(deps), intervalMs);
  return { sweepOnce: job.runOnce, stop: job.stop };
}
