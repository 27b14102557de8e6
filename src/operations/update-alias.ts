import { z } from 'zod';
import { aliasArn } from '../domain/arn.js';
import { KmsError } from '../domain/errors.js';
import { assertNotPendingDeletion } from '../domain/key.js';
import { aliasNameMember, assertAliasCapacity, checkAliasPrefix, checkTargetIsKey } from './alias-name.js';
import { resolveKeyById } from './key-access.js';
import { defineOperation } from './operation.js';
import { keyIdMember } from './wire.js';

export const updateAlias = defineOperation({
  name: 'UpdateAlias',
  input: z.object({ AliasName: aliasNameMember, TargetKeyId: keyIdMember }),
  async run(_ctx, deps, input) {
    checkAliasPrefix(input.AliasName);
    checkTargetIsKey(input.TargetKeyId);
    const alias = await deps.store.getAlias(input.AliasName);
    if (!alias) throw new KmsError('NotFoundException', `Alias ${aliasArn(deps.account, input.AliasName)} is not found.`);
    const key = await resolveKeyById(deps, input.TargetKeyId);
    assertNotPendingDeletion(key);
    if (alias.keyId === key.keyId) return undefined;
    await assertAliasCapacity(deps, key);
    await deps.store.updateAlias(input.AliasName, key.keyId, deps.clock.now());
    return undefined;
  },
});
