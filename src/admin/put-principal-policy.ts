import { z } from 'zod';
import { KmsError } from '../domain/errors.js';
import { parsePolicy } from '../domain/policy/index.js';
import { StoreError } from '../ports/store.js';
import { defineAdminOperation } from './operation.js';
import { policyNameMember, principalArnMember } from './principal-wire.js';

/** Inserts or replaces an identity policy; MalformedPolicyDocumentException names what is wrong. */
export const putPrincipalPolicy = defineAdminOperation({
  name: 'PutPrincipalPolicy',
  input: z.object({ PrincipalArn: principalArnMember, PolicyName: policyNameMember, PolicyDocument: z.string().min(1).max(131072) }),
  async run(_ctx, deps, input) {
    // The same grammar IAM enforces for identity policies (no Principal element, known operators).
    parsePolicy(input.PolicyDocument, { kind: 'identity' });
    try {
      await deps.store.putPrincipalPolicy(input.PrincipalArn, input.PolicyName, input.PolicyDocument);
    } catch (err) {
      if (err instanceof StoreError && err.code === 'NOT_FOUND') throw new KmsError('NotFoundException', `Principal ${input.PrincipalArn} does not exist.`);
      throw err;
    }
    await deps.principals.refresh();
    return {};
  },
});
