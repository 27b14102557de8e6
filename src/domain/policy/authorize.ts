// The KMS authorization decision: key policy + the caller's IAM identity policies, the way AWS KMS
// combines them (KMS developer guide, "Determining access to a KMS key"; IAM user guide, "Policy
// evaluation logic" and "Cross-account policy evaluation logic"):
//
// 1. An explicit Deny in the key policy or in any identity policy wins.
// 2. The key policy is the root of trust. IAM policies count only if the key policy lets them: a
//    statement whose Principal is the ACCOUNT ("111122223333" or arn:aws:iam::111122223333:root)
//    delegates that action to the account's IAM policies. Without such a statement not even the
//    account's administrators (nor its root user) can use the key through IAM.
// 3. Same account: allowed when the key policy names the caller directly (user, role, session,
//    "*", or a service principal) — no IAM policy needed — or when it delegates to the caller's
//    account and an identity policy allows.
// 4. Other account: the key policy must allow the caller (directly or via its account) AND the
//    caller's own identity policies must allow.
// 5. The account root user has no identity policies; within its account it may do anything IAM
//    lets an account do, so a delegation to its account is enough.
//
// Grants are decided elsewhere: `allowByGrant` lets a grant turn an implicit deny into an allow,
// never an explicit deny.

import { KmsError } from '../errors.js';
import type { RequestContext } from './condition-keys.js';
import { ConditionContext } from './condition-keys.js';
import type { PolicyDocument } from './document.js';
import type { StatementRef } from './evaluate.js';
import { evaluatePolicy } from './evaluate.js';

export type Decision = 'Allow' | 'ExplicitDeny' | 'ImplicitDeny';

export type DecisionReason =
  /** The key policy names the caller (or "*", or its service) for this action. */
  | 'allowed-by-key-policy'
  /** The key policy delegates to the caller's account and an identity policy allows. */
  | 'allowed-by-identity-policy'
  /** A grant allowed what policies alone did not (see allowByGrant). */
  | 'allowed-by-grant'
  | 'explicit-deny-in-key-policy'
  | 'explicit-deny-in-identity-policy'
  | 'no-resource-policy-allows'
  | 'no-identity-policy-allows';

export interface AuthorizationResult {
  readonly decision: Decision;
  readonly reason: DecisionReason;
  /** The statement that decided: the Deny, or the Allow that granted. */
  readonly matchedStatement?: StatementRef;
  /** For 'allowed-by-identity-policy': the key-policy statement that delegated to the account. */
  readonly delegatedBy?: StatementRef;
}

export interface AuthorizeInput {
  readonly request: RequestContext;
  /** The key's policy, parsed with kind 'key'. */
  readonly keyPolicy: PolicyDocument;
  /** The caller's identity policies (user's, or the role's for a session), parsed with kind 'identity'. */
  readonly identityPolicies: readonly PolicyDocument[];
}

/** Decides a KMS key resource operation (Encrypt, DescribeKey, PutKeyPolicy, …). */
export function authorize(input: AuthorizeInput): AuthorizationResult {
  const { request, keyPolicy, identityPolicies } = input;
  if (keyPolicy.kind !== 'key') throw new TypeError('authorize: keyPolicy must be parsed with kind "key"');
  const context = new ConditionContext(request.conditionKeys);

  const key = evaluatePolicy(keyPolicy, request, context);
  if (key.deny) return { decision: 'ExplicitDeny', reason: 'explicit-deny-in-key-policy', matchedStatement: key.deny };
  const identity = evaluateIdentity(request, identityPolicies, context);
  if (identity.deny) return { decision: 'ExplicitDeny', reason: 'explicit-deny-in-identity-policy', matchedStatement: identity.deny };

  const direct = key.allows.find((a) => a.via === 'direct')?.ref;
  const delegated = key.allows.find((a) => a.via === 'account')?.ref;
  if (!direct && !delegated) return { decision: 'ImplicitDeny', reason: 'no-resource-policy-allows' };

  const resourceAccount = request.resourceAccount ?? request.resource?.split(':')[4];
  const sameAccount = request.principal.type === 'Service' || request.principal.accountId === resourceAccount;
  if (sameAccount && direct) return { decision: 'Allow', reason: 'allowed-by-key-policy', matchedStatement: direct };
  if (identity.allowed) {
    // Same account: only a delegation is left (a direct allow returned above). Other account:
    // whichever key-policy statement let the caller in.
    const delegatedBy = (sameAccount ? delegated : (direct ?? delegated))!;
    return withStatement({ decision: 'Allow', reason: 'allowed-by-identity-policy', delegatedBy }, identity.allow);
  }
  return { decision: 'ImplicitDeny', reason: 'no-identity-policy-allows' };
}

