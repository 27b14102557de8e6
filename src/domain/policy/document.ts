// Policy documents: parse JSON text into a typed model, refusing what AWS refuses with
// MalformedPolicyDocumentException and a message that names the problem and the statement.
//
// Two kinds share the grammar. A key policy (KMS's resource policy) must name a Principal or
// NotPrincipal in every statement; an identity policy (attached to an IAM user or role) must not.

import { KmsError } from '../errors.js';
import type { ConditionClause } from './conditions.js';
import { parseOperator, valueProblem } from './conditions.js';
import type { AwsPrincipalRef, PrincipalSet } from './principals.js';
import { isServicePrincipal, parseAwsPrincipal } from './principals.js';

export type PolicyKind = 'key' | 'identity';
export type Effect = 'Allow' | 'Deny';

export interface PolicyDocument {
  readonly kind: PolicyKind;
  /** Absent Version behaves as 2008-10-17: no policy variables. */
  readonly version: '2012-10-17' | '2008-10-17' | undefined;
  readonly id: string | undefined;
  readonly statements: readonly Statement[];
}

export interface Statement {
  /** 1-based position in the document, for messages and audit. */
  readonly index: number;
  readonly sid: string | undefined;
  readonly effect: Effect;
  /** Exactly one of principal/notPrincipal in key policies; neither in identity policies. */
  readonly principal: PrincipalSet | undefined;
  readonly notPrincipal: PrincipalSet | undefined;
  /** Exactly one of action/notAction. */
  readonly action: readonly string[] | undefined;
  readonly notAction: readonly string[] | undefined;
  /** At most one of resource/notResource; neither means every resource. */
  readonly resource: readonly string[] | undefined;
  readonly notResource: readonly string[] | undefined;
  readonly conditions: readonly ConditionClause[];
}

export interface ParseOptions {
  readonly kind: PolicyKind;
}

const VERSIONS = new Set(['2012-10-17', '2008-10-17']);
const TOP_KEYS = new Set(['Version', 'Id', 'Statement']);
const STATEMENT_KEYS = new Set(['Sid', 'Effect', 'Principal', 'NotPrincipal', 'Action', 'NotAction', 'Resource', 'NotResource', 'Condition']);
const PRINCIPAL_TYPES = new Set(['AWS', 'Service', 'Federated', 'CanonicalUser']);
// KMS's PolicyType pattern: tab, LF, CR and U+0020–U+00FF.
const POLICY_CHARS = /^[\u0009\u000A\u000D\u0020-\u00FF]+$/;
const ACTION = /^(\*|[A-Za-z0-9*?-]+:[A-Za-z0-9*?]+)$/;
const CONDITION_KEY = /^[A-Za-z0-9*?-]+:.+$/;
// KMS refuses ForAllValues with these single-valued keys (KMS developer guide, "Using set
// operators with condition keys").
const OVERLY_PERMISSIVE: ReadonlyArray<readonly [string, string, string]> = [
  ['kms:encryptioncontext:', 'EncryptionContext', 'encryption context'],
  ['aws:requesttag/', 'RequestTag', 'tag'],
];

export const INVALID_PRINCIPALS = 'Policy contains a statement with one or more invalid principals.';

/** Parses and validates policy text. Throws MalformedPolicyDocumentException. */
export function parsePolicy(text: string, options: ParseOptions): PolicyDocument {
  if (options.kind === 'key' && !POLICY_CHARS.test(text)) {
    malformed('The policy contains characters outside the allowed set (tab, LF, CR, U+0020–U+00FF).');
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    malformed('The policy is not valid JSON.');
  }
  return parsePolicyObject(doc, options);
}

