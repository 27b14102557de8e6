// The proxy's answers (XKS Proxy API spec v1.0.3), read strictly: a 200 must be a JSON object with
// exactly the members the spec gives their types and sizes; anything else is INVALID_RESPONSE. An
// error must be the spec's {errorName, errorMessage?} with a name the spec defines.

import { XKS_ERRORS } from '../xks/errors.js';
import { XksProxyError } from './proxy-error.js';
import type { RawReply } from './transport.js';

export interface XksHealth {
  xksProxyFleetSize: number;
  xksProxyVendor: string;
  xksProxyModel: string;
  ekmVendor: string;
  ekmFleetDetails: Array<{ id: string; model: string; healthStatus: 'ACTIVE' | 'DEGRADED' | 'UNAVAILABLE' }>;
}

export interface XksKeyMetadata {
  keySpec: string;
  keyUsage: string[];
  keyStatus: string;
}

/** The members of an Encrypt answer, decoded; the CDIV still to be checked by the caller. */
export interface EncryptAnswer {
  readonly ciphertext: Buffer;
  readonly iv: Buffer;
  readonly tag: Buffer;
  readonly ciphertextMetadata: Buffer | undefined;
  readonly cdiv: Buffer;
}

const HEALTH_STATUSES = new Set(['ACTIVE', 'DEGRADED', 'UNAVAILABLE']);
const MAX_FLEET_DETAILS = 10;
const MAX_KEY_USAGES = 10;
const MAX_ERROR_MESSAGE = 511;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export function invalidResponse(what: string, problem: string, status?: number): XksProxyError {
  return new XksProxyError('INVALID_RESPONSE', `${what}: ${problem}`, status === undefined ? {} : { status });
}

