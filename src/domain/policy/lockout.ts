// The policy lockout safety check behind CreateKey and PutKeyPolicy (skipped when the request sets
// BypassPolicyLockoutSafetyCheck): the caller must still be able to call kms:PutKeyPolicy on the
// key under the NEW policy, or nobody may ever be able to change it again.

import { KmsError } from '../errors.js';
import { authorize } from './authorize.js';
import type { RequestContext } from './condition-keys.js';
import type { PolicyDocument } from './document.js';

export const LOCKOUT_MESSAGE = 'The new key policy will not allow you to update the key policy in the future.';

/**
 * Throws MalformedPolicyDocumentException (AWS's message) unless `caller` — the principal making
 * this CreateKey/PutKeyPolicy request, with the request's condition keys and the key's ARN as
 * `resource` — would be allowed kms:PutKeyPolicy by `policy` and its identity policies.
 */
export function assertNoLockout(policy: PolicyDocument, caller: Omit<RequestContext, 'action'>, identityPolicies: readonly PolicyDocument[]): void {
  const result = authorize({ request: { ...caller, action: 'kms:PutKeyPolicy' }, keyPolicy: policy, identityPolicies });
  if (result.decision !== 'Allow') throw new KmsError('MalformedPolicyDocumentException', LOCKOUT_MESSAGE);
}
