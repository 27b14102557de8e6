// Whether a new key policy would lock the signed-in caller out of the key policy: the console
// warns before PutKeyPolicy, as AWS's console does. It never sends BypassPolicyLockoutSafetyCheck,
// so the server's own check (with the caller's identity policies, which the browser cannot see)
// still has the last word; this is only an early, readable warning, and it errs towards warning.
//
// Pure: no browser or Preact import, so node:test can run it (test/console/lockout.test.ts).

const ACTION = 'kms:putkeypolicy';

/**
 * A sentence saying why `policyJson` may stop `callerArn` (in account `accountId`) from calling
 * kms:PutKeyPolicy on the key, or undefined when the caller keeps control. `keyArn`, when known,
 * is matched against Resource/NotResource; without it every statement is taken to cover the key.
 * Text that is not a JSON policy gives undefined: validatePolicy reports that.
 *
 * Naming the account ("111122223333" or its root ARN) counts as keeping control, as in AWS's
 * console: it delegates to the account's IAM policies, which the server then checks.
 */
export function lockoutRisk(policyJson: string, callerArn: string, accountId: string, keyArn?: string): string | undefined {
  let policy: unknown;
  try {
    policy = JSON.parse(policyJson);
  } catch {
    return undefined;
  }
  if (!isObject(policy)) return undefined;
  const caller = callerLinks(callerArn, accountId);
  let allowed = false;
  let conditionalAllow = false;
  let conditionalDeny: string | undefined;
  for (const [index, statement] of asList(policy['Statement']).entries()) {
    if (!isObject(statement) || !appliesToCaller(statement, caller) || !coversAction(statement) || !coversResource(statement, keyArn)) continue;
    const name = typeof statement['Sid'] === 'string' && statement['Sid'] !== '' ? `"${statement['Sid']}"` : `${index + 1}`;
    const conditional = isObject(statement['Condition']) && Object.keys(statement['Condition']).length > 0;
    if (statement['Effect'] === 'Deny') {
      if (!conditional) return `Statement ${name} denies you (${callerArn}) kms:PutKeyPolicy: after saving this policy you could no longer change it.`;
      conditionalDeny ??= name;
    } else if (statement['Effect'] === 'Allow') {
      if (conditional) conditionalAllow = true;
      else allowed = true;
    }
  }
  if (conditionalDeny !== undefined) {
    return `Statement ${conditionalDeny} denies you (${callerArn}) kms:PutKeyPolicy under a condition: when it holds, you could no longer change this policy.`;
  }
  if (allowed) return undefined;
  if (conditionalAllow) {
    return `Only statements with conditions allow you (${callerArn}) kms:PutKeyPolicy: when they do not hold, you could no longer change this policy.`;
  }
  return `No statement allows you (${callerArn}) kms:PutKeyPolicy: after saving this policy you could no longer change it.`;
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function asList(value: unknown): unknown[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

/**
 * The caller's identities, outermost first, as the server matches them: its account, its role
 * (for an assumed-role session), itself. Each link is a test on one Principal entry.
 */
function callerLinks(callerArn: string, accountId: string): Array<(entry: string) => boolean> {
  const partition = /^arn:([^:]+):/.exec(callerArn)?.[1] ?? 'aws';
  const root = `arn:${partition}:iam::${accountId}:root`;
  const links: Array<(entry: string) => boolean> = [(entry) => entry === accountId || entry === root];
  const session = /^arn:[^:]+:sts::\d{12}:assumed-role\/([^/]+)\/[^/]+$/.exec(callerArn);
  if (session !== null) {
    // A session ARN loses the role's path, so any path with the role's name matches.
    const rolePrefix = `arn:${partition}:iam::${accountId}:role/`;
    links.push((entry) => entry.startsWith(rolePrefix) && entry.split('/').pop() === session[1]);
  }
  if (callerArn !== root) links.push((entry) => entry === callerArn);
  return links;
}

function awsEntries(principal: unknown): { any: boolean; entries: string[] } {
  if (principal === '*') return { any: true, entries: [] };
  if (!isObject(principal)) return { any: false, entries: [] };
  const entries = asList(principal['AWS']).filter((e): e is string => typeof e === 'string');
  return { any: entries.includes('*'), entries };
}

function appliesToCaller(statement: Json, caller: Array<(entry: string) => boolean>): boolean {
  if ('Principal' in statement) {
    const { any, entries } = awsEntries(statement['Principal']);
    return any || caller.some((link) => entries.some(link));
  }
  if ('NotPrincipal' in statement) {
    // It applies as soon as one of the caller's identities is not listed.
    const { any, entries } = awsEntries(statement['NotPrincipal']);
    return !any && caller.some((link) => !entries.some(link));
  }
  return false;
}

function patterns(value: unknown): string[] {
  return asList(value).filter((p): p is string => typeof p === 'string');
}

function coversAction(statement: Json): boolean {
  if ('Action' in statement) return patterns(statement['Action']).some((p) => wildcardMatch(p.toLowerCase(), ACTION));
  if ('NotAction' in statement) return !patterns(statement['NotAction']).some((p) => wildcardMatch(p.toLowerCase(), ACTION));
  return false;
}

function coversResource(statement: Json, keyArn: string | undefined): boolean {
  if (keyArn === undefined) return true;
  if ('Resource' in statement) return patterns(statement['Resource']).some((p) => wildcardMatch(p, keyArn));
  if ('NotResource' in statement) return !patterns(statement['NotResource']).some((p) => wildcardMatch(p, keyArn));
  return true;
}

/** IAM's `*` and `?` wildcards; a two-pointer loop rather than a RegExp, which a pattern could make backtrack badly. */
export function wildcardMatch(pattern: string, text: string): boolean {
  let p = 0;
  let t = 0;
  let star = -1;
  let mark = 0;
  while (t < text.length) {
    if (p < pattern.length && (pattern[p] === '?' || pattern[p] === text[t])) {
      p++;
      t++;
    } else if (p < pattern.length && pattern[p] === '*') {
      star = p++;
      mark = t;
    } else if (star !== -1) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (pattern[p] === '*') p++;
  return p === pattern.length;
}
