// The wire under the XKS proxy client: one keep-alive agent per proxy, HTTPS (TLS 1.2+, Node's
// public roots plus an optional private CA) or, for loopback tests only, plain HTTP. Every call has
// one deadline covering DNS, connect, TLS and the whole response; failures are classified the way
// AWS KMS reports an external key store's connection problems.

import { Agent as HttpAgent, request as httpRequest, type ClientRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import { rootCertificates } from 'node:tls';
import { XksProxyError } from './proxy-error.js';

/** Larger answers are no XKS answer (the biggest, a decrypt, is a few KiB). */
export const MAX_RESPONSE_BYTES = 1024 * 1024;
/** Sockets per proxy; AWS's default XKS quota is 1800 TPS, at a few ms per call. */
const MAX_SOCKETS = 64;
/** An idle pooled socket is closed after this long. */
const IDLE_SOCKET_MS = 30_000;

export interface Target {
  readonly protocol: 'https:' | 'http:';
  readonly hostname: string;
  readonly port: number;
  /** The Host header (and SigV4's host): hostname[:port]. */
  readonly host: string;
}

export interface RawReply {
  readonly status: number;
  readonly contentType: string | undefined;
  readonly body: Buffer;
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'EAI_NONAME', 'EAI_NODATA', 'ECONNRESET', 'ECONNABORTED',
  'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENETDOWN', 'EPIPE', 'ETIMEDOUT', 'EADDRNOTAVAIL',
]);

const TLS_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_GET_CRL',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE', 'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN',
  'HOSTNAME_MISMATCH', 'INVALID_CA', 'PATH_LENGTH_EXCEEDED', 'INVALID_PURPOSE', 'ERROR_IN_CERT_NOT_BEFORE_FIELD',
  'ERROR_IN_CERT_NOT_AFTER_FIELD', 'EPROTO',
]);

function codeOf(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : '';
}

export function isTlsFailure(err: unknown): boolean {
  const code = codeOf(err);
  return code.startsWith('ERR_TLS_') || code.startsWith('ERR_SSL_') || code.startsWith('CERT_') || TLS_CODES.has(code);
}

/**
 * What a socket or request error means. `handshaking`: the TCP connection was up but TLS was not
 * yet established, so a reset there is the TLS handshake failing (e.g. the proxy refused us).
 */
export function classify(err: unknown, what: string, handshaking: boolean): XksProxyError {
  if (err instanceof XksProxyError) return err;
  const code = codeOf(err);
  const detail = code === '' ? (err instanceof Error ? err.message : 'unknown error') : code;
  if (isTlsFailure(err)) return new XksProxyError('INVALID_TLS', `${what}: TLS connection failed (${detail}).`, { cause: err });
  if (handshaking) return new XksProxyError('INVALID_TLS', `${what}: the connection closed during the TLS handshake (${detail}).`, { cause: err });
  if (code.startsWith('HPE_')) return new XksProxyError('INVALID_RESPONSE', `${what}: the answer is not valid HTTP (${code}).`, { cause: err });
  if (NETWORK_CODES.has(code)) return new XksProxyError('NOT_REACHABLE', `${what}: the proxy cannot be reached (${code}).`, { cause: err });
  return new XksProxyError('NOT_REACHABLE', `${what}: the connection failed (${detail}).`, { cause: err });
}

type Attempt = { readonly ok: true; readonly reply: RawReply } | { readonly ok: false; readonly error: XksProxyError; readonly retryable: boolean };

export class Transport {
  readonly #target: Target;
  readonly #agent: HttpAgent | HttpsAgent;
  readonly #request: (options: RequestOptions, callback: (res: IncomingMessage) => void) => ClientRequest;

