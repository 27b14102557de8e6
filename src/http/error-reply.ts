// Every failure leaves as an AWS-shaped JSON error: {"__type": "...", "message": "..."}.
// Anything that is not a KmsError is our bug or a dependency's: logged with its cause, answered as
// KMSInternalException without detail.

import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
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

/**
 * fastify's `clientErrorHandler`: requests Node's HTTP parser refuses before any route runs (bad
 * framing, headers over the parser's limit, a request that timed out) get AWS's error shape too,
 * instead of fastify's own `{"error","message","statusCode"}` body.
 */
export function replyToClientError(err: NodeJS.ErrnoException, socket: Socket): void {
  // The connection is gone: nobody to answer (as fastify's default handler does).
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const tooLarge = err.code === 'HPE_HEADER_OVERFLOW';
  const kmsError = tooLarge
    ? new KmsError('RequestEntityTooLargeException', 'The request headers are larger than keybridge accepts.')
    : new KmsError('SerializationException', 'The request could not be read as HTTP/1.1.');
  const status = tooLarge ? 431 : kmsError.status;
  const body = Buffer.from(JSON.stringify({ __type: kmsError.kmsName, message: kmsError.message }), 'utf8');
  if (socket.writable) {
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n` +
        `Content-Type: ${AMZ_JSON}\r\nContent-Length: ${body.length}\r\n` +
        `x-amzn-requestid: ${randomUUID()}\r\nx-amzn-errortype: ${kmsError.kmsName}\r\nConnection: close\r\n\r\n${body.toString('utf8')}`,
    );
  } else {
    socket.destroy();
  }
}
