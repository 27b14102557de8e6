// The XKS proxy's own listener: a fastify instance beside the KMS API's, on its own port, HTTPS
// (optionally with mutual TLS) unless configured as plain HTTP for loopback tests.
//
// Order of checks, each answered with the spec's error: URI is a proxy URI (404
// InvalidUriPathException) → POST (405, Allow: POST) → SigV4 with service `kms-xks-proxy` and a
// credential of this URI path (401 AuthenticationFailedException; a signature good for a path no
// credential serves is 404 InvalidUriPathException) → the operation (proxy.ts). Every call whose
// URI is a proxy URI is recorded in the audit trail before it is answered: a call the trail
// cannot take fails (InternalException) rather than go unrecorded.

import { randomUUID } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { AuditTrail } from '../audit/audit-store.js';
import type { TlsDetails } from '../audit/event.js';
import type { SigV4Verifier } from '../auth/sigv4-verifier.js';
import type { Metrics } from '../http/metrics.js';
import { xksAuditEvent } from './audit.js';
import type { XksCredentials } from './credentials.js';
import { XksError, xksErrorBody } from './errors.js';
import type { CallFacts, XksProxy } from './proxy.js';
import { parseProxyPath, type ProxyPath } from './uri.js';

export interface XksServerOptions {
  readonly proxy: XksProxy;
  readonly credentials: XksCredentials;
  /** Service `kms-xks-proxy`, the proxy's region, over `credentials`. */
  readonly verifier: SigV4Verifier;
  readonly logger: Logger;
  readonly audit: AuditTrail | undefined;
  readonly metrics: Metrics | undefined;
  readonly region: string;
  readonly accountId: string;
  /** TLS; absent = plain HTTP (compose allows that only on loopback). */
  readonly https?: {
    readonly cert: Buffer;
    readonly key: Buffer;
    /** Mutual TLS: client certificates must chain to `ca` and name `subject` (CN or a DNS name). */
    readonly clientCertificate?: { readonly ca: Buffer; readonly subject: string };
  };
}

/** Far above what the spec's limits need (4300 bytes of plaintext, 8192 of AAD, Base64-encoded). */
const MAX_BODY_BYTES = 256 * 1024;
const JSON_TYPE = 'application/json';

declare module 'fastify' {
  interface FastifyRequest {
    xksOperation: ProxyPath['operation'] | undefined;
    xksOutcome: XksError['errorName'] | undefined;
  }
}

