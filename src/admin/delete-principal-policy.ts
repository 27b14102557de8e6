import { z } from 'zod';
import { KmsError } from '../domain/errors.js';
import { defineAdminOperation } from './operation.js';
import { policyNameMember, principalArnMember } from './principal-wire.js';

export const deletePrincipalPolicy = defineAdminOperation({
  name: 'DeletePrincipalPolicy',
  input: z.object({ PrincipalArn: principalArnMember, PolicyName: policyNameMember }),
  async run(_ctx, deps, input) {
    const deleted = await deps.store.deletePrincipalPolicy(input.PrincipalArn, input.PolicyName);
    await deps.principals.refresh();
    if (!deleted) throw new KmsError('NotFoundException', `Policy ${input.PolicyName} of ${input.PrincipalArn} does not exist.`);
    return {};
  },
});
