import { z } from 'zod';
import { assertNotPendingDeletion } from '../domain/key.js';
import { resolveKeyById } from './key-access.js';
import { defineOperation } from './operation.js';
import { keyIdMember, str } from './wire.js';

export const updateKeyDescription = defineOperation({
  name: 'UpdateKeyDescription',
  input: z.object({ KeyId: keyIdMember, Description: str(0, 8192) }),
  async run(_ctx, deps, input) {
    const key = await resolveKeyById(deps, input.KeyId);
    assertNotPendingDeletion(key);
    await deps.store.updateKey(key.keyId, { description: input.Description });
    return undefined;
  },
});
