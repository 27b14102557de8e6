import { z } from 'zod';
import { KmsError } from '../domain/errors.js';
import { defineAdminOperation } from './operation.js';
import { principalArnMember } from './principal-wire.js';

/** Deletes the principal with its policies and access keys; its keys stop working at once. */
export const deletePrincipal = defineAdminOperation({
  name: 'DeletePrincipal',
  input: z.object({ PrincipalArn: principalArnMember }),
  async run(_ctx, deps, input) {
    const deleted = await deps.store.deletePrincipal(input.PrincipalArn);
    await deps.principals.refresh();
    if (!deleted) throw new KmsError('NotFoundException', `Principal ${input.PrincipalArn} does not exist.`);
    return {};
  },
});
