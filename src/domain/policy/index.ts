// The AWS policy language for KMS: parse key and identity policies, evaluate them against a
// request, decide the way KMS does, and check PutKeyPolicy lockouts. Pure: no I/O.

export type { PolicyDocument, PolicyKind, Statement, Effect, ParseOptions } from './document.js';
export { parsePolicy, parsePolicyObject, INVALID_PRINCIPALS } from './document.js';
export type { BaseOperator, ConditionClause, SetQualifier } from './conditions.js';
export { parseOperator, evaluateClause } from './conditions.js';
export type {
  ConditionKeys,
  ContextScalar,
  ContextValue,
  KmsRequestFacts,
  PrincipalType,
  RequestContext,
  RequestPrincipal,
} from './condition-keys.js';
export { ConditionContext, kmsConditionKeys, principalArnKey } from './condition-keys.js';
export type { AwsPrincipalRef, PrincipalMatch, PrincipalSet } from './principals.js';
export type { PolicyMatch, StatementRef } from './evaluate.js';
export { evaluatePolicy } from './evaluate.js';
export type { AuthorizationResult, AuthorizeInput, Decision, DecisionReason } from './authorize.js';
export { accessDeniedError, accessDeniedMessage, allowByGrant, authorize, authorizeIdentityOnly } from './authorize.js';
export { assertNoLockout, LOCKOUT_MESSAGE } from './lockout.js';
export { wildcardMatch, arnMatch } from './wildcard.js';
