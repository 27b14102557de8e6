import { z } from 'zod';
import { resolveKeyById } from './key-access.js';
import { epochSeconds } from './key-metadata.js';
import { defineOperation } from './operation.js';
import { assertRotatable } from './rotation-access.js';
import { keyIdMember } from './wire.js';
import { rotationInProgress } from '../services/key-rotation.js';

/**
 * Whether automatic rotation is on, its period and next date, and while an on-demand rotation runs
 * its start. A key pending deletion reads false (AWS): its schedule comes back if the deletion is
 * cancelled. A disabled key keeps its status but is not rotated until it is enabled again.
 */
export const getKeyRotationStatus = defineOperation({
  name: 'GetKeyRotationStatus',
  input: z.object({ KeyId: keyIdMember }),
  async run(_ctx, deps, input) {
    const key = await resolveKeyById(deps, input.KeyId);
    assertRotatable(key);
    const schedule = await deps.store.getRotationSchedule(key.keyId);
    const running = rotationInProgress(key.keyId);
    const enabled = schedule.periodDays !== null && key.state !== 'PendingDeletion';
    return {
      KeyId: key.arn,
      KeyRotationEnabled: enabled,
      ...(enabled ? { RotationPeriodInDays: schedule.periodDays, NextRotationDate: epochSeconds(schedule.nextRotationAt!) } : {}),
      ...(running?.type === 'ON_DEMAND' ? { OnDemandRotationStartDate: epochSeconds(running.startedAt) } : {}),
    };
  },
});
