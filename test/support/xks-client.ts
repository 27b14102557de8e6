// A client for keybridge's XKS proxy (XKS Proxy API spec v1.0.3), built the way AWS KMS calls a
// proxy: POST, JSON body, SigV4 with service `kms-xks-proxy` and SignedHeaders=host;x-amz-date
// (spec Appendix A). Every knob can be turned wrong on purpose (service, region, date, secret,
// method, raw body), so tests can send what KMS never would. Plus the KeybridgeAdmin calls that
// manage XKS credentials and keys, and the spec's CDIV (Appendix C).

import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import { rawRequest, sendHttp, type RawResponse } from './raw-request.js';
import type { TestServer } from './server.js';

export const XKS_SERVICE = 'kms-xks-proxy';

export interface XksCredential {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

/** A proxy's answer, read whole. */
export type XksResponse = RawResponse;

export interface XksSendOptions {
  readonly method?: string;
  /** An object is sent as JSON; a string or Buffer as is. */
  readonly body?: unknown;
  /** null or undefined: unsigned. */
  readonly credential?: XksCredential | null;
  readonly service?: string;
  readonly region?: string;
  readonly signingDate?: Date;
  readonly headers?: Record<string, string>;
  /** Replaces the body after signing (the signature then covers another payload). */
  readonly bodyAfterSigning?: string;
}

function bodyBytes(body: unknown): Buffer {
  if (body === undefined) return Buffer.alloc(0);
  if (Buffer.isBuffer(body)) return body;
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  return Buffer.from(JSON.stringify(body), 'utf8');
}

/** Sends one request to `baseUrl` + `path` (the full URI path, e.g. /p/kms/xks/v1/health). */
export async function xksSend(baseUrl: string, path: string, options: XksSendOptions): Promise<XksResponse> {
  const url = new URL(baseUrl);
  const method = options.method ?? 'POST';
  let body = bodyBytes(options.body);
  let headers: Record<string, string> = {
    host: url.host,
    ...(method === 'POST' ? { 'content-type': 'application/json' } : {}),
    ...options.headers,
  };
  if (options.credential) {
    const signer = new SignatureV4({
      credentials: options.credential,
      region: options.region ?? 'us-east-1',
      service: options.service ?? XKS_SERVICE,
      sha256: Hash.bind(null, 'sha256'),
      applyChecksum: false,
      uriEscapePath: true,
    });
    // Only host and x-amz-date are signed, as KMS does (spec Appendix A).
    const unsignable = new Set(Object.keys(headers).map((h) => h.toLowerCase()).filter((h) => h !== 'host' && h !== 'x-amz-date'));
    const signed = await signer.sign(
      { method, protocol: url.protocol, hostname: url.hostname, port: Number(url.port), path, headers, body, query: {} },
      { ...(options.signingDate ? { signingDate: options.signingDate } : {}), unsignableHeaders: unsignable },
    );
    headers = signed.headers as Record<string, string>;
  }
  if (options.bodyAfterSigning !== undefined) body = Buffer.from(options.bodyAfterSigning, 'utf8');
  return sendHttp(url, method, path, headers, body);
}

export type XksOp = 'metadata' | 'encrypt' | 'decrypt';

/** requestMetadata as KMS sends it for an operation on a key (spec: GetKeyMetadata/Encrypt/Decrypt). */
export function keyRequestMetadata(kmsOperation: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    awsPrincipalArn: 'arn:aws:iam::123456789012:user/Alice',
    kmsKeyArn: 'arn:aws:kms:us-east-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab',
    kmsOperation,
    kmsRequestId: randomUUID(),
    kmsViaService: 'ebs',
    ...extra,
  };
}

/** requestMetadata of a GetHealthStatus call: only kmsRequestId and kmsOperation. */
export function healthRequestMetadata(kmsOperation = 'KmsHealthCheck'): Record<string, unknown> {
  return { kmsRequestId: randomUUID(), kmsOperation };
}

/** One uriPath of the proxy, called with one credential. */
export class XksClient {
  constructor(
    readonly baseUrl: string,
    readonly uriPath: string,
    readonly credential: XksCredential | null,
    readonly region: string,
  ) {}

  with(changes: { credential?: XksCredential | null; uriPath?: string; region?: string }): XksClient {
    return new XksClient(
      this.baseUrl,
      changes.uriPath ?? this.uriPath,
      changes.credential === undefined ? this.credential : changes.credential,
      changes.region ?? this.region,
    );
  }

  keyPath(keyId: string, op: XksOp | string): string {
    return `${this.uriPath}/keys/${keyId}/${op}`;
  }

  /** POST (by default) to `path` under the uriPath, e.g. '/health' or '/keys/k/encrypt'. */
  send(path: string, options: XksSendOptions = {}): Promise<XksResponse> {
    return xksSend(this.baseUrl, `${this.uriPath}${path}`, { credential: this.credential, region: this.region, ...options });
  }

  metadata(keyId: string, body: unknown = { requestMetadata: keyRequestMetadata('DescribeKey') }, options: XksSendOptions = {}): Promise<XksResponse> {
    return this.send(`/keys/${keyId}/metadata`, { body, ...options });
  }

  /** Encrypt with the given fields; requestMetadata and encryptionAlgorithm are filled in unless given. */
  encrypt(keyId: string, fields: Record<string, unknown>, options: XksSendOptions = {}): Promise<XksResponse> {
    const body = { requestMetadata: keyRequestMetadata('Encrypt'), encryptionAlgorithm: 'AES_GCM', ...fields };
    return this.send(`/keys/${keyId}/encrypt`, { body, ...options });
  }

