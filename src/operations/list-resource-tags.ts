import { z } from 'zod';
import { resolveKeyById } from './key-access.js';
import { defineOperation } from './operation.js';
import { decodeMarker, page } from './pagination.js';
import { keyIdMember, limit, marker } from './wire.js';

export const listResourceTags = defineOperation({
  name: 'ListResourceTags',
  input: z.object({ KeyId: keyIdMember, Limit: limit(50).optional(), Marker: marker.optional() }),
  async run(_ctx, deps, input) {
    const max = input.Limit ?? 50;
    const key = await resolveKeyById(deps, input.KeyId);
    const tags = await deps.store.listTags(key.keyId, decodeMarker(input.Marker), max + 1);
    const { items, ...rest } = page(tags, max, (t) => t.key);
    return { Tags: items.map((t) => ({ TagKey: t.key, TagValue: t.value })), ...rest };
  },
});
