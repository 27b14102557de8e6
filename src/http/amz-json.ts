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
 * Parses the body as one JSON object. An empty body counts as `{}` (the protocol allows it).
 * `__proto__` and `constructor.prototype` keys are refused rather than merged into objects.
 */
export function parseBody(body: Buffer | undefined): Record<string, unknown> {
  if (!body || body.length === 0) return {};
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
