// Rotating a symmetric key's material (issue #14): a new AES-256 object is generated in the HSM
// (in a `keybridge`-replicated cluster: on every member the quorum needs, as at CreateKey), then
// one metadata transaction makes it current and keeps the old one for decryption — a ciphertext
// names its material, so Decrypt never tries several. The scheduler rotates keys whose automatic
// rotation is due; RotateKeyOnDemand calls rotateKey directly.
//
// Order and races: the object exists before the metadata names it, so a crash between the two
// leaves an unnamed object (reported by start-up reconciliation), never metadata naming nothing.
// Two rotations of one key (two schedulers later, or on-demand racing automatic) both generate,
// and the store's compare-and-set lets one win; the loser destroys its object.

import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';

import { DAY_MS, type KeyRecord } from '../domain/key.js';
import type { Clock } from '../ports/clock.js';
import { HsmError } from '../ports/hsm.js';
import type { KeyStores } from '../ports/key-stores.js';
import { StoreError, type MetadataStore } from '../ports/store.js';
import { startPeriodic } from './periodic.js';
import { onceAcrossNodes } from './work-claim.js';

export interface RotationDeps {
  /** This node, as the claimant of background work (default: this process, work-claim.ts NODE_ID). */
  readonly node?: string;
  readonly store: MetadataStore;
  readonly keyStores: KeyStores;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Told about every rotation done (the audit trail records a RotateKey service event for automatic ones). */
  readonly onRotated?: (key: KeyRecord, type: 'AUTOMATIC' | 'ON_DEMAND') => Promise<void>;
}

export type RotationType = 'AUTOMATIC' | 'ON_DEMAND';

// Keys being rotated in this process now: RotateKeyOnDemand answers ConflictException meanwhile.
const rotating = new Map<string, { readonly type: RotationType; readonly startedAt: number }>();

/** The rotation of the key that runs in this process now, if any. */
export function rotationInProgress(keyId: string): { readonly type: RotationType; readonly startedAt: number } | undefined {
  return rotating.get(keyId);
}

/**
 * Gives `key` a new current material. Resolves with the updated record; throws HsmError (the HSM
 * could not make the material), StoreError CONFLICT (another rotation won), or an Error when a
 * rotation of this key already runs here.
 */
export async function rotateKey(deps: RotationDeps, key: KeyRecord, type: RotationType, nextRotationAt?: number): Promise<KeyRecord> {
  if (rotating.has(key.keyId)) throw new StoreError('CONFLICT', `a rotation of ${key.keyId} is already running`);
  rotating.set(key.keyId, { type, startedAt: deps.clock.now() });
  try {
    const hsm = deps.keyStores.hsmFor(key);
    const ref = { id: randomBytes(32).toString('hex'), label: key.arn };
    // A new material takes the store's suite now, which may differ from the old one's.
    const choice = await hsm.symmetricSuite();
    if ('refusal' in choice) throw new HsmError('HSM_UNSUPPORTED', `the key store can make no symmetric key material: ${choice.refusal}`);
    await hsm.generateSymmetricKey(ref, choice.suite);
    const now = deps.clock.now();
    let rotated: KeyRecord;
    try {
      rotated = await deps.store.rotateKeyMaterial(key.keyId, key.backingKeyId, { materialId: ref.id, createdAt: now, rotationDate: now, rotationType: type, ...(choice.suite === 'AES_256_GCM' ? {} : { suite: choice.suite }) }, nextRotationAt);
    } catch (err) {
      // Not named by any metadata: it must not stay in the HSM.
      await hsm.destroySymmetricKey(ref).catch((destroyErr: unknown) => {
        deps.logger.error({ err: destroyErr, keyId: key.keyId, backingKeyId: ref.id }, 'an unrecorded rotation material could not be destroyed; reconciliation reports it');
      });
      throw err;
    }
    deps.logger.info({ keyId: key.keyId, rotationType: type, keyMaterialId: ref.id }, 'key material rotated');
    await deps.onRotated?.(rotated, type).catch((err: unknown) => {
      deps.logger.error({ err, keyId: key.keyId }, 'the audit trail could not record a key rotation');
    });
    return rotated;
  } finally {
    rotating.delete(key.keyId);
  }
}

/**
 * Rotates every key whose automatic rotation is due; returns the ids rotated. A key in a custom key
 * store that is not connected is deferred (it stays due and is rotated once the store is back). A
 * failure on one key does not stop the rest.
 */
export async function rotateDueOnce(deps: RotationDeps): Promise<string[]> {
  const rotated: string[] = [];
  const now = deps.clock.now();
  for (const due of await deps.store.keysDueForRotation(now)) {
    if (!deps.keyStores.isConnected(due.customKeyStoreId)) {
      deps.logger.info({ keyId: due.keyId, customKeyStoreId: due.customKeyStoreId }, 'automatic rotation deferred: the custom key store is not connected');
      continue;
    }
    try {
      // One node rotates (makes the new HSM object): the one that claims the key and, reading it
      // again, finds it still enabled, still on the material listed, and still due.
      let key = due;
      let periodDays = 0;
      const stillDue = async (): Promise<boolean> => {
        const [current, schedule] = await Promise.all([deps.store.getKey(due.keyId), deps.store.getRotationSchedule(due.keyId)]);
        if (current?.state !== 'Enabled' || current.backingKeyId !== due.backingKeyId) return false;
        if (schedule.periodDays === null || schedule.nextRotationAt === null || schedule.nextRotationAt > now) return false;
        key = current;
        periodDays = schedule.periodDays;
        return true;
      };
      const done = await onceAcrossNodes(
        deps.store,
        `rotate-key:${due.keyId}`,
        now,
        stillDue,
        () => rotateKey(deps, key, 'AUTOMATIC', deps.clock.now() + periodDays * DAY_MS),
        deps.node,
      );
      if (done !== undefined) rotated.push(due.keyId);
    } catch (err) {
      deps.logger.error({ err, keyId: due.keyId }, 'automatic key rotation failed; will retry');
    }
  }
  return rotated;
}

export interface RotationScheduler {
  /** Runs one round now (waiting for one already running). */
  rotateDueOnce(): Promise<string[]>;
  stop(): Promise<void>;
}

export function startRotationScheduler(deps: RotationDeps, intervalMs: number): RotationScheduler {
  const job = startPeriodic(() => rotateDueOnce(deps), intervalMs);
  return { rotateDueOnce: job.runOnce, stop: job.stop };
}
