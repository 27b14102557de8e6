// Condition operators: what each one compares, how a set qualifier (ForAllValues:/ForAnyValue:)
// and the …IfExists suffix change it, and how absent keys behave. Rules, from the IAM user guide
// ("Condition operators", "Conditions with multiple context keys or values", "Single-valued vs.
// multivalued context keys"):
//
// - Several operators in a Condition, or several keys under one operator: AND.
// - Several policy values for one key: OR; for a negated operator (StringNotEquals, NotIpAddress,
//   ArnNotLike, …): NOR — the request value must match none of them.
// - Key absent: false, except negated operators (true), …IfExists (true), ForAllValues (true:
//   "also returns true if there are no context keys in the request") and Null (the point of it).
// - ForAllValues: every request value satisfies the operator (empty/absent set → true).
//   ForAnyValue: at least one does (empty/absent set → false). With a negated operator "satisfies"
//   is the NOR above, so ForAllValues:StringNotLike {"aws:TagKeys": "key1*"} is true for
//   [key2:audit] or no tags, false for [key1:legal].
// - A plain operator given a multi-valued request key (keybridge's choice; AWS says not to do
//   this): positive operators need one request value to match, negated ones need every request
//   value to match none of the policy values.

import { cidrContains, parseCidr } from './cidr.js';
import type { ConditionContext, ContextScalar } from './condition-keys.js';
import { toList } from './condition-keys.js';
import { hasVariables, substitute } from './variables.js';
import { arnMatch, wildcardMatch } from './wildcard.js';

export type BaseOperator =
  | 'StringEquals' | 'StringNotEquals' | 'StringEqualsIgnoreCase' | 'StringNotEqualsIgnoreCase' | 'StringLike' | 'StringNotLike'
  | 'NumericEquals' | 'NumericNotEquals' | 'NumericLessThan' | 'NumericLessThanEquals' | 'NumericGreaterThan' | 'NumericGreaterThanEquals'
  | 'DateEquals' | 'DateNotEquals' | 'DateLessThan' | 'DateLessThanEquals' | 'DateGreaterThan' | 'DateGreaterThanEquals'
  | 'Bool' | 'BinaryEquals' | 'IpAddress' | 'NotIpAddress'
  | 'ArnEquals' | 'ArnLike' | 'ArnNotEquals' | 'ArnNotLike'
  | 'Null';

export type SetQualifier = 'ForAllValues' | 'ForAnyValue';

/** One key test inside a Condition block: `"ForAnyValue:StringEqualsIfExists": {"key": [values]}`. */
export interface ConditionClause {
  /** The operator exactly as written, for messages. */
  readonly operator: string;
  readonly base: BaseOperator;
  readonly qualifier: SetQualifier | undefined;
  readonly ifExists: boolean;
  /** The condition key as written; looked up without regard to case. */
  readonly key: string;
  /** Policy values as strings (JSON numbers and booleans are written out). */
  readonly values: readonly string[];
}

type Kind = 'string' | 'numeric' | 'date' | 'bool' | 'binary' | 'ip' | 'arn' | 'null';

interface OperatorSpec {
  readonly kind: Kind;
  /** The positive test for one request value against one policy value. */
  readonly test: (request: ContextScalar, policy: string, variables: VariableScope) => boolean;
  readonly negated: boolean;
}

/** Substitution of policy variables in policy values; off for Version 2008-10-17. */
export interface VariableScope {
  readonly enabled: boolean;
  readonly context: ConditionContext;
}

const str = (v: ContextScalar): string => String(v);

function withVariables(policy: string, scope: VariableScope, forWildcards: boolean): string | undefined {
  if (!scope.enabled || !hasVariables(policy)) return policy;
  return substitute(policy, scope.context, forWildcards);
}

/** A wildcard pattern after substitution, and whether it came out escaped. */
function pattern(policy: string, scope: VariableScope): { text: string; escaped: boolean } | undefined {
  if (!scope.enabled || !hasVariables(policy)) return { text: policy, escaped: false };
  const text = substitute(policy, scope.context, true);
  return text === undefined ? undefined : { text, escaped: true };
}

const stringEquals = (r: ContextScalar, p: string, s: VariableScope): boolean => withVariables(p, s, false) === str(r);
const stringEqualsIgnoreCase = (r: ContextScalar, p: string, s: VariableScope): boolean =>
  withVariables(p, s, false)?.toLowerCase() === str(r).toLowerCase();
