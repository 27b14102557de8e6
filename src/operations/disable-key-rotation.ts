import { z } from 'zod';
import { resolveKeyById } from './key-access.js';
import { defineOperation } from './operation.js';
import { assertRotatable, assertRotationState } from './rotation-access.js';
import { keyIdMember } from './wire.js';

/** Turns automatic rotation off. Materials made so far stay (old ciphertexts still decrypt). */
export const disableKeyRotation = defineOperation({
  name: 'DisableKeyRotation',
  input: z.object({ KeyId: keyIdMember }),
  async run(_ctx, deps, input) {
    const key = await resolveKeyById(deps, input.KeyId);
    assertRotatable(key);
    assertRotationState(deps, key, false);
    await deps.store.setRotationSchedule(key.keyId, null, null);
    return undefined;
  },
});
