// Request bodies of the proxy's four operations (spec v1.0.3), validated field by field: every
// refusal is a ValidationException naming the member. The requestMetadata is checked only for the
// members the spec REQUIRES, as strings; their contents are opaque (kmsRequestId "MUST NOT" be
// validated, unknown kmsOperation values "MUST NOT" be rejected).

import { XksError } from './errors.js';
import type { XksOperation } from './uri.js';

export interface RequestMetadata {
  readonly awsPrincipalArn?: string;
  readonly awsSourceVpc?: string;
  readonly awsSourceVpce?: string;
  readonly kmsKeyArn?: string;
  readonly kmsOperation?: string;
  readonly kmsRequestId?: string;
  readonly kmsViaService?: string;
}

export interface EncryptInput {
  readonly requestMetadata: RequestMetadata;
  readonly plaintext: Buffer;
  readonly aad: Buffer | undefined;
  readonly cdivAlgorithm: 'SHA_256' | undefined;
}

export interface DecryptInput {
  readonly requestMetadata: RequestMetadata;
  readonly ciphertext: Buffer;
  readonly iv: Buffer;
  readonly tag: Buffer;
  readonly aad: Buffer | undefined;
  readonly ciphertextMetadata: Buffer | undefined;
}

/** Sizes this proxy serves; beyond them UnsupportedOperationException, as the spec allows. */
export const LIMITS = {
  /** The spec requires 4300 (what AWS KMS sends at most); the HSM takes far more. */
  maxPlaintextBytes: 65_536,
  /** The spec requires 8192; the AAD's length prefix is 16 bits. */
  maxAadBytes: 65_535,
  /** The spec: ciphertextMetadata is at most 20 bytes. */
  maxCiphertextMetadataBytes: 20,
  /** Longest metadata string kept (ARNs are at most 2048). */
  maxMetadataString: 4096,
} as const;

const METADATA_MEMBERS = ['awsPrincipalArn', 'awsSourceVpc', 'awsSourceVpce', 'kmsKeyArn', 'kmsOperation', 'kmsRequestId', 'kmsViaService'] as const;

/** What each operation's requestMetadata must carry. */
const REQUIRED_METADATA: Readonly<Record<XksOperation, readonly (typeof METADATA_MEMBERS)[number][]>> = {
  GetKeyMetadata: ['awsPrincipalArn', 'kmsOperation', 'kmsRequestId'],
  Encrypt: ['awsPrincipalArn', 'kmsKeyArn', 'kmsOperation', 'kmsRequestId'],
  Decrypt: ['awsPrincipalArn', 'kmsKeyArn', 'kmsOperation', 'kmsRequestId'],
  GetHealthStatus: ['kmsOperation', 'kmsRequestId'],
};

function invalid(message: string): XksError {
  return new XksError('ValidationException', message);
}

/** The body as a JSON object; ValidationException otherwise. */
export function parseJsonObject(body: Buffer): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    throw invalid('The request body is not valid JSON.');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw invalid('The request body must be a JSON object.');
  return value as Record<string, unknown>;
}

export function parseRequestMetadata(body: Record<string, unknown>, operation: XksOperation): RequestMetadata {
  const raw = body['requestMetadata'];
  if (raw === undefined || raw === null) throw invalid('requestMetadata is required.');
  if (typeof raw !== 'object' || Array.isArray(raw)) throw invalid('requestMetadata must be an object.');
  const source = raw as Record<string, unknown>;
  const out: Record<string, string> = {};
  for (const member of METADATA_MEMBERS) {
    const value = source[member];
    if (value === undefined || value === null) continue;
    if (typeof value !== 'string') throw invalid(`requestMetadata.${member} must be a string.`);
    if (value.length > LIMITS.maxMetadataString) throw invalid(`requestMetadata.${member} is longer than ${LIMITS.maxMetadataString} characters.`);
    out[member] = value;
  }
  for (const member of REQUIRED_METADATA[operation]) {
    if (out[member] === undefined) throw invalid(`requestMetadata.${member} is required.`);
  }
  return out;
}

