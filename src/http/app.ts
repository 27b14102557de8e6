// The KMS API as a fastify instance, without `listen`: tests inject into it, main.ts listens.
//
// One route, POST /, as the AWS JSON 1.1 protocol has it. Order of checks, as AWS applies them:
// body size (before reading it) → SigV4 → X-Amz-Target → Content-Type → JSON → schema → operation.
// Nothing is changed before every check has passed.

import { randomUUID } from 'node:crypto';
import Fastify, { LogController, type FastifyInstance, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { KmsError } from '../domain/errors.js';
import type { OperationDeps, RequestContext } from '../operations/operation.js';
import { OPERATIONS_BY_NAME } from '../operations/registry.js';
import { parseInput } from '../operations/wire.js';
import type { AccessKey } from '../ports/principals.js';
import { AMZ_JSON, checkContentType, operationNameOf, parseBody } from './amz-json.js';
import { logError, replyToClientError, sendError, toKmsError } from './error-reply.js';
import { registerProcessMetrics } from './process-metrics.js';

export interface RequestAuthenticator {
  verify(req: { method: string; path: string; query?: string; headers: Record<string, string | string[] | undefined>; body: Buffer }): Promise<AccessKey>;
}

export interface AppOptions {
  readonly deps: OperationDeps;
  readonly authenticator: RequestAuthenticator;
  readonly logger: Logger;
  /** Larger bodies are refused from Content-Length, before any byte is parsed. */
  readonly maxBodyBytes: number;
  /** Answers /readyz; false while starting or shutting down. */
  readonly isReady?: () => boolean;
  readonly https?: { key: Buffer; cert: Buffer };
}

declare module 'fastify' {
  interface FastifyRequest {
    kmsRequestId: string;
    kmsOperation: string | undefined;
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
    const name = operationNameOf(request.headers['x-amz-target']);
    const operation = OPERATIONS_BY_NAME.get(name);
    if (!operation) throw new KmsError('UnknownOperationException', `Unknown operation: ${name.slice(0, 64)}`);
    request.kmsOperation = operation.name;
    checkContentType(request.headers['content-type']);
    const input = parseInput(operation.input, parseBody(body));
    const ctx = contextOf(request, accessKey);
    const output = await operation.run(ctx, deps, input);
    reply.code(200).header('content-type', AMZ_JSON);
    // A Buffer, not a string: fastify appends "; charset=utf-8" to JSON types for string payloads,
    // and AWS sends the bare media type.
    return output === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify(output), 'utf8');
  });

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const ready = options.isReady ? options.isReady() : true;
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready' });
  });

  registerProcessMetrics(app);

  app.setErrorHandler(async (error, request, reply) => {
    const kmsError = fromFastifyError(error) ?? toKmsError(error);
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
