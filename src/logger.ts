// The process logger. Redaction is the second line of defence: nothing in keybridge logs request
// bodies, but any field named like a secret or a payload is censored if it ever gets there.

import pino, { type Logger } from 'pino';

export const REDACT_PATHS = [
  'pin',
  '*.pin',
  'userPin',
  '*.userPin',
  'soPin',
  '*.soPin',
  'secretAccessKey',
  '*.secretAccessKey',
  'Plaintext',
  '*.Plaintext',
  'plaintext',
  '*.plaintext',
  'CiphertextBlob',
  '*.CiphertextBlob',
  'req.headers.authorization',
  'headers.authorization',
];

export function createLogger(options: { level: string; file?: string }): Logger {
  const destination = options.file ? pino.destination({ dest: options.file, mkdir: true, sync: false }) : pino.destination(1);
  return pino({ level: options.level, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, base: { service: 'keybridge' } }, destination);
}
