import { z } from 'zod';
import { KmsError } from '../domain/errors.js';
import { assertNotPendingDeletion, MAX_TAGS_PER_KEY } from '../domain/key.js';
import { resolveKeyById } from './key-access.js';
import { defineOperation } from './operation.js';
import { checkTags } from './tags.js';
import { keyIdMember, tagList } from './wire.js';

export const tagResource = defineOperation({
  name: 'TagResource',
  input: z.object({ KeyId: keyIdMember, Tags: tagList }),
  async run(_ctx, deps, input) {
    const key = await resolveKeyById(deps, input.KeyId);
    assertNotPendingDeletion(key);
    const tags = checkTags(input.Tags);
    const existing = await deps.store.listTags(key.keyId, undefined, MAX_TAGS_PER_KEY + 1);
    const names = new Set([...existing.map((t) => t.key), ...tags.map((t) => t.key)]);
    if (names.size > MAX_TAGS_PER_KEY) {
      throw new KmsError('LimitExceededException', `A KMS key can have at most ${MAX_TAGS_PER_KEY} tags; this request would give ${key.arn} ${names.size}.`);
    }
    await deps.store.putTags(key.keyId, tags);
    return undefined;
  },
});
