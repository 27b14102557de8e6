// keybridge as AWS KMS: the client of an external key store proxy (XKS Proxy API spec v1.0.3).
// POST with a JSON body to {uriEndpoint}{uriPath}/health or …/keys/{externalKeyId}/metadata|encrypt|decrypt,
// signed with SigV4 (service `kms-xks-proxy`, the calling KMS's region, SignedHeaders=host;x-amz-date
// as the spec's Appendix A shows), over HTTPS with a keep-alive agent, every call within its
// timeout (AWS KMS: 250 ms). Answers are validated strictly; an Encrypt's ciphertext data
// integrity value is always requested and checked. Failures are XksProxyError of one kind.

import { isIP } from 'node:net';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import { ciphertextDataIntegrityValue } from '../xks/integrity.js';
import { XksProxyError } from './proxy-error.js';
import { invalidResponse, readDecrypt, readEncrypt, readHealth, readKeyMetadata, successBody, type XksHealth, type XksKeyMetadata } from './responses.js';
import { Transport, type Target } from './transport.js';

export { XksProxyError, type XksFailureKind } from './proxy-error.js';
export type { XksHealth, XksKeyMetadata } from './responses.js';

export interface XksProxyEndpoint {
  /** https://host (AWS: no port); tests may use https://127.0.0.1:PORT or, with allowPlainHttp, http://127.0.0.1:PORT */
  readonly uriEndpoint: string;
  /** [/prefix]/kms/xks/v1 */
  readonly uriPath: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** SigV4 region (the calling KMS's region) */
  readonly region: string;
}

export interface XksProxyClientOptions {
  /** Per call, like AWS KMS's 250 ms. */
  readonly timeoutMs: number;
  /** Extra trusted CA certificates (PEM) besides Node's default roots. */
  readonly ca?: Buffer | string;
  /** Allow http:// endpoints (tests on loopback only; refuse otherwise). */
  readonly allowPlainHttp?: boolean;
}

export type RequestMetadata = {
  kmsRequestId: string;
  kmsOperation: string;
  awsPrincipalArn?: string;
  kmsKeyArn?: string;
  awsSourceVpc?: string;
  awsSourceVpce?: string;
  kmsViaService?: string;
};

export interface XksEncrypted {
  ciphertext: Buffer;
  iv: Buffer;
  tag: Buffer;
  ciphertextMetadata?: Buffer;
}

/** What encrypt resolves to: an XksEncrypted whose ciphertextMetadata member is always present (undefined when the proxy sent none). */
export type XksSealed = XksEncrypted & { ciphertextMetadata: Buffer | undefined };

export const XKS_PROXY_SERVICE = 'kms-xks-proxy';
const METADATA_MEMBERS = ['awsPrincipalArn', 'awsSourceVpc', 'awsSourceVpce', 'kmsKeyArn', 'kmsOperation', 'kmsRequestId', 'kmsViaService'] as const;
const TAG_BYTES = 16;
const MAX_CIPHERTEXT_METADATA = 20;

type Operation = 'GetHealthStatus' | 'GetKeyMetadata' | 'Encrypt' | 'Decrypt';

export class XksProxyClient {
  readonly #timeoutMs: number;
  readonly #basePath: string;
  readonly #target: Target | undefined;
  /** Why no call can be made (an endpoint that is no URL, or plain HTTP not allowed). */
  readonly #refusal: XksProxyError | undefined;
  readonly #transport: Transport | undefined;
  readonly #signer: SignatureV4;
  #closed = false;