  decrypt(keyId: string, fields: Record<string, unknown>, options: XksSendOptions = {}): Promise<XksResponse> {
    const body = { requestMetadata: keyRequestMetadata('Decrypt'), encryptionAlgorithm: 'AES_GCM', ...fields };
    return this.send(`/keys/${keyId}/decrypt`, { body, ...options });
  }

  health(body: unknown = { requestMetadata: healthRequestMetadata() }, options: XksSendOptions = {}): Promise<XksResponse> {
    return this.send('/health', { body, ...options });
  }
}

/** Asserts an XKS error reply (spec "Error codes"): status, JSON errorName, printable message < 512. */
export function assertXksError(res: XksResponse, status: number, errorName: string, what = ''): void {
  const where = `${what ? `${what}: ` : ''}HTTP ${res.status} ${res.body.slice(0, 300)}`;
  assert.equal(res.status, status, where);
  assert.ok(res.json && typeof res.json === 'object', `error body is not JSON: ${where}`);
  assert.equal(res.json.errorName, errorName, where);
  if (res.json.errorMessage !== undefined) {
    assert.equal(typeof res.json.errorMessage, 'string', where);
    assert.ok(res.json.errorMessage.length < 512, `errorMessage of ${res.json.errorMessage.length} chars: ${where}`);
    assert.match(res.json.errorMessage, /^[\x20-\x7e]*$/, `errorMessage is not printable ASCII: ${where}`);
  }
  assert.match(String(res.headers['content-type'] ?? ''), /^application\/json\b/, `content-type of ${where}`);
}

export function assertOk(res: XksResponse, what = ''): any {
  assert.equal(res.status, 200, `${what ? `${what}: ` : ''}HTTP ${res.status} ${res.body.slice(0, 300)}`);
  assert.match(String(res.headers['content-type'] ?? ''), /^application\/json\b/, `content-type of ${what}`);
  return res.json;
}

/** Strict base64 decode: fails the test on anything that is not canonical base64. */
export function b64(text: unknown, what = 'value'): Buffer {
  assert.equal(typeof text, 'string', `${what} is not a string`);
  assert.match(text as string, /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/, `${what} is not base64: ${text}`);
  return Buffer.from(text as string, 'base64');
}

/** Spec Appendix C: base64(SHA-256(aad ‖ ciphertextMetadata ‖ iv ‖ ciphertext ‖ tag)), absent parts empty. */
export function cdivOf(parts: { aad?: Buffer; metadata?: Buffer; iv: Buffer; ciphertext: Buffer; tag: Buffer }): string {
  return createHash('sha256')
    .update(Buffer.concat([parts.aad ?? Buffer.alloc(0), parts.metadata ?? Buffer.alloc(0), parts.iv, parts.ciphertext, parts.tag]))
    .digest('base64');
}

// ---- KeybridgeAdmin (existing KMS listener, SigV4 'kms', operator credentials) ---------------------

export function xksAdmin(server: Pick<TestServer, 'url' | 'region' | 'credentials'>, operation: string, body: Record<string, unknown>): Promise<RawResponse> {
  return rawRequest(server, { target: `KeybridgeAdmin.${operation}`, body: JSON.stringify(body) });
}

async function adminOk(server: TestServer, operation: string, body: Record<string, unknown>): Promise<any> {
  const res = await xksAdmin(server, operation, body);
  assert.equal(res.status, 200, `${operation}: HTTP ${res.status} ${res.body}`);
  return res.json;
}

export interface CreatedXksCredential extends XksCredential {
  readonly uriPath: string;
  readonly creationDate: number;
}

export async function createXksCredential(server: TestServer, uriPath: string): Promise<CreatedXksCredential> {
  const out = await adminOk(server, 'CreateXksCredential', { UriPath: uriPath });
  return { accessKeyId: out.AccessKeyId, secretAccessKey: out.RawSecretAccessKey, uriPath: out.UriPath, creationDate: out.CreationDate };
}

export async function deleteXksCredential(server: TestServer, accessKeyId: string): Promise<void> {
  await adminOk(server, 'DeleteXksCredential', { AccessKeyId: accessKeyId });
}

export interface XksKeyView {
  readonly XksKeyId: string;
  readonly UriPath: string;
  readonly KeySpec: string;
  readonly KeyUsage: string[];
  readonly KeyStatus: 'ENABLED' | 'DISABLED';
  readonly CustomKeyStoreId?: string;
  readonly Description?: string;
  readonly CreationDate: number;
}

export async function createXksKey(
  server: TestServer,
  params: { UriPath: string; XksKeyId?: string; KeyUsage?: string[]; Description?: string; CustomKeyStoreId?: string },
): Promise<XksKeyView> {
  return (await adminOk(server, 'CreateXksKey', params)).XksKey;
}

export async function setXksKeyEnabled(server: TestServer, xksKeyId: string, enabled: boolean): Promise<XksKeyView> {
  return (await adminOk(server, enabled ? 'EnableXksKey' : 'DisableXksKey', { XksKeyId: xksKeyId })).XksKey;
}

/** Settings for startServer that turn the proxy on, plain HTTP on a free loopback port. */
export function xksProxySettings(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { xksProxy: { enabled: true, plainHttp: true, port: 0, ...extra } };
}
