// The KMS API as a fastify instance, without `listen`: tests inject into it, main.ts listens.
//
// One route, POST /, as the AWS JSON 1.1 protocol has it. Order of checks, as AWS applies them:
// body size (before reading it) → SigV4 → X-Amz-Target → Content-Type → JSON → schema → operation.
// Nothing is changed before every check has passed.

import { randomUUID } from 'node:crypto';
import Fastify, { LogController, type FastifyInstance, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { adminOperationNameOf, runAdminOperation } from '../admin/registry.js';
import type { AdminDeps } from '../admin/operation.js';
import { KmsError } from '../domain/errors.js';
import type { OperationDeps, RequestContext } from '../operations/operation.js';
import { OPERATIONS_BY_NAME } from '../operations/registry.js';
import { parseInput } from '../operations/wire.js';
import type { AccessKey } from '../ports/principals.js';
import { AMZ_JSON, checkContentType, operationNameOf, parseBody } from './amz-json.js';
import { logError, replyToClientError, sendError, toKmsError } from './error-reply.js';
import type { AuditTrail } from '../audit/audit-store.js';
import { authorizeRequest } from '../operations/authorization.js';
import { withResolvedKeys } from '../operations/key-access.js';
import { decorateForAudit, isApiCall, recordCall, recordIntent, needsIntent } from './audit-hook.js';
import { registerConsole } from './console.js';
import { type Metrics, registerMetricsRoute } from './metrics.js';
import { type RecentRequests, storeOf } from './recent-requests.js';

export interface RequestAuthenticator {
  verify(req: { method: string; path: string; query?: string; headers: Record<string, string | string[] | undefined>; body: Buffer }): Promise<AccessKey>;
}

export interface AppOptions {
  readonly deps: OperationDeps;
  readonly authenticator: RequestAuthenticator;
  readonly logger: Logger;
  /** Larger bodies are refused from Content-Length, before any byte is parsed. */
  readonly maxBodyBytes: number;
  /**
   * Answers /readyz: undefined when ready, else why not (starting, shutting down, the metadata
   * store failing, a connected custom key store without a usable member).
   */
  readonly notReadyBecause?: () => string | undefined;
  /** Prometheus /metrics; request counts by operation and outcome are recorded into it. */
  readonly metrics?: Metrics;
  /** Every API call is recorded here before its response is sent; none when absent (unit tests). */
  readonly audit?: AuditTrail;
  readonly https?: { key: Buffer; cert: Buffer };
  /** Serves X-Amz-Target: KeybridgeAdmin.* (src/admin/registry.ts) when given. */
  readonly admin?: AdminDeps;
  /** The last 15 minutes of requests, for KeybridgeAdmin.DescribeRequestMetrics (the web console's charts). */
  readonly recentRequests?: RecentRequests;
  /** Serves the web console at /console (src/http/console.ts) when given. */
  readonly console?: { readonly region: string; readonly directory?: string };
}

declare module 'fastify' {
  interface FastifyRequest {
    kmsRequestId: string;
    kmsOperation: string | undefined;
    /** The AWS error name the request ended with (metrics); undefined on success. */
    kmsErrorName: string | undefined;
  }
}

export function buildApp(options: AppOptions): FastifyInstance {
  const { deps, authenticator, logger } = options;
  const app = Fastify({
    loggerInstance: logger,
    // One line per request, written by our onResponse hook with the KMS request id and operation.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: options.maxBodyBytes,
    genReqId: () => randomUUID(),
    // Requests that arrive while closing get AWS's ServiceUnavailableException (onRequest below).
    return503OnClosing: false,
    clientErrorHandler: replyToClientError,
    ...(options.https ? { https: options.https } : {}),
  }) as unknown as FastifyInstance;

  // Take every body as raw bytes: SigV4 hashes the exact bytes, and JSON is parsed only after the
  // signature is known good.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  app.decorateRequest('kmsRequestId', '');
  app.decorateRequest('kmsOperation', undefined);
  app.decorateRequest('kmsErrorName', undefined);
  decorateForAudit(app);
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onRequest', async (request, reply) => {
    request.kmsRequestId = request.id;
    reply.header('x-amzn-requestid', request.id);
    if (closing) throw new KmsError('ServiceUnavailableException', 'keybridge is shutting down. Retry the request.');
  });
  app.addHook('onResponse', async (request, reply) => {
    request.log.info(
      { requestId: request.kmsRequestId, operation: request.kmsOperation, status: reply.statusCode, ms: Math.round(reply.elapsedTime) },
      'request',
    );
    if (request.kmsOperation !== undefined || request.kmsErrorName !== undefined) {
      options.metrics?.request(request.kmsOperation ?? 'unknown', request.kmsErrorName ?? 'Success', reply.elapsedTime / 1000);
      options.recentRequests?.record(request.kmsOperation ?? 'unknown', request.kmsErrorName ?? 'Success', reply.elapsedTime / 1000, storeOf(request.kmsKey));
    }
  });

  app.post('/', async (request, reply) => {
    const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
    const accessKey = await authenticator.verify({
      method: request.method,
      path: request.url.split('?', 1)[0]!,
      query: request.url.includes('?') ? request.url.slice(request.url.indexOf('?') + 1) : '',
      headers: request.headers,
      body,
    });
    request.kmsPrincipal = accessKey.principal;
    const adminName = adminOperationNameOf(request.headers['x-amz-target']);
    if (adminName !== undefined) {
      request.kmsOperation = `KeybridgeAdmin.${adminName.slice(0, 64)}`;
      checkContentType(request.headers['content-type']);
      const adminBody = parseBody(body);
      request.kmsBody = adminBody;
      // Admin operations change principals and access keys: their intent is recorded before they run.
      const output = await runAdminOperation(adminName, contextOf(request, accessKey), options.admin, adminBody, async () => {
        if (needsIntent(request.kmsOperation!)) await recordIntent(options.audit, deps.account, request);
      });
      await recordCall(options.audit, deps.account, request, { response: output });
      reply.code(200).header('content-type', AMZ_JSON);
      return Buffer.from(JSON.stringify(output ?? {}), 'utf8');
    }
    const name = operationNameOf(request.headers['x-amz-target']);
    const operation = OPERATIONS_BY_NAME.get(name);
    if (!operation) throw new KmsError('UnknownOperationException', `Unknown operation: ${name.slice(0, 64)}`);
    request.kmsOperation = operation.name;
    checkContentType(request.headers['content-type']);
    // Parsed (depth- and size-bounded) and validated completely before anything is looked up.
    const parsedBody = parseBody(body);
    request.kmsBody = parsedBody;
    const input = parseInput(operation.input, parsedBody);
    operation.validate?.(input);
    const ctx = contextOf(request, accessKey);
    // One decision, on the keys the operation will use: the operation gets exactly those records.
    const decision = await authorizeRequest(ctx, deps, operation.name, input as Record<string, unknown>, (key) => {
      request.kmsKey ??= key;
    });
    request.kmsKey = decision.key;
    request.kmsDestinationKey = decision.destinationKey;
    // A change is never committed without a record: its intent is durable before it runs, and
    // its outcome is recorded after (a failure to record the outcome fails the request).
    if (needsIntent(operation.name)) await recordIntent(options.audit, deps.account, request);
    const output = await operation.run(ctx, withResolvedKeys(deps, decision.keys), input);
    await recordCall(options.audit, deps.account, request, { response: output });
    reply.code(200).header('content-type', AMZ_JSON);
    // A Buffer, not a string: fastify appends "; charset=utf-8" to JSON types for string payloads,
    // and AWS sends the bare media type.
    return output === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify(output), 'utf8');
  });

  // Liveness: the process answers. Readiness: it can serve (see notReadyBecause).
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/livez', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const reason = options.notReadyBecause?.();
    return reply.code(reason === undefined ? 200 : 503).send(reason === undefined ? { status: 'ready' } : { status: 'not ready', reason });
  });

  if (options.metrics !== undefined) registerMetricsRoute(app, options.metrics);
  if (options.console !== undefined) registerConsole(app, { ...options.console, https: options.https !== undefined, logger });

  app.setErrorHandler(async (error, request, reply) => {
    let kmsError = fromFastifyError(error) ?? toKmsError(error);
    if (isApiCall(request)) {
      try {
        await recordCall(options.audit, deps.account, request, { error: kmsError });
      } catch (auditFailure) {
        kmsError = auditFailure as KmsError;
      }
    }
    request.kmsErrorName = kmsError.kmsName;
    logError(request.log, kmsError);
    return sendError(reply, kmsError);
  });
  app.setNotFoundHandler(async (request, reply) => {
    const path = request.url.split('?', 1)[0]!.slice(0, 128);
    return sendError(reply, new KmsError('UnknownOperationException', `No operation at ${request.method} ${path}; KMS requests are POST /.`), 404);
  });
  return app;
}

function contextOf(request: FastifyRequest, accessKey: AccessKey): RequestContext {
  const agent = request.headers['user-agent'];
  return {
    requestId: request.kmsRequestId,
    principal: accessKey.principal,
    sourceIp: request.ip,
    userAgent: typeof agent === 'string' ? agent : '',
    secureTransport: request.protocol === 'https',
  };
}

/** fastify's own client errors (body too large, bad framing) in AWS's shape. */
function fromFastifyError(error: unknown): KmsError | undefined {
  if (error instanceof KmsError) return error;
  const e = error as { code?: string; statusCode?: number; message?: string };
  if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return new KmsError('RequestEntityTooLargeException', 'The request body is larger than keybridge accepts.');
  }
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return new KmsError('SerializationException', `The request could not be read: ${e.code ?? 'bad request'}.`);
  }
  return undefined;
}
