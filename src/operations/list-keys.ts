import { z } from 'zod';
import { defineOperation } from './operation.js';
import { decodeMarker, page } from './pagination.js';
import { limit, marker } from './wire.js';

export const listKeys = defineOperation({
  name: 'ListKeys',
  input: z.object({ Limit: limit(1000).optional(), Marker: marker.optional() }),
  async run(_ctx, deps, input) {
    const max = input.Limit ?? 100;
    const keys = await deps.store.listKeys(decodeMarker(input.Marker), max + 1);
    const { items, ...rest } = page(keys, max, (k) => k.keyId);
    return { Keys: items.map((k) => ({ KeyId: k.keyId, KeyArn: k.arn })), ...rest };
  },
});