const stringLike = (r: ContextScalar, p: string, s: VariableScope): boolean => {
  const pat = pattern(p, s);
  return pat !== undefined && wildcardMatch(pat.text, str(r), { escaped: pat.escaped });
};
const arnLike = (r: ContextScalar, p: string, s: VariableScope): boolean => {
  const pat = pattern(p, s);
  return pat !== undefined && arnMatch(pat.text, str(r), { escaped: pat.escaped });
};

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
export function parseNumber(v: ContextScalar | string): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v !== 'string' || !NUMBER.test(v.trim())) return undefined;
  return Number(v.trim());
}

// W3C's ISO 8601 profile (YYYY, YYYY-MM, YYYY-MM-DD, with hh:mm[:ss[.s]] and a zone), or epoch
// seconds.
const ISO_DATE = /^\d{4}(-\d{2}(-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2}))?)?)?$/;
const EPOCH = /^-?\d+(\.\d+)?$/;
export function parseDate(v: ContextScalar | string): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v * 1000 : undefined;
  if (typeof v !== 'string') return undefined;
  const text = v.trim();
  if (EPOCH.test(text) && !/^\d{4}$/.test(text)) return Number(text) * 1000;
  if (!ISO_DATE.test(text)) return undefined;
  const ms = Date.parse(text.length === 4 ? `${text}-01-01T00:00:00Z` : text.length === 7 ? `${text}-01T00:00:00Z` : text);
  return Number.isNaN(ms) ? undefined : ms;
}

function compare(parse: (v: ContextScalar | string) => number | undefined, ok: (a: number, b: number) => boolean) {
  return (r: ContextScalar, p: string): boolean => {
    const a = parse(r);
    const b = parse(p);
    return a !== undefined && b !== undefined && ok(a, b);
  };
}

const eq = (a: number, b: number): boolean => a === b;
const lt = (a: number, b: number): boolean => a < b;
const le = (a: number, b: number): boolean => a <= b;
const gt = (a: number, b: number): boolean => a > b;
const ge = (a: number, b: number): boolean => a >= b;

