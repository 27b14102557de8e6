import { z } from 'zod';
import { assertNotPendingDeletion, assertNotPendingImport } from '../domain/key.js';
import { resolveKeyById } from './key-access.js';
import { defineOperation } from './operation.js';
import { keyIdMember } from './wire.js';

export const enableKey = defineOperation({
  name: 'EnableKey',
  input: z.object({ KeyId: keyIdMember }),
  async run(_ctx, deps, input) {
    const key = await resolveKeyById(deps, input.KeyId);
    assertNotPendingDeletion(key);
    assertNotPendingImport(key);
    if (key.state !== 'Enabled') await deps.store.updateKey(key.keyId, { state: 'Enabled' });
    return undefined;
  },
});