/**
 * The health check's metadata, leniently: ValidationException is not among GetHealthStatus's
 * errors, so what cannot be read is recorded as absent rather than refused.
 */
export function healthMetadata(body: Buffer): RequestMetadata {
  try {
    return parseRequestMetadata(parseJsonObject(body), 'GetHealthStatus');
  } catch {
    return {};
  }
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function base64Member(body: Record<string, unknown>, name: string, required: true, maxBytes: number): Buffer;
function base64Member(body: Record<string, unknown>, name: string, required: false, maxBytes: number): Buffer | undefined;
function base64Member(body: Record<string, unknown>, name: string, required: boolean, maxBytes: number): Buffer | undefined {
  const value = body[name];
  if (value === undefined || value === null) {
    if (required) throw invalid(`${name} is required.`);
    return undefined;
  }
  if (typeof value !== 'string') throw invalid(`${name} must be a Base64-encoded string.`);
  // Cheap bound before decoding: 4 characters per 3 bytes.
  if (value.length > Math.ceil(maxBytes / 3) * 4) {
    throw new XksError('UnsupportedOperationException', `${name} is longer than the ${maxBytes} bytes this proxy supports.`);
  }
  if (!BASE64.test(value)) throw invalid(`${name} is not valid Base64.`);
  const bytes = Buffer.from(value, 'base64');
  if (bytes.length > maxBytes) throw new XksError('UnsupportedOperationException', `${name} is longer than the ${maxBytes} bytes this proxy supports.`);
  return bytes;
}

function encryptionAlgorithm(body: Record<string, unknown>): void {
  const value = body['encryptionAlgorithm'];
  if (value === undefined || value === null) throw invalid('encryptionAlgorithm is required.');
  if (value !== 'AES_GCM') throw invalid('encryptionAlgorithm must be AES_GCM.');
}

export function parseEncrypt(body: Record<string, unknown>): EncryptInput {
  const requestMetadata = parseRequestMetadata(body, 'Encrypt');
  const plaintext = base64Member(body, 'plaintext', true, LIMITS.maxPlaintextBytes);
  encryptionAlgorithm(body);
  const aad = base64Member(body, 'additionalAuthenticatedData', false, LIMITS.maxAadBytes);
  const cdiv = body['ciphertextDataIntegrityValueAlgorithm'];
  if (cdiv !== undefined && cdiv !== null && cdiv !== 'SHA_256') throw invalid('ciphertextDataIntegrityValueAlgorithm must be SHA_256.');
  return { requestMetadata, plaintext, aad, cdivAlgorithm: cdiv === 'SHA_256' ? 'SHA_256' : undefined };
}

export function parseDecrypt(body: Record<string, unknown>): DecryptInput {
  const requestMetadata = parseRequestMetadata(body, 'Decrypt');
  const ciphertext = base64Member(body, 'ciphertext', true, LIMITS.maxPlaintextBytes);
  encryptionAlgorithm(body);
  const iv = base64Member(body, 'initializationVector', true, 64);
  if (iv.length !== 12 && iv.length !== 16) throw invalid('initializationVector must be 12 or 16 bytes.');
  const tag = base64Member(body, 'authenticationTag', true, 64);
  if (tag.length !== 16) throw invalid('authenticationTag must be 16 bytes.');
  const aad = base64Member(body, 'additionalAuthenticatedData', false, LIMITS.maxAadBytes);
  const ciphertextMetadata = base64Member(body, 'ciphertextMetadata', false, 64);
  if (ciphertextMetadata !== undefined && ciphertextMetadata.length > LIMITS.maxCiphertextMetadataBytes) {
    throw invalid(`ciphertextMetadata must be at most ${LIMITS.maxCiphertextMetadataBytes} bytes.`);
  }
  return { requestMetadata, ciphertext, iv, tag, aad, ciphertextMetadata };
}
