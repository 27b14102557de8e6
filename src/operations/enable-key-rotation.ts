import { z } from 'zod';
import { DAY_MS } from '../domain/key.js';
import { resolveKeyById } from './key-access.js';
import { defineOperation } from './operation.js';
import { assertRotatable, assertRotationState, DEFAULT_ROTATION_PERIOD_DAYS, MAX_ROTATION_PERIOD_DAYS, MIN_ROTATION_PERIOD_DAYS } from './rotation-access.js';
import { keyIdMember } from './wire.js';

/**
 * Turns automatic rotation on: the first rotation is RotationPeriodInDays (default 365) after now,
 * then every period after each rotation. Enabling again with another period restarts the count
 * from now (AWS does not document this case; it is what "the number of days after you enable"
 * says). For a key in a custom key store that is not connected, the schedule is recorded and the
 * rotation waits for the store.
 */
export const enableKeyRotation = defineOperation({
  name: 'EnableKeyRotation',
  input: z.object({ KeyId: keyIdMember, RotationPeriodInDays: z.number().int().min(MIN_ROTATION_PERIOD_DAYS).max(MAX_ROTATION_PERIOD_DAYS).optional() }),
  async run(_ctx, deps, input) {
    const key = await resolveKeyById(deps, input.KeyId);
    assertRotatable(key);
    assertRotationState(deps, key, false);
    const period = input.RotationPeriodInDays ?? DEFAULT_ROTATION_PERIOD_DAYS;
    const current = await deps.store.getRotationSchedule(key.keyId);
    // Enabling an enabled key with the same period keeps its schedule (idempotent, as AWS).
    if (current.periodDays === period && current.nextRotationAt !== null) return undefined;
    await deps.store.setRotationSchedule(key.keyId, period, deps.clock.now() + period * DAY_MS);
    return undefined;
  },
});
