import { z } from 'zod';
import { assertNotPendingDeletion } from '../domain/key.js';
import { resolveKeyById } from './key-access.js';
import { defineOperation } from './operation.js';
import { keyIdMember, str } from './wire.js';

export const untagResource = defineOperation({
  name: 'UntagResource',
  input: z.object({ KeyId: keyIdMember, TagKeys: z.array(str(1, 128)) }),
  async run(_ctx, deps, input) {
    const key = await resolveKeyById(deps, input.KeyId);
    assertNotPendingDeletion(key);
    await deps.store.removeTags(key.keyId, input.TagKeys);
    return undefined;
  },
});
