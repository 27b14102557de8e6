import { z } from 'zod';
import { checkGrantId, grantIdMember, grantListEntry, principalMember, servicePrincipalMember } from './grant-wire.js';
import { resolveKeyById } from './key-access.js';
import { defineOperation } from './operation.js';
import { decodeMarker, page } from './pagination.js';
import { keyIdMember, limit, marker } from './wire.js';

export const listGrants = defineOperation({
  name: 'ListGrants',
  input: z.object({
    KeyId: keyIdMember,
    Limit: limit(100).optional(),
    Marker: marker.optional(),
    GrantId: grantIdMember.optional(),
    GranteePrincipal: principalMember.optional(),
    GranteeServicePrincipal: servicePrincipalMember.optional(),
  }),
  async run(_ctx, deps, input) {
    const max = input.Limit ?? 50;
    if (input.GrantId !== undefined) checkGrantId(input.GrantId);
    const after = decodeMarker(input.Marker);
    // Works in every key state, PendingDeletion included.
    const key = await resolveKeyById(deps, input.KeyId);
    // keybridge has no service-principal grants: that filter matches nothing.
    const grants =
      input.GranteeServicePrincipal !== undefined
        ? []
        : await deps.store.listGrants({
            keyId: key.keyId,
            ...(after === undefined ? {} : { afterGrantId: after }),
            ...(input.GrantId === undefined ? {} : { grantId: input.GrantId }),
            ...(input.GranteePrincipal === undefined ? {} : { granteePrincipal: input.GranteePrincipal }),
            limit: max + 1,
          });
    const { items, ...rest } = page(grants, max, (g) => g.grantId);
    return { Grants: items.map((g) => grantListEntry(deps.account, g)), ...rest };
  },
});
