import { z } from 'zod';
import { aliasArn } from '../domain/arn.js';
import { KmsError } from '../domain/errors.js';
import { aliasNameMember, checkAliasPrefix } from './alias-name.js';
import { defineOperation } from './operation.js';

export const deleteAlias = defineOperation({
  name: 'DeleteAlias',
  input: z.object({ AliasName: aliasNameMember }),
  validate(input) {
    checkAliasPrefix(input.AliasName);
  },
  async run(_ctx, deps, input) {
    const deleted = await deps.store.deleteAlias(input.AliasName);
    if (!deleted) throw new KmsError('NotFoundException', `Alias ${aliasArn(deps.account, input.AliasName)} is not found.`);
    return undefined;
  },
});