/**
 * Decides an operation with no key resource, authorized by IAM policies alone (kms:CreateKey,
 * kms:ListKeys, kms:ListAliases, kms:GenerateRandom, the custom key store operations). Leave
 * `request.resource` undefined: only `"Resource": "*"` statements then apply.
 */
export function authorizeIdentityOnly(request: RequestContext, identityPolicies: readonly PolicyDocument[]): AuthorizationResult {
  const identity = evaluateIdentity(request, identityPolicies, new ConditionContext(request.conditionKeys));
  if (identity.deny) return { decision: 'ExplicitDeny', reason: 'explicit-deny-in-identity-policy', matchedStatement: identity.deny };
  if (identity.allowed) return withStatement({ decision: 'Allow', reason: 'allowed-by-identity-policy' }, identity.allow);
  return { decision: 'ImplicitDeny', reason: 'no-identity-policy-allows' };
}

function withStatement(result: AuthorizationResult, statement: StatementRef | undefined): AuthorizationResult {
  return statement === undefined ? result : { ...result, matchedStatement: statement };
}

/** A grant that covers the request turns an implicit deny into an allow; an explicit deny stays. */
export function allowByGrant(result: AuthorizationResult, grantAllows: boolean): AuthorizationResult {
  if (result.decision !== 'ImplicitDeny' || !grantAllows) return result;
  return { decision: 'Allow', reason: 'allowed-by-grant' };
}

/**
 * AWS's AccessDeniedException message, e.g. "User: arn:aws:iam::111122223333:user/bob is not
 * authorized to perform: kms:Encrypt on resource: arn:aws:kms:…:key/… because no resource-based
 * policy allows the kms:Encrypt action". The " on resource: …" part is left out when the request
 * has no resource.
 */
export function accessDeniedMessage(request: Pick<RequestContext, 'principal' | 'action' | 'resource'>, result: AuthorizationResult): string {
  const head = `User: ${request.principal.arn} is not authorized to perform: ${request.action}${request.resource === undefined ? '' : ` on resource: ${request.resource}`}`;
  switch (result.reason) {
    case 'explicit-deny-in-key-policy':
      return `${head} with an explicit deny in a resource-based policy`;
    case 'explicit-deny-in-identity-policy':
      return `${head} with an explicit deny in an identity-based policy`;
    case 'no-identity-policy-allows':
      return `${head} because no identity-based policy allows the ${request.action} action`;
    case 'no-resource-policy-allows':
      return `${head} because no resource-based policy allows the ${request.action} action`;
    default:
      throw new TypeError(`accessDeniedMessage: the request was allowed (${result.reason})`);
  }
}

export function accessDeniedError(request: Pick<RequestContext, 'principal' | 'action' | 'resource'>, result: AuthorizationResult): KmsError {
  return new KmsError('AccessDeniedException', accessDeniedMessage(request, result));
}

interface IdentityOutcome {
  readonly deny: StatementRef | undefined;
  /** An identity policy allows, or the caller is the account root user. */
  readonly allowed: boolean;
  /** The allowing statement (none for the root user's implicit permission). */
  readonly allow: StatementRef | undefined;
}

function evaluateIdentity(request: RequestContext, policies: readonly PolicyDocument[], context: ConditionContext): IdentityOutcome {
  let allow: StatementRef | undefined;
  for (const [i, policy] of policies.entries()) {
    if (policy.kind !== 'identity') throw new TypeError('authorize: identity policies must be parsed with kind "identity"');
    const match = evaluatePolicy(policy, request, context, i);
    if (match.deny) return { deny: match.deny, allowed: false, allow: undefined };
    allow ??= match.allows[0]?.ref;
  }
  // The root user has no identity policies: it holds every permission IAM can give in its account.
  return { deny: undefined, allowed: allow !== undefined || request.principal.type === 'Root', allow };
}
