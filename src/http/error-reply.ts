// Every failure leaves as an AWS-shaped JSON error: {"__type": "...", "message": "..."}.
// Anything that is not a KmsError is our bug or a dependency's: logged with its cause, answered as
// KMSInternalException without detail.

import type { FastifyBaseLogger, FastifyReply } from 'fastify';
import { KmsError } from '../domain/errors.js';
import { AMZ_JSON } from './amz-json.js';

export function toKmsError(err: unknown): KmsError {
  if (err instanceof KmsError) return err;
  return new KmsError('KMSInternalException', 'An internal error occurred. The request was not completed.', { cause: err });
}

export function sendError(reply: FastifyReply, err: KmsError, status = err.status): FastifyReply {
  return reply
    .code(status)
    .header('content-type', AMZ_JSON)
    .header('x-amzn-errortype', err.kmsName)
    // A Buffer keeps the Content-Type exactly AMZ_JSON (a string payload gets "; charset=utf-8").
    .send(Buffer.from(JSON.stringify({ __type: err.kmsName, message: err.message }), 'utf8'));
}

export function logError(logger: FastifyBaseLogger, err: KmsError): void {
  if (err.isServerFault) logger.error({ err: err.cause ?? err, errorCode: err.kmsName }, 'request failed');
  else if (err.cause) logger.warn({ err: err.cause, errorCode: err.kmsName }, 'request failed');
}