function parseObject(body: Buffer): Record<string, unknown> | undefined {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

function own(body: Record<string, unknown>, name: string): unknown {
  return Object.prototype.hasOwnProperty.call(body, name) ? body[name] : undefined;
}

/**
 * The 200 answer's JSON object. Any other status is the proxy's error (PROXY_ERROR when it is one of
 * the spec's) or INVALID_RESPONSE.
 */
export function successBody(reply: RawReply, what: string): Record<string, unknown> {
  if (reply.status === 200) {
    if (!/^application\/json\s*(?:;|$)/i.test(reply.contentType ?? '')) {
      throw invalidResponse(what, `the answer's Content-Type is ${JSON.stringify((reply.contentType ?? '(none)').slice(0, 100))}, not application/json.`, 200);
    }
    const body = parseObject(reply.body);
    if (body === undefined) throw invalidResponse(what, 'the answer is not a JSON object.', 200);
    return body;
  }
  if (reply.status < 400) throw invalidResponse(what, `HTTP ${reply.status} is not an XKS proxy answer.`, reply.status);
  throw proxyError(reply, what);
}

function proxyError(reply: RawReply, what: string): XksProxyError {
  const body = parseObject(reply.body);
  const errorName = body === undefined ? undefined : own(body, 'errorName');
  if (typeof errorName !== 'string') {
    return invalidResponse(what, `HTTP ${reply.status} without an XKS error body.`, reply.status);
  }
  if (!Object.prototype.hasOwnProperty.call(XKS_ERRORS, errorName)) {
    return invalidResponse(what, `HTTP ${reply.status} with an errorName the spec does not define (${printable(errorName, 100)}).`, reply.status);
  }
  const message = own(body!, 'errorMessage');
  const errorMessage = typeof message === 'string' ? printable(message, MAX_ERROR_MESSAGE) : undefined;
  return new XksProxyError('PROXY_ERROR', `${what}: the proxy answered HTTP ${reply.status} ${errorName}${errorMessage ? `: ${errorMessage}` : '.'}`, {
    errorName,
    status: reply.status,
    ...(errorMessage === undefined ? {} : { errorMessage }),
  });
}

function printable(text: string, max: number): string {
  // eslint-disable-next-line no-control-regex
  const clean = text.replace(/[^\x20-\x7e]/g, '?');
  return clean.length > max ? `${clean.slice(0, max - 3)}...` : clean;
}

function string(body: Record<string, unknown>, name: string, what: string): string {
  const value = own(body, name);
  if (typeof value !== 'string' || value === '') throw invalidResponse(what, `${name} is missing or not a non-empty string.`, 200);
  return value;
}

function base64(body: Record<string, unknown>, name: string, what: string, required: true): Buffer;
function base64(body: Record<string, unknown>, name: string, what: string, required: false): Buffer | undefined;
function base64(body: Record<string, unknown>, name: string, what: string, required: boolean): Buffer | undefined {
  const value = own(body, name);
  if (value === undefined || value === null) {
    if (required) throw invalidResponse(what, `${name} is missing.`, 200);
    return undefined;
  }
  if (typeof value !== 'string' || !BASE64.test(value)) throw invalidResponse(what, `${name} is not a Base64 string.`, 200);
  return Buffer.from(value, 'base64');
}

export function readHealth(body: Record<string, unknown>, what: string): XksHealth {
  const fleetSize = own(body, 'xksProxyFleetSize');
  if (typeof fleetSize !== 'number' || !Number.isSafeInteger(fleetSize) || fleetSize < 1) {
    throw invalidResponse(what, 'xksProxyFleetSize is not an integer greater than 0.', 200);
  }
  const details = own(body, 'ekmFleetDetails');
  if (!Array.isArray(details) || details.length < 1 || details.length > MAX_FLEET_DETAILS) {
    throw invalidResponse(what, `ekmFleetDetails is not an array of 1 to ${MAX_FLEET_DETAILS} entries.`, 200);
  }
  const ekmFleetDetails = details.map((entry: unknown, i) => {
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) throw invalidResponse(what, `ekmFleetDetails[${i}] is not an object.`, 200);
    const e = entry as Record<string, unknown>;
    const healthStatus = own(e, 'healthStatus');
    if (typeof healthStatus !== 'string' || !HEALTH_STATUSES.has(healthStatus)) {
      throw invalidResponse(what, `ekmFleetDetails[${i}].healthStatus is not ACTIVE, DEGRADED or UNAVAILABLE.`, 200);
    }
    return {
      id: string(e, 'id', `${what} ekmFleetDetails[${i}]`),
      model: string(e, 'model', `${what} ekmFleetDetails[${i}]`),
      healthStatus: healthStatus as 'ACTIVE' | 'DEGRADED' | 'UNAVAILABLE',
    };
  });
  return {
    xksProxyFleetSize: fleetSize,
    xksProxyVendor: string(body, 'xksProxyVendor', what),
    xksProxyModel: string(body, 'xksProxyModel', what),
    ekmVendor: string(body, 'ekmVendor', what),
    ekmFleetDetails,
  };
}

export function readKeyMetadata(body: Record<string, unknown>, what: string): XksKeyMetadata {
  const usage = own(body, 'keyUsage');
  if (!Array.isArray(usage) || usage.length > MAX_KEY_USAGES || !usage.every((u: unknown) => typeof u === 'string' && u !== '')) {
    throw invalidResponse(what, `keyUsage is not an array of at most ${MAX_KEY_USAGES} strings.`, 200);
  }
  return { keySpec: string(body, 'keySpec', what), keyUsage: [...(usage as string[])], keyStatus: string(body, 'keyStatus', what) };
}

export function readEncrypt(body: Record<string, unknown>, what: string): EncryptAnswer {
  return {
    ciphertext: base64(body, 'ciphertext', what, true),
    iv: base64(body, 'initializationVector', what, true),
    tag: base64(body, 'authenticationTag', what, true),
    ciphertextMetadata: base64(body, 'ciphertextMetadata', what, false),
    cdiv: base64(body, 'ciphertextDataIntegrityValue', what, true),
  };
}

export function readDecrypt(body: Record<string, unknown>, what: string): Buffer {
  return base64(body, 'plaintext', what, true);
}
