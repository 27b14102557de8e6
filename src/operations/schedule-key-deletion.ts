import { z } from 'zod';
import { KmsError } from '../domain/errors.js';
import { DAY_MS, DEFAULT_PENDING_WINDOW_DAYS, MAX_PENDING_WINDOW_DAYS, MIN_PENDING_WINDOW_DAYS } from '../domain/key.js';
import { resolveKeyById } from './key-access.js';
import { epochSeconds } from './key-metadata.js';
import { defineOperation } from './operation.js';
import { keyIdMember } from './wire.js';

export const scheduleKeyDeletion = defineOperation({
  name: 'ScheduleKeyDeletion',
  // The model allows 1–365; the service accepts 7–30 for keys like ours.
  input: z.object({ KeyId: keyIdMember, PendingWindowInDays: z.number().int().min(MIN_PENDING_WINDOW_DAYS).max(MAX_PENDING_WINDOW_DAYS).optional() }),
  async run(_ctx, deps, input) {
    const key = await resolveKeyById(deps, input.KeyId);
    if (key.state === 'PendingDeletion') {
      throw new KmsError('KMSInvalidStateException', `${key.arn} is pending deletion.`);
    }
    const days = input.PendingWindowInDays ?? DEFAULT_PENDING_WINDOW_DAYS;
    const deletionDate = deps.clock.now() + days * DAY_MS;
    await deps.store.updateKey(key.keyId, { state: 'PendingDeletion', deletionDate, pendingWindowDays: days });
    return { KeyId: key.arn, DeletionDate: epochSeconds(deletionDate), KeyState: 'PendingDeletion', PendingWindowInDays: days };
  },
});
