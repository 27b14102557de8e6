import { z } from 'zod';
import { aliasArn } from '../domain/arn.js';
import { KmsError } from '../domain/errors.js';
import { assertNotPendingDeletion } from '../domain/key.js';
import { StoreError } from '../ports/store.js';
import { ALIAS_LIMIT, aliasLimitExceeded, aliasNameMember, checkNewAliasName, checkTargetIsKey } from './alias-name.js';
import { resolveKeyById } from './key-access.js';
import { defineOperation } from './operation.js';
import { keyIdMember } from './wire.js';

export const createAlias = defineOperation({
  name: 'CreateAlias',
  input: z.object({ AliasName: aliasNameMember, TargetKeyId: keyIdMember }),
  validate(input) {
    checkNewAliasName(input.AliasName);
    checkTargetIsKey(input.TargetKeyId);
  },
  async run(_ctx, deps, input) {
    const key = await resolveKeyById(deps, input.TargetKeyId);
    assertNotPendingDeletion(key);
    const alreadyExists = () => new KmsError('AlreadyExistsException', `An alias with the name ${aliasArn(deps.account, input.AliasName)} already exists`);
    if (await deps.store.getAlias(input.AliasName)) throw alreadyExists();
    const now = deps.clock.now();
    try {
      await deps.store.createAlias({ aliasName: input.AliasName, keyId: key.keyId, createdAt: now, updatedAt: now }, ALIAS_LIMIT);
    } catch (err) {
      if (err instanceof StoreError && err.code === 'CONFLICT') throw alreadyExists();
      if (err instanceof StoreError && err.code === 'LIMIT_EXCEEDED') throw aliasLimitExceeded(key);
      throw err;
    }
    return undefined;
  },
});
