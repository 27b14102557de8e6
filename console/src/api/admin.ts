// keybridge's admin operations (X-Amz-Target: KeybridgeAdmin.<Operation>) from the browser: the
// same endpoint, protocol and SigV4 signature as KMS, signed with the caller's key. The KMS client
// has no commands for them, so this signs one JSON request itself.

import { SignatureV4 } from '@smithy/signature-v4';
import type { HttpRequest } from '@smithy/types';

import { ApiError } from './errors.js';
import type { Session } from './session.js';
import { WebSha256 } from './web-sha256.js';

export async function callAdmin<Output>(session: Session, operation: string, input: Record<string, unknown> = {}): Promise<Output> {
  const url = new URL('/', window.location.origin);
  const body = JSON.stringify(input);
  const signer = new SignatureV4({ service: 'kms', region: session.region, credentials: session.credentials, sha256: WebSha256 });
  const request: HttpRequest = {
    method: 'POST',
    protocol: url.protocol,
    hostname: url.hostname,
    ...(url.port === '' ? {} : { port: Number(url.port) }),
    path: '/',
    query: {},
    headers: { host: url.host, 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': `KeybridgeAdmin.${operation}` },
    body,
  };
  const signed = await signer.sign(request);
  const headers = new Headers();
  // The browser sets Host itself; it is still part of the signature.
  for (const [name, value] of Object.entries(signed.headers)) if (name.toLowerCase() !== 'host') headers.set(name, value);
  const response = await fetch(url, { method: 'POST', headers, body, cache: 'no-store' });
  const text = await response.text();
  const parsed = text === '' ? {} : (JSON.parse(text) as Record<string, unknown>);
  if (!response.ok) {
    const type = typeof parsed['__type'] === 'string' ? parsed['__type'] : `HTTP ${response.status}`;
    const message = typeof parsed['message'] === 'string' ? parsed['message'] : typeof parsed['Message'] === 'string' ? parsed['Message'] : '';
    throw new ApiError(type.includes('#') ? type.slice(type.indexOf('#') + 1) : type, message);
  }
  return parsed as Output;
}
