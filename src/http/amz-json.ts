// Reading an AWS JSON 1.1 request body: the operation name from X-Amz-Target and the JSON object.

import sjson from 'secure-json-parse';
import { KmsError } from '../domain/errors.js';

export const AMZ_JSON = 'application/x-amz-json-1.1';
const TARGET_PREFIX = 'TrentService.';
const ACCEPTED_TYPES = new Set([AMZ_JSON, 'application/x-amz-json-1.0', 'application/json']);

/** The operation name from `X-Amz-Target: TrentService.<Operation>`. */
export function operationNameOf(target: string | string[] | undefined): string {
  if (typeof target !== 'string' || !target.startsWith(TARGET_PREFIX) || target.length === TARGET_PREFIX.length) {
    throw new KmsError('UnknownOperationException', target === undefined ? 'Missing X-Amz-Target header.' : 'Unknown operation: X-Amz-Target must be TrentService.<Operation>.');
  }
  return target.slice(TARGET_PREFIX.length);
}

export function checkContentType(contentType: string | undefined): void {
  if (contentType === undefined) return;
  const type = contentType.split(';', 1)[0]!.trim().toLowerCase();
  if (!ACCEPTED_TYPES.has(type)) {
    throw new KmsError('SerializationException', `Content-Type ${type} is not supported; send ${AMZ_JSON}.`);
  }
}

/**
 * The deepest nesting any KMS request needs is 3 (GrantConstraints' maps, Tags' objects in an
 * array); 32 leaves room for any future member while keeping every walk over the parsed value
 * (validation, audit records, canonicalisation) far from the stack's limit.
 */
export const MAX_JSON_DEPTH = 32;

/**
 * Parses the body as one JSON object. An empty body counts as `{}` (the protocol allows it).
 * `__proto__` and `constructor.prototype` keys are refused rather than merged into objects.
 * Bodies nested deeper than MAX_JSON_DEPTH are refused before they are parsed.
 */
export function parseBody(body: Buffer | undefined): Record<string, unknown> {
  if (!body || body.length === 0) return {};
  const depth = nestingDepth(body, MAX_JSON_DEPTH);
  if (depth > MAX_JSON_DEPTH) {
    throw new KmsError('SerializationException', `The request body nests JSON values more than ${MAX_JSON_DEPTH} levels deep.`);
  }
  let value: unknown;
  try {
    value = sjson.parse(body.toString('utf8'), undefined, { protoAction: 'error', constructorAction: 'error' });
  } catch {
    throw new KmsError('SerializationException', 'The request body is not valid JSON.');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new KmsError('SerializationException', 'The request body must be a JSON object.');
  }
  return value as Record<string, unknown>;
}

/**
 * How deeply `[` and `{` nest in the bytes, outside JSON strings; stops counting once past
 * `limit`. One pass, no recursion, no allocation: it runs before the parser, on untrusted bytes.
 * Malformed JSON is the parser's to reject; this only bounds depth.
 */
export function nestingDepth(bytes: Buffer, limit: number): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i];
    if (inString) {
      if (c === 0x5c) i++; // backslash: the next byte is escaped (a quote or another backslash)
      else if (c === 0x22) inString = false;
      continue;
    }
    if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      depth++;
      if (depth > deepest) {
        deepest = depth;
        if (deepest > limit) return deepest;
      }
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return deepest;
}
