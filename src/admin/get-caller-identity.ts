import { z } from 'zod';

import { derivePrincipalId } from '../audit/record.js';
import { defineAdminOperation } from './operation.js';

/**
 * Who signed this request, like STS GetCallerIdentity: the web console calls it to show who is
 * signed in and to warn before a key policy that would lock the caller out. Any authenticated
 * principal may call it (anyPrincipal), not only the root: it answers nothing but the caller's own
 * identity, which the caller's access key already proves.
 *
 * - Account: the principal's account id; Arn: its ARN (arn:…:root, :user/Name, or for a role
 *   principal the role ARN, as keybridge's roles call with their own keys, without STS sessions).
 * - UserId: what STS calls UserId and CloudTrail principalId — the account id for the root, an
 *   AIDA… id for a user, AROA… for a role. keybridge's principals have no stored unique id, so it
 *   is derived from the ARN exactly as the audit trail derives userIdentity.principalId
 *   (derivePrincipalId): the console can match it against LookupEvents' records.
 * - Type: keybridge's addition (STS has none): Root, IAMUser or AssumedRole, as in the trail.
 */
export const getCallerIdentity = defineAdminOperation({
  name: 'GetCallerIdentity',
  input: z.object({}),
  anyPrincipal: true,
  async run(ctx) {
    const { principal } = ctx;
    return { Account: principal.accountId, Arn: principal.arn, UserId: derivePrincipalId(principal), Type: principal.type };
  },
});