export function buildXksServer(options: XksServerOptions): FastifyInstance {
  const { logger } = options;
  const tls = options.https;
  const app = Fastify({
    loggerInstance: logger.child({ listener: 'xks-proxy' }),
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: MAX_BODY_BYTES,
    genReqId: () => randomUUID(),
    return503OnClosing: false,
    ...(tls
      ? {
          https: {
            cert: tls.cert,
            key: tls.key,
            minVersion: 'TLSv1.2' as const,
            ...(tls.clientCertificate ? { ca: tls.clientCertificate.ca, requestCert: true, rejectUnauthorized: true } : {}),
          },
        }
      : {}),
  }) as unknown as FastifyInstance;

  if (tls?.clientCertificate) {
    const subject = tls.clientCertificate.subject;
    // The chain is checked by TLS itself (rejectUnauthorized); the subject here, before any request is read.
    app.server.on('secureConnection', (socket: TLSSocket) => {
      if (!certificateNames(socket).includes(subject)) {
        logger.warn({ remote: socket.remoteAddress, names: certificateNames(socket) }, 'XKS proxy: client certificate does not name the configured subject; connection closed');
        socket.destroy();
      }
    });
  }

  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  app.decorateRequest('xksOperation', undefined);
  app.decorateRequest('xksOutcome', undefined);

  app.addHook('onResponse', async (request, reply) => {
    request.log.info({ requestId: request.id, operation: request.xksOperation, status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'xks request');
    options.metrics?.xksRequest(request.xksOperation ?? 'unknown', request.xksOutcome ?? 'Success', reply.elapsedTime / 1000);
  });

  app.all('*', async (request, reply) => {
    const rawPath = request.url.split('?', 1)[0]!;
    const path = parseProxyPath(rawPath);
    if (path === undefined) return fail(reply, request, new XksError('InvalidUriPathException', `${clip(rawPath)} is not an XKS proxy API URI.`));
    request.xksOperation = path.operation;
    if (request.method !== 'POST') {
      reply.header('allow', 'POST');
      return fail(reply, request, new XksError('MethodNotAllowedException', `${path.operation} accepts only POST, not ${clip(request.method)}.`));
    }
    const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
    const facts: CallFacts = {};
    let accessKeyId: string | undefined;
    let response: unknown;
    try {
      accessKeyId = await authenticate(options, request, rawPath, path, body);
      response = await options.proxy.run(path, body, facts);
    } catch (err) {
      const error = err instanceof XksError ? err : new XksError('InternalException', 'The proxy failed to perform the operation.', { cause: err });
      try {
        await record(options, request, path, facts, accessKeyId, error);
      } catch (auditErr) {
        return fail(reply, request, auditErr as XksError);
      }
      return fail(reply, request, error);
    }
    try {
      await record(options, request, path, facts, accessKeyId, undefined);
    } catch (auditErr) {
      return fail(reply, request, auditErr as XksError);
    }
    reply.code(200).header('content-type', JSON_TYPE);
    return Buffer.from(JSON.stringify(response), 'utf8');
  });

  app.setErrorHandler(async (error, request, reply) => {
    // fastify's own refusals before the handler (a body over the limit, bad framing).
    const e = error as { code?: string; statusCode?: number };
    const xks =
      error instanceof XksError
        ? error
        : e.code === 'FST_ERR_CTP_BODY_TOO_LARGE'
          ? new XksError('UnsupportedOperationException', `The request body is larger than the ${MAX_BODY_BYTES} bytes this proxy accepts.`)
          : typeof e.statusCode === 'number' && e.statusCode < 500
            ? new XksError('ValidationException', 'The request could not be read.')
            : new XksError('InternalException', 'The proxy failed to perform the operation.', { cause: error });
    return fail(reply, request, xks);
  });
  return app;
}

/** SigV4, then: is the credential one of this URI path's? Resolves the access key id. */
async function authenticate(options: XksServerOptions, request: FastifyRequest, rawPath: string, path: ProxyPath, body: Buffer): Promise<string> {
  let accessKeyId: string;
  try {
    const key = await options.verifier.verify({
      method: request.method,
      path: rawPath,
      query: request.url.includes('?') ? request.url.slice(request.url.indexOf('?') + 1) : '',
      headers: request.headers,
      body,
    });
    accessKeyId = key.accessKeyId;
  } catch (err) {
    // The verifier's message says what was wrong with the signature (never the secret).
    throw new XksError('AuthenticationFailedException', err instanceof Error ? err.message : 'The request signature is not valid.', { cause: err });
  }
  if (options.credentials.uriPathOf(accessKeyId) === path.uriPath) return accessKeyId;
  if (!options.credentials.hasPath(path.uriPath)) {
    throw new XksError('InvalidUriPathException', `No external key store is configured at ${clip(path.uriPath)}.`);
  }
  throw new XksError('AuthenticationFailedException', `The access key ${accessKeyId} is not a credential of ${clip(path.uriPath)}.`);
}

async function record(
  options: XksServerOptions,
  request: FastifyRequest,
  path: ProxyPath,
  facts: CallFacts,
  accessKeyId: string | undefined,
  error: XksError | undefined,
): Promise<void> {
  if (options.audit === undefined) return;
  const agent = request.headers['user-agent'];
  try {
    await options.audit.append(
      xksAuditEvent({
        path,
        facts,
        accessKeyId,
        requestId: request.id,
        time: new Date(),
        region: options.region,
        accountId: options.accountId,
        sourceIp: request.ip,
        userAgent: typeof agent === 'string' ? agent.slice(0, 512) : '',
        tls: tlsDetailsOf(request),
        error,
      }),
    );
  } catch (err) {
    request.log.error({ err, requestId: request.id }, 'the audit trail could not record an XKS proxy call; the call fails');
    throw new XksError('InternalException', 'The call could not be recorded in the audit trail; it has not been performed.', { cause: err });
  }
}

function fail(reply: FastifyReply, request: FastifyRequest, error: XksError): FastifyReply {
  request.xksOutcome = error.errorName;
  if (error.status >= 500) request.log.error({ err: error.cause ?? error, errorName: error.errorName }, 'xks request failed');
  else if (error.cause !== undefined && error.errorName !== 'AuthenticationFailedException') request.log.warn({ err: error.cause, errorName: error.errorName }, 'xks request failed');
  return reply.code(error.status).header('content-type', JSON_TYPE).send(Buffer.from(JSON.stringify(xksErrorBody(error)), 'utf8'));
}

function tlsDetailsOf(request: FastifyRequest): TlsDetails | undefined {
  const socket = request.raw.socket as Partial<TLSSocket>;
  if (typeof socket.getProtocol !== 'function' || typeof socket.getCipher !== 'function') return undefined;
  const host = request.headers.host;
  return {
    tlsVersion: socket.getProtocol() ?? 'unknown',
    cipherSuite: socket.getCipher().standardName ?? socket.getCipher().name,
    ...(typeof host === 'string' ? { clientProvidedHostHeader: host.slice(0, 256) } : {}),
  };
}

/** The names a client certificate carries: its subject CN and its DNS subject alternative names. */
function certificateNames(socket: TLSSocket): string[] {
  const cert = socket.getPeerCertificate();
  if (cert === null || typeof cert !== 'object' || Object.keys(cert).length === 0) return [];
  const names: string[] = [];
  const cn = cert.subject?.CN;
  if (typeof cn === 'string') names.push(cn);
  else if (Array.isArray(cn)) names.push(...(cn as string[]));
  for (const entry of (cert.subjectaltname ?? '').split(', ')) if (entry.startsWith('DNS:')) names.push(entry.slice(4));
  return names;
}

function clip(text: string): string {
  return text.length > 200 ? `${text.slice(0, 200)}...` : text;
}
