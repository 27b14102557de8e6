import { z } from 'zod';
import { aliasNameMember, aliasChanged, checkAliasPrefix } from './alias-name.js';
import { aliasNotFound, keyOfAlias } from './key-access.js';
import { defineOperation } from './operation.js';

export const deleteAlias = defineOperation({
  name: 'DeleteAlias',
  input: z.object({ AliasName: aliasNameMember }),
  validate(input) {
    checkAliasPrefix(input.AliasName);
  },
  async run(_ctx, deps, input) {
    // Deleted only while it still points at the key the request was authorized on.
    const decided = keyOfAlias(deps, input.AliasName);
    if (await deps.store.deleteAlias(input.AliasName, decided.keyId)) return undefined;
    throw (await deps.store.getAlias(input.AliasName)) === undefined ? aliasNotFound(deps, input.AliasName) : aliasChanged(deps, input.AliasName);
  },
});
