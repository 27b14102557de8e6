// Calls keybridge's admin API (X-Amz-Target: KeybridgeAdmin.<Operation>) with the same endpoint,
// region and credentials the CLI's KMS client resolved, signed with SigV4 for service `kms`
// exactly as the SDK signs KMS calls. Errors come back as KMSServiceException, so the dispatcher
// reports them like any KMS error.

import { KMSServiceException } from '@aws-sdk/client-kms';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import type { CommandContext } from './command.js';

export async function adminCall<T = Record<string, unknown>>(ctx: CommandContext, operation: string, input: Record<string, unknown>): Promise<T> {
  const kms = ctx.kms();
  const config = kms.config;
  const endpoint = await config.endpoint!();
  const region = await config.region();
  const credentials = await config.credentials();
  const body = JSON.stringify(input);
  const host = endpoint.port ? `${endpoint.hostname}:${endpoint.port}` : endpoint.hostname;
  const path = endpoint.path && endpoint.path !== '' ? endpoint.path : '/';
  const signer = new SignatureV4({ service: 'kms', region, credentials, sha256: Hash.bind(null, 'sha256') });
  const signed = await signer.sign({
    method: 'POST',
    protocol: endpoint.protocol,
    hostname: endpoint.hostname,
    ...(endpoint.port ? { port: endpoint.port } : {}),
    path,
    headers: {
      host,
      'content-type': 'application/x-amz-json-1.1',
      'x-amz-target': `KeybridgeAdmin.${operation}`,
    },
    body,
  });
  const response = await fetch(`${endpoint.protocol}//${host}${path}`, { method: 'POST', headers: signed.headers, body });
  const text = await response.text();
  let json: Record<string, unknown> = {};
  if (text.trim() !== '') {
    try {
      json = JSON.parse(text) as Record<string, unknown>;
    } catch {
      throw new Error(`the admin API answered HTTP ${response.status} with a body that is not JSON`);
    }
  }
  if (!response.ok) {
    const type = String(json.__type ?? `HTTP${response.status}`);
    throw new KMSServiceException({
      name: type.includes('#') ? type.slice(type.indexOf('#') + 1) : type,
      $fault: response.status >= 500 ? 'server' : 'client',
      $metadata: { httpStatusCode: response.status },
      message: String(json.message ?? json.Message ?? ''),
    });
  }
  return json as T;
}
