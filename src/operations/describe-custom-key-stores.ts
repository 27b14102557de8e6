import { z } from 'zod';
import { KmsError } from '../domain/errors.js';
import { customKeyStoreEntry, notFound } from './custom-key-store-access.js';
import { customKeyStoreIdMember, customKeyStoreNameMember } from './custom-key-store-wire.js';
import { defineOperation } from './operation.js';
import { decodeMarker, page } from './pagination.js';
import { limit, marker } from './wire.js';

export const describeCustomKeyStores = defineOperation({
  name: 'DescribeCustomKeyStores',
  input: z.object({
    CustomKeyStoreId: customKeyStoreIdMember.optional(),
    CustomKeyStoreName: customKeyStoreNameMember.optional(),
    Limit: limit(1000).optional(),
    Marker: marker.optional(),
  }),
  async run(_ctx, deps, input) {
    if (input.CustomKeyStoreId !== undefined && input.CustomKeyStoreName !== undefined) {
      throw new KmsError('ValidationException', 'Specify CustomKeyStoreId or CustomKeyStoreName, not both.');
    }
    if (input.CustomKeyStoreId !== undefined || input.CustomKeyStoreName !== undefined) {
      const store =
        input.CustomKeyStoreId !== undefined
          ? await deps.store.getCustomKeyStore(input.CustomKeyStoreId)
          : await deps.store.getCustomKeyStoreByName(input.CustomKeyStoreName!);
      if (!store) throw notFound(input.CustomKeyStoreId ?? input.CustomKeyStoreName!);
      return { CustomKeyStores: [customKeyStoreEntry(deps, store)], Truncated: false };
    }
    const max = input.Limit ?? 100;
    const stores = await deps.store.listCustomKeyStores(decodeMarker(input.Marker), max + 1);
    const { items, ...rest } = page(stores, max, (s) => s.id);
    return { CustomKeyStores: items.map((s) => customKeyStoreEntry(deps, s)), ...rest };
  },
});
