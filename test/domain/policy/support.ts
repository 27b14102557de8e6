// Shared fixtures for the policy tests: principals in two accounts, a key ARN, and a helper that
// runs one Condition block through the real parser and evaluator.

import type { ContextValue, PolicyDocument, RequestContext, RequestPrincipal } from '../../../src/domain/policy/index.js';
import { ConditionContext, evaluatePolicy, parsePolicy } from '../../../src/domain/policy/index.js';

export const ACCOUNT = '111122223333';
export const OTHER = '444455556666';
export const KEY_ARN = `arn:aws:kms:us-east-1:${ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`;

export const ROOT: RequestPrincipal = { arn: `arn:aws:iam::${ACCOUNT}:root`, accountId: ACCOUNT, type: 'Root' };
export const BOB: RequestPrincipal = { arn: `arn:aws:iam::${ACCOUNT}:user/bob`, accountId: ACCOUNT, type: 'IAMUser', userName: 'bob' };
export const ALICE: RequestPrincipal = { arn: `arn:aws:iam::${ACCOUNT}:user/alice`, accountId: ACCOUNT, type: 'IAMUser', userName: 'alice' };
export const APP_SESSION: RequestPrincipal = {
  arn: `arn:aws:sts::${ACCOUNT}:assumed-role/App/i-0123`,
  accountId: ACCOUNT,
  type: 'AssumedRole',
};
export const ADMIN_SESSION: RequestPrincipal = {
  arn: `arn:aws:sts::${ACCOUNT}:assumed-role/KMSAdmin/carol`,
  accountId: ACCOUNT,
  type: 'AssumedRole',
  roleArn: `arn:aws:iam::${ACCOUNT}:role/admins/KMSAdmin`,
};
export const EXT_ROOT: RequestPrincipal = { arn: `arn:aws:iam::${OTHER}:root`, accountId: OTHER, type: 'Root' };
export const EXT_USER: RequestPrincipal = { arn: `arn:aws:iam::${OTHER}:user/dave`, accountId: OTHER, type: 'IAMUser', userName: 'dave' };
export const EXT_ROLE: RequestPrincipal = { arn: `arn:aws:sts::${OTHER}:assumed-role/Partner/s1`, accountId: OTHER, type: 'AssumedRole' };
export const LOGS: RequestPrincipal = { arn: 'logs.us-east-1.amazonaws.com', accountId: '', type: 'Service' };

export function keyPolicy(...statements: unknown[]): PolicyDocument {
  return parsePolicy(JSON.stringify({ Version: '2012-10-17', Statement: statements }), { kind: 'key' });
}

export function identityPolicy(...statements: unknown[]): PolicyDocument {
  return parsePolicy(JSON.stringify({ Version: '2012-10-17', Statement: statements }), { kind: 'identity' });
}

export function request(
  principal: RequestPrincipal,
  action = 'kms:Encrypt',
  conditionKeys: Record<string, ContextValue | undefined> = {},
  /** null: a request with no resource (kms:CreateKey). */
  resource: string | null = KEY_ARN,
): RequestContext {
  return { principal, action, ...(resource === null ? {} : { resource }), conditionKeys };
}

/** Whether `condition` holds for `keys`, through parsePolicy and evaluatePolicy. */
export function conditionHolds(condition: Record<string, unknown>, keys: Record<string, ContextValue | undefined>, version = '2012-10-17'): boolean {
  const policy = parsePolicy(
    JSON.stringify({ Version: version, Statement: [{ Effect: 'Allow', Action: 'kms:Encrypt', Resource: '*', Condition: condition }] }),
    { kind: 'identity' },
  );
  const req = request(BOB, 'kms:Encrypt', keys);
  return evaluatePolicy(policy, req, new ConditionContext(req.conditionKeys)).allows.length > 0;
}