/** Validates an already-parsed JSON value (identity policies kept as objects in configuration). */
export function parsePolicyObject(doc: unknown, options: ParseOptions): PolicyDocument {
  if (!isObject(doc)) malformed('The policy must be a JSON object.');
  for (const key of Object.keys(doc)) {
    if (!TOP_KEYS.has(key)) malformed(`The policy has an unknown element '${key}'.`);
  }
  if (doc.Version !== undefined && !(typeof doc.Version === 'string' && VERSIONS.has(doc.Version))) {
    malformed('The policy Version must be "2012-10-17" or "2008-10-17".');
  }
  if (doc.Id !== undefined && typeof doc.Id !== 'string') malformed('The policy Id must be a string.');
  const raw = Array.isArray(doc.Statement) ? doc.Statement : doc.Statement === undefined ? undefined : [doc.Statement];
  if (!raw || raw.length === 0) malformed('The policy must contain a Statement.');
  return {
    kind: options.kind,
    version: doc.Version as PolicyDocument['version'],
    id: doc.Id as string | undefined,
    statements: raw.map((statement: unknown, i: number) => parseStatement(statement, i + 1, options.kind)),
  };
}

function parseStatement(statement: unknown, n: number, kind: PolicyKind): Statement {
  if (!isObject(statement)) malformed(`Statement ${n} must be a JSON object.`);
  for (const key of Object.keys(statement)) {
    if (!STATEMENT_KEYS.has(key)) malformed(`Statement ${n} has an unknown element '${key}'.`);
  }
  if (statement.Sid !== undefined && typeof statement.Sid !== 'string') malformed(`Statement ${n}: Sid must be a string.`);
  if (statement.Effect !== 'Allow' && statement.Effect !== 'Deny') malformed(`Statement ${n}: Effect must be "Allow" or "Deny".`);
  if (kind === 'key') {
    exactlyOne(statement, 'Principal', 'NotPrincipal', n);
  } else if (statement.Principal !== undefined || statement.NotPrincipal !== undefined) {
    // IAM's own wording for a principal in an identity-based policy.
    malformed(`Statement ${n}: Policy document should not specify a principal.`);
  }
  exactlyOne(statement, 'Action', 'NotAction', n);
  for (const key of ['Action', 'NotAction', 'Resource', 'NotResource'] as const) {
    const value = statement[key];
    if (value !== undefined && !isStringOrStringList(value)) malformed(`Statement ${n}: ${key} must be a string or a list of strings.`);
  }
  if (statement.Resource !== undefined && statement.NotResource !== undefined) {
    malformed(`Statement ${n} must not contain both Resource and NotResource.`);
  }
  const principal = statement.Principal === undefined ? undefined : parsePrincipal(statement.Principal, 'Principal', n);
  const notPrincipal = statement.NotPrincipal === undefined ? undefined : parsePrincipal(statement.NotPrincipal, 'NotPrincipal', n);
  const action = optionalList(statement.Action);
  const notAction = optionalList(statement.NotAction);
  for (const [key, list] of [['Action', action], ['NotAction', notAction]] as const) {
    for (const a of list ?? []) {
      if (!ACTION.test(a)) malformed(`Statement ${n}: ${key} '${a}' must be "*" or of the form "kms:Operation".`);
    }
  }
  const resource = optionalList(statement.Resource);
  const notResource = optionalList(statement.NotResource);
  for (const [key, list] of [['Resource', resource], ['NotResource', notResource]] as const) {
    for (const r of list ?? []) {
      if (r !== '*' && !(r.startsWith('arn:') && r.split(':').length >= 6)) malformed(`Statement ${n}: ${key} '${r}' must be "*" or an ARN.`);
    }
  }
  return {
    index: n,
    sid: statement.Sid as string | undefined,
    effect: statement.Effect,
    principal,
    notPrincipal,
    action,
    notAction,
    resource,
    notResource,
    conditions: statement.Condition === undefined ? [] : parseCondition(statement.Condition, n, kind),
  };
}

