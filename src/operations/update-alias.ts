import { z } from 'zod';
import { assertNotPendingDeletion } from '../domain/key.js';
import { aliasNameMember, assertAliasCapacity, checkAliasPrefix, checkTargetIsKey } from './alias-name.js';
import { keyOfAlias, resolveKeyById } from './key-access.js';
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
    await assertAliasCapacity(deps, key);
    await deps.store.updateAlias(input.AliasName, key.keyId, deps.clock.now());
    return undefined;
  },
});
