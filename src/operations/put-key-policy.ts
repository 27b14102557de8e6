import { z } from 'zod';
import { validateKeyPolicy } from '../domain/key-policy.js';
import { checkPolicyName, policyNameMember } from './get-key-policy.js';
import { assertCallerKeepsControl } from './authorization.js';
import { resolveKeyById } from './key-access.js';
import { defineOperation } from './operation.js';
import { keyIdMember, str } from './wire.js';

export const putKeyPolicy = defineOperation({
  name: 'PutKeyPolicy',
  input: z.object({
    KeyId: keyIdMember,
    PolicyName: policyNameMember.optional(),
    Policy: str(1, 131072),
    BypassPolicyLockoutSafetyCheck: z.boolean().optional(),
  }),
  async run(ctx, deps, input) {
    const key = await resolveKeyById(deps, input.KeyId);
    checkPolicyName(input.PolicyName);
    // AWS's key-state table allows PutKeyPolicy in every state, PendingDeletion included.
    validateKeyPolicy(input.Policy);
    assertCallerKeepsControl(ctx, deps, input.Policy, key.arn, input.BypassPolicyLockoutSafetyCheck);
    await deps.store.updateKey(key.keyId, { policy: input.Policy });
    return undefined;
  },
});