function parsePrincipal(value: unknown, key: 'Principal' | 'NotPrincipal', n: number): PrincipalSet {
  if (value === '*') return { any: true, aws: [], services: [], other: [] };
  if (!isObject(value) || Object.keys(value).length === 0) malformed(`Statement ${n}: ${key} must be "*" or an object such as {"AWS": "arn:…"}.`);
  const aws: AwsPrincipalRef[] = [];
  const services: string[] = [];
  const other: string[] = [];
  for (const [type, ids] of Object.entries(value)) {
    if (!PRINCIPAL_TYPES.has(type)) malformed(`Statement ${n}: ${key} has an unknown principal type '${type}'.`);
    if (!isStringOrStringList(ids)) malformed(`Statement ${n}: ${key}.${type} must be a string or a list of strings.`);
    for (const id of list(ids)) {
      if (type === 'AWS') {
        const ref = parseAwsPrincipal(id);
        if (!ref) malformed(INVALID_PRINCIPALS);
        aws.push(ref);
      } else if (type === 'Service') {
        if (!isServicePrincipal(id)) malformed(INVALID_PRINCIPALS);
        services.push(id.toLowerCase());
      } else {
        if (id.length === 0) malformed(INVALID_PRINCIPALS);
        other.push(id);
      }
    }
  }
  return { any: aws.some((ref) => ref.type === 'any'), aws, services, other };
}

function parseCondition(condition: unknown, n: number, kind: PolicyKind): ConditionClause[] {
  if (!isObject(condition)) malformed(`Statement ${n}: Condition must be an object.`);
  const clauses: ConditionClause[] = [];
  for (const [operator, block] of Object.entries(condition)) {
    if (!isObject(block)) malformed(`Statement ${n}: Condition operator ${operator} must map condition keys to values.`);
    const parsed = parseOperator(operator);
    if (!parsed) malformed(`Statement ${n}: Condition has an unknown operator '${operator}'.`);
    for (const [key, rawValues] of Object.entries(block)) {
      if (!CONDITION_KEY.test(key)) malformed(`Statement ${n}: Condition key '${key}' under ${operator} must be of the form "service:name".`);
      const values = conditionValues(rawValues);
      if (!values) malformed(`Statement ${n}: Condition ${operator} value for '${key}' must be a string, number or boolean, or a non-empty list of them.`);
      for (const value of values) {
        const problem = value.includes('${') ? undefined : valueProblem(parsed.base, value);
        if (problem) malformed(`Statement ${n}: Condition ${operator} value '${value}' for '${key}' ${problem}.`);
      }
      if (kind === 'key' && parsed.qualifier === 'ForAllValues') {
        const hit = OVERLY_PERMISSIVE.find(([prefix]) => key.toLowerCase().startsWith(prefix));
        if (hit) {
          malformed(
            `OverlyPermissiveCondition:${hit[1]}: Using the ForAllValues set operator with a single-valued condition key matches requests without the specified ${hit[2]} or with an unspecified ${hit[2]}. To fix, remove ForAllValues.`,
          );
        }
      }
      clauses.push({ operator, ...parsed, key, values });
    }
  }
  return clauses;
}

function conditionValues(raw: unknown): string[] | undefined {
  const scalar = (v: unknown): v is string | number | boolean => typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v));
  if (scalar(raw)) return [String(raw)];
  if (Array.isArray(raw) && raw.length > 0 && raw.every(scalar)) return raw.map(String);
  return undefined;
}

function exactlyOne(statement: Record<string, unknown>, a: string, b: string, n: number): void {
  const count = (statement[a] !== undefined ? 1 : 0) + (statement[b] !== undefined ? 1 : 0);
  if (count !== 1) malformed(`Statement ${n} must contain exactly one of ${a} or ${b}.`);
}

function optionalList(value: unknown): string[] | undefined {
  return value === undefined ? undefined : list(value);
}

function list(value: unknown): string[] {
  return Array.isArray(value) ? (value as string[]) : [value as string];
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isStringOrStringList(value: unknown): boolean {
  return typeof value === 'string' || (Array.isArray(value) && value.length > 0 && value.every((v) => typeof v === 'string'));
}

function malformed(message: string): never {
  throw new KmsError('MalformedPolicyDocumentException', message);
}
