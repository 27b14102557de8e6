// Principal and NotPrincipal: parsing the values a policy may name, and matching them against the
// caller.
//
// A caller is matched through a chain of identities, outermost first: its account, then (for a
// role session) the role, then itself. `Principal` matches when any link is named; AWS's
// NotPrincipal guidance follows from the same chain: to exempt a role session from a
// `Deny` + `NotPrincipal` statement, the policy must list the account, the role AND the session
// ARN, because the statement applies to the caller as soon as one link is not listed.
//
// How a statement matched matters for KMS: naming the account (`"111122223333"` or
// `arn:aws:iam::111122223333:root`) delegates to that account's IAM policies, while naming the
// user or role (or "*") grants directly. See authorize.ts.

import type { RequestPrincipal } from './condition-keys.js';

export type AwsPrincipalRef =
  | { readonly type: 'any' }
  | { readonly type: 'account'; readonly accountId: string; readonly partition: string | undefined }
  | {
      readonly type: 'user' | 'role' | 'assumed-role' | 'federated-user';
      readonly arn: string;
      readonly partition: string;
      readonly accountId: string;
      /** For roles: the role name (last path segment); for sessions: role name. */
      readonly name: string;
    };

export interface PrincipalSet {
  /** `"*"`, or `{"AWS": "*"}`: everyone. */
  readonly any: boolean;
  readonly aws: readonly AwsPrincipalRef[];
  /** Service principal names, lower-cased. */
  readonly services: readonly string[];
  /** Federated and CanonicalUser entries are accepted but never match a keybridge caller. */
  readonly other: readonly string[];
}

const ACCOUNT = /^\d{12}$/;
const ARN = /^arn:([a-z][a-z0-9-]*):(iam|sts)::(\d{12}):(.+)$/;
// IAM names: letters, digits and +=,.@_- ; paths: /…/ of the same characters.
const NAME = "[\\w+=,.@-]+";
const PATHED = new RegExp(`^(user|role)/(?:${NAME}/)*(${NAME})$`);
const SESSION = new RegExp(`^assumed-role/(${NAME})/(${NAME})$`);
const FEDERATED = new RegExp(`^federated-user/(${NAME})$`);
const SERVICE = /^[a-z0-9][a-z0-9.-]*[a-z0-9]$/i;

/** Parses one `AWS` principal value; undefined when AWS would call it an invalid principal. */
export function parseAwsPrincipal(value: string): AwsPrincipalRef | undefined {
  if (value === '*') return { type: 'any' };
  if (ACCOUNT.test(value)) return { type: 'account', accountId: value, partition: undefined };
  const arn = ARN.exec(value);
  if (!arn) return undefined;
  const [, partition, service, accountId, resource] = arn as unknown as [string, string, string, string, string];
  if (service === 'iam') {
    if (resource === 'root') return { type: 'account', accountId, partition };
    const pathed = PATHED.exec(resource);
    if (pathed) return { type: pathed[1] as 'user' | 'role', arn: value, partition, accountId, name: pathed[2]! };
    return undefined;
  }
  const session = SESSION.exec(resource);
  if (session) return { type: 'assumed-role', arn: value, partition, accountId, name: session[1]! };
  const federated = FEDERATED.exec(resource);
  if (federated) return { type: 'federated-user', arn: value, partition, accountId, name: federated[1]! };
  return undefined;
}

export function isServicePrincipal(value: string): boolean {
  return SERVICE.test(value);
}

export type PrincipalMatch = 'direct' | 'account';

interface ChainLink {
  readonly kind: 'account' | 'role' | 'self' | 'service';
  readonly matches: (ref: AwsPrincipalRef) => boolean;
}

function partitionOf(arn: string): string | undefined {
  return /^arn:([^:]+):/.exec(arn)?.[1];
}

/** The caller's identity chain (see the file comment). */
function chain(principal: RequestPrincipal): ChainLink[] {
  if (principal.type === 'Service') return [{ kind: 'service', matches: () => false }];
  const partition = partitionOf(principal.arn);
  const links: ChainLink[] = [
    {
      kind: 'account',
      matches: (ref) => ref.type === 'account' && ref.accountId === principal.accountId && (ref.partition === undefined || ref.partition === partition),
    },
  ];
  if (principal.type === 'AssumedRole') {
    // keybridge also lets a role call with its own long-term keys, the caller's ARN then being the
    // role's IAM ARN: that is its role link, and it has no session link.
    const roleArn = principal.roleArn ?? (/^arn:[^:]+:iam::\d{12}:role\//.test(principal.arn) ? principal.arn : undefined);
    const session = SESSION.exec(principal.arn.split(':').slice(5).join(':'));
    links.push({
      kind: 'role',
      matches: (ref) => {
        if (ref.type !== 'role') return false;
        // The session ARN loses the role's path; match the full role ARN when the caller's is
        // known, else account + role name.
        if (roleArn !== undefined) return ref.arn === roleArn;
        return ref.accountId === principal.accountId && ref.partition === partition && ref.name === session?.[1];
      },
    });
    if (session === null) return links;
  }
  if (principal.type !== 'Root') {
    links.push({ kind: 'self', matches: (ref) => ref.type !== 'any' && ref.type !== 'account' && ref.type !== 'role' && ref.arn === principal.arn });
  }
  return links;
}

/** How `Principal` matches the caller, or undefined when it does not. */
export function matchPrincipal(set: PrincipalSet, principal: RequestPrincipal): PrincipalMatch | undefined {
  if (set.any) return 'direct';
  if (principal.type === 'Service') return set.services.includes(principal.arn.toLowerCase()) ? 'direct' : undefined;
  let result: PrincipalMatch | undefined;
  for (const link of chain(principal)) {
    if (!set.aws.some(link.matches)) continue;
    if (link.kind !== 'account') return 'direct';
    result = 'account';
  }
  return result;
}

/** Whether a `NotPrincipal` statement applies to the caller: some link of its chain is not listed. */
export function notPrincipalApplies(set: PrincipalSet, principal: RequestPrincipal): boolean {
  if (set.any) return false;
  if (principal.type === 'Service') return !set.services.includes(principal.arn.toLowerCase());
  return chain(principal).some((link) => !set.aws.some(link.matches));
}