  constructor(endpoint: XksProxyEndpoint, options: XksProxyClientOptions) {
    this.#timeoutMs = options.timeoutMs;
    this.#basePath = endpoint.uriPath.replace(/\/+$/, '');
    this.#signer = new SignatureV4({
      credentials: { accessKeyId: endpoint.accessKeyId, secretAccessKey: endpoint.secretAccessKey },
      region: endpoint.region,
      service: XKS_PROXY_SERVICE,
      sha256: Hash.bind(null, 'sha256'),
      applyChecksum: false,
      uriEscapePath: true,
    });
    // The constructor never throws: an unusable endpoint fails each call with its kind.
    const target = targetOf(endpoint.uriEndpoint, options.allowPlainHttp === true);
    if (target instanceof XksProxyError) {
      this.#refusal = target;
      return;
    }
    this.#target = target;
    this.#transport = new Transport(target, { ca: options.ca });
  }

  health(md: RequestMetadata): Promise<XksHealth> {
    // GetHealthStatus carries only kmsRequestId and kmsOperation (spec).
    const body = { requestMetadata: { kmsRequestId: md.kmsRequestId, kmsOperation: md.kmsOperation } };
    return this.#call('GetHealthStatus', '/health', body, readHealth);
  }

  getKeyMetadata(externalKeyId: string, md: RequestMetadata): Promise<XksKeyMetadata> {
    return this.#call('GetKeyMetadata', keyPath(externalKeyId, 'metadata'), { requestMetadata: metadataOf(md) }, readKeyMetadata);
  }

  async encrypt(externalKeyId: string, input: { plaintext: Buffer; aad?: Buffer; requestMetadata: RequestMetadata }): Promise<XksSealed> {
    const aad = input.aad !== undefined && input.aad.length > 0 ? input.aad : undefined;
    const body = {
      requestMetadata: metadataOf(input.requestMetadata),
      plaintext: input.plaintext.toString('base64'),
      encryptionAlgorithm: 'AES_GCM',
      ...(aad === undefined ? {} : { additionalAuthenticatedData: aad.toString('base64') }),
      ciphertextDataIntegrityValueAlgorithm: 'SHA_256',
    };
    const plaintextLength = input.plaintext.length;
    return this.#call('Encrypt', keyPath(externalKeyId, 'encrypt'), body, (json, what) => {
      const answer = readEncrypt(json, what);
      if (answer.ciphertext.length !== plaintextLength) {
        throw invalidResponse(what, `the ciphertext is ${answer.ciphertext.length} bytes for ${plaintextLength} bytes of plaintext.`, 200);
      }
      if (answer.iv.length !== 12 && answer.iv.length !== 16) throw invalidResponse(what, `the initialization vector is ${answer.iv.length} bytes, not 12 or 16.`, 200);
      if (answer.tag.length !== TAG_BYTES) throw invalidResponse(what, `the authentication tag is ${answer.tag.length} bytes, not ${TAG_BYTES}.`, 200);
      if (answer.ciphertextMetadata !== undefined && answer.ciphertextMetadata.length > MAX_CIPHERTEXT_METADATA) {
        throw invalidResponse(what, `ciphertextMetadata is ${answer.ciphertextMetadata.length} bytes, more than ${MAX_CIPHERTEXT_METADATA}.`, 200);
      }
      const metadata = answer.ciphertextMetadata !== undefined && answer.ciphertextMetadata.length > 0 ? answer.ciphertextMetadata : undefined;
      const expected = Buffer.from(
        ciphertextDataIntegrityValue({ aad, ciphertextMetadata: metadata, iv: answer.iv, ciphertext: answer.ciphertext, tag: answer.tag }),
        'base64',
      );
      if (!expected.equals(answer.cdiv)) throw invalidResponse(what, 'the ciphertext data integrity value does not match the ciphertext.', 200);
      return { ciphertext: answer.ciphertext, iv: answer.iv, tag: answer.tag, ciphertextMetadata: metadata };
    });
  }

  async decrypt(externalKeyId: string, input: XksEncrypted & { aad?: Buffer; requestMetadata: RequestMetadata }): Promise<Buffer> {
    const body = {
      requestMetadata: metadataOf(input.requestMetadata),
      ciphertext: input.ciphertext.toString('base64'),
      encryptionAlgorithm: 'AES_GCM',
      initializationVector: input.iv.toString('base64'),
      authenticationTag: input.tag.toString('base64'),
      ...(input.aad !== undefined && input.aad.length > 0 ? { additionalAuthenticatedData: input.aad.toString('base64') } : {}),
      ...(input.ciphertextMetadata !== undefined && input.ciphertextMetadata.length > 0 ? { ciphertextMetadata: input.ciphertextMetadata.toString('base64') } : {}),
    };
    const ciphertextLength = input.ciphertext.length;
    return this.#call('Decrypt', keyPath(externalKeyId, 'decrypt'), body, (json, what) => {
      const plaintext = readDecrypt(json, what);
      if (plaintext.length !== ciphertextLength) {
        plaintext.fill(0);
        throw invalidResponse(what, `the plaintext is not as long as the ${ciphertextLength} bytes of ciphertext.`, 200);
      }
      return plaintext;
    });
  }

  /** Closes the keep-alive agent; later calls fail (NOT_REACHABLE). */
  close(): void {
    this.#closed = true;
    this.#transport?.close();
  }

  async #call<T>(operation: Operation, path: string, body: unknown, read: (json: Record<string, unknown>, what: string) => T): Promise<T> {
    const deadline = Date.now() + this.#timeoutMs;
    const fullPath = `${this.#basePath}${path}`;
    const what = `XKS ${operation} ${this.#target ? `${this.#target.protocol}//${this.#target.host}` : '(no endpoint)'}${fullPath}`;
    if (this.#refusal !== undefined) throw this.#refusal;
    if (this.#closed || this.#transport === undefined || this.#target === undefined) {
      throw new XksProxyError('NOT_REACHABLE', `${what}: the client is closed.`);
    }
    const payload = Buffer.from(JSON.stringify(body), 'utf8');
    const target = this.#target;
    // Only host and x-amz-date are signed, as AWS KMS does; the signer adds x-amz-date and authorization.
    const signed = await this.#signer.sign({
      method: 'POST',
      protocol: target.protocol,
      hostname: target.hostname,
      port: target.port,
      path: fullPath,
      headers: { host: target.host },
      query: {},
      body: payload,
    });
    const headers: Record<string, string> = {
      ...(signed.headers as Record<string, string>),
      'content-type': 'application/json',
      'content-length': String(payload.length),
    };
    const reply = await this.#transport.post(fullPath, headers, payload, deadline, what);
    return read(successBody(reply, what), what);
  }
}

