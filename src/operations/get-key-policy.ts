import { z } from 'zod';
import { KmsError } from '../domain/errors.js';
import { DEFAULT_POLICY_NAME } from '../domain/key-policy.js';
import { resolveKeyById } from './key-access.js';
import { defineOperation } from './operation.js';
import { keyIdMember } from './wire.js';

export const policyNameMember = z.string().min(1).max(128).regex(/^[\w]+$/);

export function checkPolicyName(name: string | undefined): void {
  if (name !== undefined && name !== DEFAULT_POLICY_NAME) {
    throw new KmsError('NotFoundException', `No such policy exists: ${name}. The only key policy name is "${DEFAULT_POLICY_NAME}".`);
  }
}

export const getKeyPolicy = defineOperation({
  name: 'GetKeyPolicy',
  input: z.object({ KeyId: keyIdMember, PolicyName: policyNameMember.optional() }),
  async run(_ctx, deps, input) {
    const key = await resolveKeyById(deps, input.KeyId);
    checkPolicyName(input.PolicyName);
    return { Policy: key.policy, PolicyName: DEFAULT_POLICY_NAME };
  },
});