function boolText(v: ContextScalar | string): string | undefined {
  const text = String(v).toLowerCase();
  return text === 'true' || text === 'false' ? text : undefined;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
function binaryEquals(r: ContextScalar, p: string): boolean {
  if (typeof r !== 'string' || !BASE64.test(p) || !BASE64.test(r)) return false;
  return Buffer.from(r, 'base64').equals(Buffer.from(p, 'base64'));
}

function ipAddress(r: ContextScalar, p: string): boolean {
  const range = parseCidr(p);
  return range !== undefined && typeof r === 'string' && cidrContains(range, r);
}

const never = (): boolean => false;

export const OPERATORS: Readonly<Record<BaseOperator, OperatorSpec>> = {
  StringEquals: { kind: 'string', test: stringEquals, negated: false },
  StringNotEquals: { kind: 'string', test: stringEquals, negated: true },
  StringEqualsIgnoreCase: { kind: 'string', test: stringEqualsIgnoreCase, negated: false },
  StringNotEqualsIgnoreCase: { kind: 'string', test: stringEqualsIgnoreCase, negated: true },
  StringLike: { kind: 'string', test: stringLike, negated: false },
  StringNotLike: { kind: 'string', test: stringLike, negated: true },
  NumericEquals: { kind: 'numeric', test: compare(parseNumber, eq), negated: false },
  NumericNotEquals: { kind: 'numeric', test: compare(parseNumber, eq), negated: true },
  NumericLessThan: { kind: 'numeric', test: compare(parseNumber, lt), negated: false },
  NumericLessThanEquals: { kind: 'numeric', test: compare(parseNumber, le), negated: false },
  NumericGreaterThan: { kind: 'numeric', test: compare(parseNumber, gt), negated: false },
  NumericGreaterThanEquals: { kind: 'numeric', test: compare(parseNumber, ge), negated: false },
  DateEquals: { kind: 'date', test: compare(parseDate, eq), negated: false },
  DateNotEquals: { kind: 'date', test: compare(parseDate, eq), negated: true },
  DateLessThan: { kind: 'date', test: compare(parseDate, lt), negated: false },
  DateLessThanEquals: { kind: 'date', test: compare(parseDate, le), negated: false },
  DateGreaterThan: { kind: 'date', test: compare(parseDate, gt), negated: false },
  DateGreaterThanEquals: { kind: 'date', test: compare(parseDate, ge), negated: false },
  Bool: {
    kind: 'bool',
    test: (r, p, s) => {
      const policy = withVariables(p, s, false);
      return policy !== undefined && boolText(r) !== undefined && boolText(r) === boolText(policy);
    },
    negated: false,
  },
  BinaryEquals: { kind: 'binary', test: binaryEquals, negated: false },
  IpAddress: { kind: 'ip', test: ipAddress, negated: false },
  NotIpAddress: { kind: 'ip', test: ipAddress, negated: true },
  ArnEquals: { kind: 'arn', test: arnLike, negated: false },
  ArnLike: { kind: 'arn', test: arnLike, negated: false },
  ArnNotEquals: { kind: 'arn', test: arnLike, negated: true },
  ArnNotLike: { kind: 'arn', test: arnLike, negated: true },
  // Null is decided on presence alone (see evaluateClause); the per-value test is unused.
  Null: { kind: 'null', test: never, negated: false },
};

export interface ParsedOperator {
  readonly base: BaseOperator;
  readonly qualifier: SetQualifier | undefined;
  readonly ifExists: boolean;
}

/**
 * Splits "ForAnyValue:StringLikeIfExists" into its parts; undefined when it is not an operator IAM
 * knows. Operator names are case-sensitive in IAM ("stringequals" is rejected), the qualifier too.
 */
export function parseOperator(name: string): ParsedOperator | undefined {
  let rest = name;
  let qualifier: SetQualifier | undefined;
  for (const q of ['ForAllValues', 'ForAnyValue'] as const) {
    if (rest.startsWith(`${q}:`)) {
      qualifier = q;
      rest = rest.slice(q.length + 1);
    }
  }
  let ifExists = false;
  if (rest.endsWith('IfExists')) {
    ifExists = true;
    rest = rest.slice(0, -'IfExists'.length);
  }
  if (!Object.hasOwn(OPERATORS, rest)) return undefined;
  const base = rest as BaseOperator;
  // "You can add IfExists to the end of any condition operator name except the Null condition."
  if (base === 'Null' && (ifExists || qualifier !== undefined)) return undefined;
  return { base, qualifier, ifExists };
}

/**
 * Checks one policy value against the operator's type, so a malformed number, date, CIDR or Null
 * flag is refused when the policy is stored rather than silently never matching. Values holding
 * policy variables are checked at evaluation time.
 */
export function valueProblem(base: BaseOperator, value: string): string | undefined {
  switch (OPERATORS[base].kind) {
    case 'numeric':
      return parseNumber(value) === undefined ? 'is not a number' : undefined;
    case 'date':
      return parseDate(value) === undefined ? 'is not an ISO 8601 date or epoch time' : undefined;
    case 'ip':
      return parseCidr(value) === undefined ? 'is not an IPv4 or IPv6 address or CIDR range' : undefined;
    case 'null':
      return boolText(value) === undefined ? 'must be "true" or "false"' : undefined;
    case 'binary':
      return BASE64.test(value) ? undefined : 'is not base64';
    default:
      return undefined;
  }
}

/** True when the clause holds for the request. */
export function evaluateClause(clause: ConditionClause, scope: VariableScope): boolean {
  const raw = scope.context.get(clause.key);
  const requestValues = raw === undefined ? [] : toList(raw);
  const absent = requestValues.length === 0;

  if (clause.base === 'Null') {
    // "true (the key doesn't exist — it is null) or false (the key exists and its value is not null)".
    return clause.values.some((v) => (boolText(v) === 'true') === absent);
  }
  if (absent) {
    if (clause.ifExists || clause.qualifier === 'ForAllValues') return true;
    if (clause.qualifier === 'ForAnyValue') return false;
    return OPERATORS[clause.base].negated;
  }

  const spec = OPERATORS[clause.base];
  // A request value "satisfies" the operator: matches one of the policy values (OR), or for a
  // negated operator matches none of them (NOR).
  const satisfies = (r: ContextScalar): boolean => {
    const matched = clause.values.some((p) => spec.test(r, p, scope));
    return spec.negated ? !matched : matched;
  };
  switch (clause.qualifier) {
    case 'ForAllValues':
      return requestValues.every(satisfies);
    case 'ForAnyValue':
      return requestValues.some(satisfies);
    default:
      return spec.negated ? requestValues.every(satisfies) : requestValues.some(satisfies);
  }
}

export function evaluateConditions(clauses: readonly ConditionClause[], scope: VariableScope): boolean {
  return clauses.every((clause) => evaluateClause(clause, scope));
}