function keyPath(externalKeyId: string, operation: 'metadata' | 'encrypt' | 'decrypt'): string {
  return `/keys/${encodeURIComponent(externalKeyId)}/${operation}`;
}

/** requestMetadata with only the spec's members, absent ones left out. */
function metadataOf(md: RequestMetadata): Record<string, string> {
  const out: Record<string, string> = {};
  for (const member of METADATA_MEMBERS) {
    const value = md[member];
    if (typeof value === 'string') out[member] = value;
  }
  return out;
}

function isLoopback(hostname: string): boolean {
  const bare = hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
  if (bare === 'localhost' || bare === '::1') return true;
  return isIP(bare) === 4 && bare.startsWith('127.');
}

function targetOf(uriEndpoint: string, allowPlainHttp: boolean): Target | XksProxyError {
  let url: URL;
  try {
    url = new URL(uriEndpoint);
  } catch {
    return new XksProxyError('NOT_REACHABLE', 'The external key store proxy endpoint is not a valid URL.');
  }
  if (url.protocol === 'http:') {
    if (!allowPlainHttp) return new XksProxyError('INVALID_TLS', `${url.origin}: plain HTTP is not allowed for an external key store proxy.`);
    if (!isLoopback(url.hostname)) return new XksProxyError('INVALID_TLS', `${url.origin}: plain HTTP is allowed only on loopback.`);
  } else if (url.protocol !== 'https:') {
    return new XksProxyError('NOT_REACHABLE', `The external key store proxy endpoint's scheme ${url.protocol} is not https.`);
  }
  const protocol = url.protocol as 'https:' | 'http:';
  const port = url.port === '' ? (protocol === 'https:' ? 443 : 80) : Number(url.port);
  // URL keeps IPv6 literals bracketed; the socket wants them bare.
  const hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  return { protocol, hostname, port, host: url.host };
}
