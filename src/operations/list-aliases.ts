import { z } from 'zod';
import { aliasArn } from '../domain/arn.js';
import { resolveKeyById } from './key-access.js';
import { epochSeconds } from './key-metadata.js';
import { defineOperation } from './operation.js';
import { decodeMarker, page } from './pagination.js';
import { keyIdMember, limit, marker } from './wire.js';

export const listAliases = defineOperation({
  name: 'ListAliases',
  input: z.object({ KeyId: keyIdMember.optional(), Limit: limit(100).optional(), Marker: marker.optional() }),
  async run(_ctx, deps, input) {
    const max = input.Limit ?? 50;
    const keyId = input.KeyId === undefined ? undefined : (await resolveKeyById(deps, input.KeyId)).keyId;
    const aliases = await deps.store.listAliases({
      ...(keyId === undefined ? {} : { keyId }),
      ...(input.Marker === undefined ? {} : { afterAliasName: decodeMarker(input.Marker)! }),
      limit: max + 1,
    });
    const { items, ...rest } = page(aliases, max, (a) => a.aliasName);
    return {
      Aliases: items.map((a) => ({
        AliasName: a.aliasName,
        AliasArn: aliasArn(deps.account, a.aliasName),
        TargetKeyId: a.keyId,
        CreationDate: epochSeconds(a.createdAt),
        LastUpdatedDate: epochSeconds(a.updatedAt),
      })),
      ...rest,
    };
  },
});