  constructor(target: Target, options: { readonly ca?: Buffer | string | undefined }) {
    this.#target = target;
    if (target.protocol === 'https:') {
      this.#agent = new HttpsAgent({
        keepAlive: true,
        maxSockets: MAX_SOCKETS,
        timeout: IDLE_SOCKET_MS,
        minVersion: 'TLSv1.2',
        rejectUnauthorized: true,
        ...(options.ca === undefined ? {} : { ca: [...rootCertificates, options.ca] }),
      });
      this.#request = httpsRequest;
    } else {
      this.#agent = new HttpAgent({ keepAlive: true, maxSockets: MAX_SOCKETS, timeout: IDLE_SOCKET_MS });
      this.#request = httpRequest;
    }
  }

  /**
   * POSTs `body` to `path` and reads the whole answer by `deadline` (epoch ms). A request that hit
   * a pooled socket the proxy had already closed is sent once more on a fresh one.
   */
  async post(path: string, headers: Record<string, string>, body: Buffer, deadline: number, what: string): Promise<RawReply> {
    for (let tries = 0; ; tries++) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw timedOut(what);
      const result = await this.#attempt(path, headers, body, remaining, what);
      if (result.ok) return result.reply;
      if (!result.retryable || tries > 0) throw result.error;
    }
  }

  close(): void {
    this.#agent.destroy();
  }

  #attempt(path: string, headers: Record<string, string>, body: Buffer, timeoutMs: number, what: string): Promise<Attempt> {
    const target = this.#target;
    return new Promise<Attempt>((resolve) => {
      let settled = false;
      let answered = false;
      let handshaking = false;
      const finish = (result: Attempt): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(result);
      };
      const fail = (error: XksProxyError, retryable = false): void => finish({ ok: false, error, retryable });

      const req = this.#request(
        {
          agent: this.#agent,
          protocol: target.protocol,
          hostname: target.hostname,
          port: target.port,
          method: 'POST',
          path,
          headers,
          // SNI and the certificate check name the host; RFC 6066 allows no IP addresses in SNI.
          ...(target.protocol === 'https:' && isIP(target.hostname) === 0 ? { servername: target.hostname } : {}),
        },
        (res) => {
          answered = true;
          const status = res.statusCode ?? 0;
          const declared = Number(res.headers['content-length']);
          if (Number.isFinite(declared) && declared > MAX_RESPONSE_BYTES) {
            fail(tooLarge(what, status));
            req.destroy();
            return;
          }
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_RESPONSE_BYTES) {
              fail(tooLarge(what, status));
              req.destroy();
              return;
            }
            chunks.push(chunk);
          });
          res.on('end', () => {
            const type = res.headers['content-type'];
            finish({ ok: true, reply: { status, contentType: typeof type === 'string' ? type : undefined, body: Buffer.concat(chunks) } });
          });
          res.on('error', (err) => fail(classify(err, what, false)));
          res.on('close', () => {
            if (!res.complete) fail(new XksProxyError('NOT_REACHABLE', `${what}: the connection closed before the answer was complete.`, { status }));
          });
        },
      );

      const timer = setTimeout(() => {
        fail(timedOut(what));
        req.destroy();
      }, timeoutMs);

      req.on('socket', (socket) => {
        // A pooled socket is connected already; a new TLS socket is handshaking from TCP connect to secureConnect.
        if (req.reusedSocket || target.protocol !== 'https:') return;
        socket.once('connect', () => (handshaking = true));
        socket.once('secureConnect', () => (handshaking = false));
      });
      req.on('error', (err) => {
        // Node's advice for keep-alive: a reset on a reused socket before any answer is the proxy
        // having closed an idle connection; the request never reached it.
        const retryable = req.reusedSocket && !answered && codeOf(err) === 'ECONNRESET';
        fail(classify(err, what, handshaking), retryable);
      });
      req.end(body);
    });
  }
}

function timedOut(what: string): XksProxyError {
  return new XksProxyError('TIMED_OUT', `${what}: no complete answer within the timeout.`);
}

function tooLarge(what: string, status: number): XksProxyError {
  return new XksProxyError('INVALID_RESPONSE', `${what}: the answer is larger than ${MAX_RESPONSE_BYTES} bytes.`, { status });
}
