import { z } from 'zod';
import { KmsError } from '../domain/errors.js';
import { StoreError } from '../ports/store.js';
import { rotateKey, rotationInProgress } from '../services/key-rotation.js';
import { hsmCall } from './hsm-errors.js';
import { resolveKeyById } from './key-access.js';
import { defineOperation } from './operation.js';
import { assertRotatable, assertRotationState, AUTOMATIC_ROTATION_GUARD_MS, DEFAULT_MAX_ON_DEMAND_ROTATIONS } from './rotation-access.js';
import { keyIdMember } from './wire.js';

/**
 * Rotates now: a new material is made in the HSM (in a `keybridge` cluster, on the members the
 * quorum needs) and becomes current before the call returns; the automatic schedule is unchanged.
 * AWS runs it in the background; answering after it is done is the same contract, stronger.
 * At most `maxOnDemandRotations` per key (AWS: 25) — LimitExceededException past it;
 * ConflictException while a rotation of the key runs or an automatic one is due within 20 minutes.
 */
export const rotateKeyOnDemand = defineOperation({
  name: 'RotateKeyOnDemand',
  input: z.object({ KeyId: keyIdMember }),
  async run(_ctx, deps, input) {
    const key = await resolveKeyById(deps, input.KeyId);
    assertRotatable(key);
    assertRotationState(deps, key, true);
    const schedule = await deps.store.getRotationSchedule(key.keyId);
    if (schedule.onDemandRotations >= (deps.maxOnDemandRotations ?? DEFAULT_MAX_ON_DEMAND_ROTATIONS)) {
      throw new KmsError('LimitExceededException', `${key.arn} has been rotated on demand ${schedule.onDemandRotations} times, the most allowed per key.`);
    }
    const dueSoon = schedule.periodDays !== null && schedule.nextRotationAt !== null && schedule.nextRotationAt - deps.clock.now() < AUTOMATIC_ROTATION_GUARD_MS;
    if (rotationInProgress(key.keyId) !== undefined || dueSoon) {
      throw new KmsError('ConflictException', `A rotation of ${key.arn} is in progress or scheduled to begin within the next 20 minutes.`);
    }
    try {
      await hsmCall(() => rotateKey(deps, key, 'ON_DEMAND'));
    } catch (err) {
      if (err instanceof StoreError && err.code === 'CONFLICT') {
        throw new KmsError('ConflictException', `A rotation of ${key.arn} is in progress.`, { cause: err });
      }
      throw err;
    }
    return { KeyId: key.arn };
  },
});
