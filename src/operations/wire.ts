// Wire-schema building blocks shared by the operation files, and the translation of schema
// failures into AWS's error wording.
//
// AWS reports constraint failures as ValidationException:
//   "1 validation error detected: Value '0' at 'numberOfBytes' failed to satisfy constraint:
//    Member must have value greater than or equal to 1"
// and values of the wrong JSON type as SerializationException. Member paths are camelCase.
// Blob members never echo their value.

import { z } from 'zod';
import { KmsError, type KmsErrorName, wireMemberPath } from '../domain/errors.js';

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** A base64 blob member, decoded; `min`/`max` bound the decoded length as AWS's model does. */
export function blob(min: number, max: number) {
  return z.string().transform((text, ctx) => {
    if (!BASE64.test(text)) {
      ctx.addIssue({ code: 'custom', message: 'Member must be valid base64', params: { kms: 'SerializationException', hideValue: true } });
      return z.NEVER;
    }
    const bytes = Buffer.from(text, 'base64');
    if (bytes.length < min) {
      ctx.addIssue({ code: 'custom', message: `Member must have length greater than or equal to ${min}`, params: { hideValue: true } });
      return z.NEVER;
    }
    if (bytes.length > max) {
      ctx.addIssue({ code: 'custom', message: `Member must have length less than or equal to ${max}`, params: { hideValue: true } });
      return z.NEVER;
    }
    return bytes;
  });
}

/**
 * A secret string member (KeyStorePassword, RawSecretAccessKey): the same length bounds as str(),
 * but a failure never echoes the value into the error message.
 */
export function secretStr(min: number, max: number) {
  return z.string().superRefine((text, ctx) => {
    if (text.length < min) ctx.addIssue({ code: 'custom', message: `Member must have length greater than or equal to ${min}`, params: { hideValue: true } });
    else if (text.length > max) ctx.addIssue({ code: 'custom', message: `Member must have length less than or equal to ${max}`, params: { hideValue: true } });
  });
}

/** A string member with AWS's length bounds (in characters). */
export function str(min: number, max: number) {
  return z.string().min(min).max(max);
}

/** KeyId, TargetKeyId, SourceKeyId, DestinationKeyId. */
export const keyIdMember = str(1, 2048);

/** Limit for a paginated list: the model's bounds and the operation's default. */
export function limit(max: number) {
  return z.number().int().min(1).max(max);
}

export const marker = str(1, 1024);

export const grantTokens = z.array(str(1, 8192)).max(10);

/** Encryption contexts are string → string maps; matching is exact and case-sensitive. */
export const encryptionContext = z.record(z.string(), z.string());

export const tagList = z.array(z.object({ TagKey: str(1, 128), TagValue: str(0, 256) }));

/** AWS accepts DryRun on cryptographic operations; success is reported as DryRunOperationException. */
export const dryRun = z.boolean();

/**
 * Parses a request body against an operation's schema or throws the AWS-shaped error. A member
 * sent as JSON null counts as absent, as in AWS's JSON protocols (only at the top level: a null
 * inside a map such as EncryptionContext is still an error, never silently dropped).
 */
export function parseInput<S extends z.ZodType>(schema: S, body: Record<string, unknown>): z.output<S> {
  const present = Object.fromEntries(Object.entries(body).filter(([, value]) => value !== null));
  const result = schema.safeParse(present, { reportInput: true });
  if (result.success) return result.data;
  throw issuesToKmsError(result.error.issues);
}

function issuesToKmsError(issues: readonly z.core.$ZodIssue[]): KmsError {
  // A value of the wrong JSON type is a deserialisation failure in AWS, reported alone.
  for (const issue of issues) {
    const kms = kmsNameOf(issue);
    if (kms === 'SerializationException') {
      return new KmsError('SerializationException', serializationMessage(issue));
    }
  }
  const parts = issues.map(describeIssue);
  const count = parts.length;
  const head = `${count} validation error${count === 1 ? '' : 's'} detected: `;
  return new KmsError('ValidationException', head + parts.join('; '));
}

function kmsNameOf(issue: z.core.$ZodIssue): KmsErrorName {
  if (issue.code === 'custom') {
    const kms = (issue.params as { kms?: KmsErrorName } | undefined)?.kms;
    if (kms) return kms;
  }
  if (issue.code === 'invalid_type' && issue.input !== undefined && issue.input !== null) return 'SerializationException';
  // An enum member sent as a number, boolean or object is a type error, not a constraint failure.
  if (issue.code === 'invalid_value' && issue.input !== undefined && typeof issue.input !== 'string') return 'SerializationException';
  if (issue.code === 'invalid_union') return 'SerializationException';
  return 'ValidationException';
}

function pathOf(issue: z.core.$ZodIssue): string {
  return wireMemberPath(
    issue.path
      .map((p) => (typeof p === 'number' ? `${p + 1}` : String(p)))
      .join('.')
      .replace(/\.(\d+)/g, '.$1.member'),
  );
}

function serializationMessage(issue: z.core.$ZodIssue): string {
  const where = pathOf(issue) || 'request body';
  if (issue.code === 'custom') return `Value at '${where}' failed to deserialize: ${issue.message}`;
  const expected = issue.code === 'invalid_type' ? issue.expected : issue.code === 'invalid_value' ? 'string' : 'a different type';
  return `Value at '${where}' failed to deserialize: expected ${expected}, got ${jsonTypeOf(issue.input)}`;
}

function jsonTypeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  const where = pathOf(issue);
  const hide = issue.code === 'custom' && (issue.params as { hideValue?: boolean } | undefined)?.hideValue === true;
  const value = issue.input;
  let shown: string;
  if (value === undefined || value === null) shown = 'Value null';
  else if (hide || typeof value === 'object') shown = 'Value';
  else shown = `Value '${String(value)}'`;
  return `${shown} at '${where}' failed to satisfy constraint: ${constraintOf(issue)}`;
}

function constraintOf(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      return 'Member must not be null';
    case 'too_small':
      return issue.origin === 'number' || issue.origin === 'int' || issue.origin === 'bigint'
        ? `Member must have value greater than or equal to ${String(issue.minimum)}`
        : `Member must have length greater than or equal to ${String(issue.minimum)}`;
    case 'too_big':
      return issue.origin === 'number' || issue.origin === 'int' || issue.origin === 'bigint'
        ? `Member must have value less than or equal to ${String(issue.maximum)}`
        : `Member must have length less than or equal to ${String(issue.maximum)}`;
    case 'invalid_value':
      return `Member must satisfy enum value set: [${issue.values.map(String).join(', ')}]`;
    case 'invalid_format':
      return issue.format === 'regex' && 'pattern' in issue
        ? `Member must satisfy regular expression pattern: ${String(issue.pattern)}`
        : `Member must satisfy format ${issue.format}`;
    default:
      return issue.message;
  }
}
