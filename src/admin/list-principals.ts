import { z } from 'zod';
import { decodeMarker, page } from '../operations/pagination.js';
import { limit, marker } from '../operations/wire.js';
import { defineAdminOperation } from './operation.js';
import { accountIdMember, principalEntry } from './principal-wire.js';

export const listPrincipals = defineAdminOperation({
  name: 'ListPrincipals',
  input: z.object({ AccountId: accountIdMember.optional(), Limit: limit(1000).optional(), Marker: marker.optional() }),
  async run(_ctx, deps, input) {
    const max = input.Limit ?? 100;
    let after = decodeMarker(input.Marker);
    const found = [];
    // Filtering by account after the read: walk on until a page is full or the table ends.
    for (;;) {
      const batch = await deps.store.listPrincipals(after, max + 1);
      found.push(...batch.filter((p) => input.AccountId === undefined || p.accountId === input.AccountId));
      if (batch.length < max + 1 || found.length > max) break;
      after = batch[batch.length - 1]!.arn;
    }
    const { items, ...rest } = page(found, max, (p) => p.arn);
    return { Principals: items.map(principalEntry), ...rest };
  },
});
