// Key policy documents: the default one AWS attaches, and the structural checks PutKeyPolicy and
// CreateKey apply. Evaluation (who may do what) arrives with the authorization issue; until then
// a policy is validated and stored exactly as sent.

import type { Account } from './arn.js';
import { rootPrincipalArn } from './arn.js';
import { KmsError } from './errors.js';

export const DEFAULT_POLICY_NAME = 'default';

/** AWS's default key policy: the account (and so its IAM policies) may do everything. */
export function defaultKeyPolicy(account: Account): string {
  return JSON.stringify(
    {
      Version: '2012-10-17',
      Id: 'key-default-1',
      Statement: [
        {
          Sid: 'Enable IAM User Permissions',
          Effect: 'Allow',
          Principal: { AWS: rootPrincipalArn(account) },
          Action: 'kms:*',
          Resource: '*',
        },
      ],
    },
    null,
    2,
  );
}

const VERSIONS = new Set(['2012-10-17', '2008-10-17']);
const STATEMENT_KEYS = new Set(['Sid', 'Effect', 'Principal', 'NotPrincipal', 'Action', 'NotAction', 'Resource', 'NotResource', 'Condition']);
// The model's PolicyType pattern: tab, LF, CR and U+0020–U+00FF.
const POLICY_CHARS = /^[\u0009\u000A\u000D\u0020-\u00FF]+$/;

/**
 * Throws MalformedPolicyDocumentException naming the first problem found. Checks the grammar AWS
 * enforces for key policies: a JSON object with an optional known Version and a Statement (object
 * or non-empty array) whose entries have Effect Allow/Deny, exactly one of Principal/NotPrincipal,
 * exactly one of Action/NotAction, and string or string-list values.
 */
export function validateKeyPolicy(text: string): void {
  if (!POLICY_CHARS.test(text)) malformed('The policy contains characters outside the allowed set (tab, LF, CR, U+0020–U+00FF).');
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    malformed('The policy is not valid JSON.');
  }
  if (!isObject(doc)) malformed('The policy must be a JSON object.');
  for (const key of Object.keys(doc)) {
    if (!['Version', 'Id', 'Statement'].includes(key)) malformed(`The policy has an unknown element '${key}'.`);
  }
  if (doc.Version !== undefined && !(typeof doc.Version === 'string' && VERSIONS.has(doc.Version))) {
    malformed(`The policy Version must be "2012-10-17" or "2008-10-17".`);
  }
  if (doc.Id !== undefined && typeof doc.Id !== 'string') malformed('The policy Id must be a string.');
  const statements = Array.isArray(doc.Statement) ? doc.Statement : doc.Statement === undefined ? undefined : [doc.Statement];
  if (!statements || statements.length === 0) malformed('The policy must contain a Statement.');
  statements.forEach((statement: unknown, index: number) => validateStatement(statement, index + 1));
}

function validateStatement(statement: unknown, n: number): void {
  if (!isObject(statement)) malformed(`Statement ${n} must be a JSON object.`);
  for (const key of Object.keys(statement)) {
    if (!STATEMENT_KEYS.has(key)) malformed(`Statement ${n} has an unknown element '${key}'.`);
  }
  if (statement.Sid !== undefined && typeof statement.Sid !== 'string') malformed(`Statement ${n}: Sid must be a string.`);
  if (statement.Effect !== 'Allow' && statement.Effect !== 'Deny') malformed(`Statement ${n}: Effect must be "Allow" or "Deny".`);
  exactlyOne(statement, 'Principal', 'NotPrincipal', n);
  exactlyOne(statement, 'Action', 'NotAction', n);
  for (const key of ['Action', 'NotAction', 'Resource', 'NotResource'] as const) {
    const value = statement[key];
    if (value !== undefined && !isStringOrStringList(value)) malformed(`Statement ${n}: ${key} must be a string or a list of strings.`);
  }
  for (const key of ['Principal', 'NotPrincipal'] as const) {
    const value = statement[key];
    if (value === undefined || value === '*') continue;
    if (!isObject(value) || Object.keys(value).length === 0) malformed(`Statement ${n}: ${key} must be "*" or an object such as {"AWS": "arn:…"}.`);
    for (const [kind, ids] of Object.entries(value)) {
      if (!['AWS', 'Service', 'Federated', 'CanonicalUser'].includes(kind)) malformed(`Statement ${n}: ${key} has an unknown principal type '${kind}'.`);
      if (!isStringOrStringList(ids)) malformed(`Statement ${n}: ${key}.${kind} must be a string or a list of strings.`);
    }
  }
  if (statement.Condition !== undefined) {
    if (!isObject(statement.Condition)) malformed(`Statement ${n}: Condition must be an object.`);
    for (const [operator, block] of Object.entries(statement.Condition)) {
      if (!isObject(block)) malformed(`Statement ${n}: Condition operator ${operator} must map condition keys to values.`);
    }
  }
}

function exactlyOne(statement: Record<string, unknown>, a: string, b: string, n: number): void {
  const count = (statement[a] !== undefined ? 1 : 0) + (statement[b] !== undefined ? 1 : 0);
  if (count !== 1) malformed(`Statement ${n} must contain exactly one of ${a} or ${b}.`);
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
