import { z } from 'zod';
import { KmsError } from '../domain/errors.js';
import { checkPrincipalArn, grantListEntry, principalMember, servicePrincipalMember } from './grant-wire.js';
import { defineOperation } from './operation.js';
import { decodeMarker, page } from './pagination.js';
import { limit, marker } from './wire.js';

export const listRetirableGrants = defineOperation({
  name: 'ListRetirableGrants',
  input: z.object({
    Limit: limit(100).optional(),
    Marker: marker.optional(),
    RetiringPrincipal: principalMember.optional(),
    RetiringServicePrincipal: servicePrincipalMember.optional(),
  }),
  async run(_ctx, deps, input) {
    const max = input.Limit ?? 50;
    if (input.RetiringPrincipal === undefined && input.RetiringServicePrincipal === undefined) {
      throw new KmsError('ValidationException', 'You must specify either RetiringPrincipal or RetiringServicePrincipal.');
    }
    if (input.RetiringPrincipal !== undefined) checkPrincipalArn('RetiringPrincipal', input.RetiringPrincipal);
    const after = decodeMarker(input.Marker);
    const grants =
      input.RetiringPrincipal === undefined
        ? []
        : await deps.store.listRetirableGrants({
            retiringPrincipal: input.RetiringPrincipal,
            ...(after === undefined ? {} : { afterGrantId: after }),
            limit: max + 1,
          });
    const { items, ...rest } = page(grants, max, (g) => g.grantId);
    return { Grants: items.map((g) => grantListEntry(deps.account, g)), ...rest };
  },
});
