import { z } from 'zod';
import { assertNotPendingDeletion } from '../domain/key.js';
import { StoreError } from '../ports/store.js';
import { ALIAS_LIMIT, aliasChanged, aliasLimitExceeded, aliasNameMember, checkAliasPrefix, checkTargetIsKey } from './alias-name.js';
import { aliasNotFound, keyOfAlias, resolveKeyById } from './key-access.js';
import { defineOperation } from './operation.js';
import { keyIdMember } from './wire.js';

export const updateAlias = defineOperation({
  name: 'UpdateAlias',
  input: z.object({ AliasName: aliasNameMember, TargetKeyId: keyIdMember }),
  validate(input) {
    checkAliasPrefix(input.AliasName);
    checkTargetIsKey(input.TargetKeyId);
  },
  async run(_ctx, deps, input) {
    // Both as authorization found and decided on them (NotFoundException there when absent).
    const current = keyOfAlias(deps, input.AliasName);
    const key = await resolveKeyById(deps, input.TargetKeyId);
    assertNotPendingDeletion(key);
    if (current.keyId === key.keyId) return undefined;
    try {
      // Only from the key the request was authorized on (compare-and-set).
      await deps.store.updateAlias(input.AliasName, key.keyId, deps.clock.now(), current.keyId, ALIAS_LIMIT);
    } catch (err) {
      if (err instanceof StoreError && err.code === 'LIMIT_EXCEEDED') throw aliasLimitExceeded(key);
      if (!(err instanceof StoreError && err.code === 'NOT_FOUND')) throw err;
      throw (await deps.store.getAlias(input.AliasName)) === undefined ? aliasNotFound(deps, input.AliasName) : aliasChanged(deps, input.AliasName);
    }
    return undefined;
  },
});
