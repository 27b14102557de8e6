// One policy against one request: which statements apply. No combining across policies here
// (authorize.ts does that the KMS way); within a policy a statement applies when its principal,
// action, resource and every condition match.

import type { ConditionContext, RequestContext } from './condition-keys.js';
import type { VariableScope } from './conditions.js';
import { evaluateConditions } from './conditions.js';
import type { PolicyDocument, Statement } from './document.js';
import type { PrincipalMatch } from './principals.js';
import { matchPrincipal, notPrincipalApplies } from './principals.js';
import { hasVariables, substitute } from './variables.js';
import { wildcardMatch } from './wildcard.js';

export interface StatementRef {
  readonly policy: 'key' | 'identity';
  /** Which identity policy, by position in the list given (identity policies only). */
  readonly policyIndex?: number;
  /** 1-based statement position. */
  readonly index: number;
  readonly sid?: string;
}

export interface PolicyMatch {
  /** The first Deny statement that applies, if any. */
  readonly deny: StatementRef | undefined;
  /** Allow statements that apply, with how the principal matched (key policies only). */
  readonly allows: ReadonlyArray<{ readonly ref: StatementRef; readonly via: PrincipalMatch }>;
}

export function evaluatePolicy(policy: PolicyDocument, request: RequestContext, context: ConditionContext, policyIndex?: number): PolicyMatch {
  const scope: VariableScope = { enabled: policy.version === '2012-10-17', context };
  let deny: StatementRef | undefined;
  const allows: Array<{ ref: StatementRef; via: PrincipalMatch }> = [];
  for (const statement of policy.statements) {
    const via = policy.kind === 'key' ? principalMatch(statement, request) : 'direct';
    if (via === undefined) continue;
    if (!actionMatches(statement, request.action)) continue;
    if (!resourceMatches(statement, request.resource, scope)) continue;
    if (!evaluateConditions(statement.conditions, scope)) continue;
    const ref: StatementRef = {
      policy: policy.kind,
      ...(policyIndex === undefined ? {} : { policyIndex }),
      index: statement.index,
      ...(statement.sid === undefined ? {} : { sid: statement.sid }),
    };
    if (statement.effect === 'Deny') {
      deny ??= ref;
    } else {
      allows.push({ ref, via });
    }
  }
  return { deny, allows };
}

function principalMatch(statement: Statement, request: RequestContext): PrincipalMatch | undefined {
  if (statement.principal) return matchPrincipal(statement.principal, request.principal);
  if (statement.notPrincipal) return notPrincipalApplies(statement.notPrincipal, request.principal) ? 'direct' : undefined;
  return undefined;
}

/** Action names are case-insensitive: "KMS:encrypt" matches kms:Encrypt. */
export function actionMatches(statement: Statement, action: string): boolean {
  if (statement.action) return statement.action.some((p) => wildcardMatch(p, action, { ignoreCase: true }));
  return !statement.notAction!.some((p) => wildcardMatch(p, action, { ignoreCase: true }));
}

/**
 * Resource ARNs are case-sensitive. In a key policy "*" means "this KMS key". A request without a
 * resource (kms:CreateKey, kms:ListKeys) is matched only by "*" (or by a NotResource).
 */
export function resourceMatches(statement: Statement, resource: string | undefined, scope: VariableScope): boolean {
  const matches = (pattern: string): boolean => {
    if (pattern === '*') return true;
    if (resource === undefined) return false;
    if (!scope.enabled || !hasVariables(pattern)) return wildcardMatch(pattern, resource);
    const substituted = substitute(pattern, scope.context, true);
    return substituted !== undefined && wildcardMatch(substituted, resource, { escaped: true });
  };
  if (statement.resource) return statement.resource.some(matches);
  if (statement.notResource) return !statement.notResource.some(matches);
  return true;
}
