// One audit record per API call, written durably before the response leaves (fail closed): what
// the HTTP layer knows about a request — who (or which access key claimed to be), what, on which
// key, and how it ended — handed to the trail (src/audit).

import type { FastifyRequest } from 'fastify';

import type { AuditTrail } from '../audit/audit-store.js';
import type { ApiCallInput, AuditKey, AuditPrincipal } from '../audit/event.js';
import type { Account } from '../domain/arn.js';
import { KmsError } from '../domain/errors.js';
import type { KeyRecord } from '../domain/key.js';
import type { Principal } from '../ports/principals.js';
import { ADMIN_TARGET_PREFIX } from '../admin/registry.js';
import { needsIntent as operationNeedsIntent } from '../audit/operation-rules.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated caller (undefined until SigV4 has passed). */
    kmsPrincipal: Principal | undefined;
    /** The parsed JSON body, as sent (undefined until parsed). */
    kmsBody: unknown;
    /** The KMS key the request acted on, once authorization resolved it. */
    kmsKey: KeyRecord | undefined;
    /** ReEncrypt's destination key. */
    kmsDestinationKey: KeyRecord | undefined;
    /** Set once the request's record has been attempted: never two records for one call. */
    kmsAudited: boolean;
  }
}

export function decorateForAudit(app: { decorateRequest(name: string, value: unknown): unknown }): void {
  app.decorateRequest('kmsPrincipal', undefined);
  app.decorateRequest('kmsBody', undefined);
  app.decorateRequest('kmsKey', undefined);
  app.decorateRequest('kmsDestinationKey', undefined);
  app.decorateRequest('kmsAudited', false);
}

/** Whether the request is an API call (POST /): only those are recorded, not health probes. */
export function isApiCall(request: FastifyRequest): boolean {
  return request.method === 'POST' && request.url.split('?', 1)[0] === '/';
}

/**
 * Writes the record; throws KMSInternalException when the trail cannot take it, so the caller
 * answers with an error instead of an unrecorded success.
 */
export async function recordCall(
  trail: AuditTrail | undefined,
  account: Account,
  request: FastifyRequest,
  outcome: { response?: unknown; error?: KmsError },
): Promise<void> {
  if (trail === undefined || request.kmsAudited) return;
  request.kmsAudited = true;
  const input = callInput(account, request, outcome);
  try {
    await trail.recordApiCall(input);
  } catch (err) {
    request.log.error({ err, requestId: request.kmsRequestId }, 'the audit trail could not record a request; the request fails');
    throw new KmsError('KMSInternalException', 'The request could not be recorded in the audit trail; it has not been acknowledged.', { cause: err });
  }
}

/**
 * Whether a call changes state, so that its intent must be durable before it runs: everything
 * CloudTrail does not mark readOnly (Describe*, List*, Get*, the cryptographic operations),
 * admin operations included.
 */
export function needsIntent(eventName: string): boolean {
  return operationNeedsIntent(eventName.startsWith(ADMIN_TARGET_PREFIX) ? eventName.slice(ADMIN_TARGET_PREFIX.length) : eventName);
}

/**
 * Writes the intent record of a call that is about to change state. Throws KMSInternalException
 * when the trail cannot take it: the operation then does not run, and nothing changes.
 */
export async function recordIntent(trail: AuditTrail | undefined, account: Account, request: FastifyRequest): Promise<void> {
  if (trail === undefined) return;
  const input = callInput(account, request, {});
  try {
    await trail.recordIntent(input);
  } catch (err) {
    request.log.error({ err, requestId: request.kmsRequestId }, 'the audit trail could not record a request\'s intent; the request is refused and changes nothing');
    throw new KmsError('KMSInternalException', 'The request could not be recorded in the audit trail; nothing was changed.', { cause: err });
  }
}

function callInput(account: Account, request: FastifyRequest, outcome: { response?: unknown; error?: KmsError }): ApiCallInput {
  const agent = request.headers['user-agent'];
  const principal = request.kmsPrincipal;
  const claimed = principal === undefined ? claimedAccessKeyId(request.headers['authorization']) : undefined;
  const key = request.kmsKey === undefined ? keyFromResponse(account, outcome.response) : auditKey(request.kmsKey);
  return {
    time: new Date(),
    requestId: request.kmsRequestId,
    region: account.region,
    account: account.accountId,
    ...(principal === undefined ? {} : { principal: auditPrincipal(principal) }),
    ...(claimed === undefined ? {} : { claimedAccessKeyId: claimed }),
    sourceIp: request.ip,
    userAgent: typeof agent === 'string' ? agent : '',
    eventName: request.kmsOperation ?? targetName(request.headers['x-amz-target']),
    request: request.kmsBody,
    response: outcome.response,
    ...(outcome.error === undefined ? {} : { error: { name: outcome.error.kmsName, message: outcome.error.message } }),
    ...(key === undefined ? {} : { key }),
    ...(request.kmsDestinationKey === undefined ? {} : { destinationKey: auditKey(request.kmsDestinationKey) }),
  };
}

function auditPrincipal(principal: Principal): AuditPrincipal {
  return {
    arn: principal.arn,
    accountId: principal.accountId,
    type: principal.type,
    ...(principal.userName === undefined ? {} : { userName: principal.userName }),
    ...(principal.accessKeyId === undefined ? {} : { accessKeyId: principal.accessKeyId }),
  };
}

function auditKey(key: KeyRecord): AuditKey {
  return {
    arn: key.arn,
    accountId: key.accountId,
    backingKeyId: key.backingKeyId,
    ...(key.customKeyStoreId === null ? {} : { customKeyStoreId: key.customKeyStoreId }),
  };
}

/** CreateKey: the new key, from the response (there was no key to authorize against). */
function keyFromResponse(account: Account, response: unknown): AuditKey | undefined {
  const metadata = (response as { KeyMetadata?: { Arn?: unknown; CustomKeyStoreId?: unknown; CloudHsmClusterId?: unknown } } | undefined)?.KeyMetadata;
  if (typeof metadata?.Arn !== 'string') return undefined;
  return {
    arn: metadata.Arn,
    accountId: account.accountId,
    ...(typeof metadata.CustomKeyStoreId === 'string' ? { customKeyStoreId: metadata.CustomKeyStoreId } : {}),
    ...(typeof metadata.CloudHsmClusterId === 'string' ? { clusterId: metadata.CloudHsmClusterId } : {}),
  };
}

/** The access key id a SigV4 Authorization header claims (never the signature). */
function claimedAccessKeyId(header: string | string[] | undefined): string | undefined {
  const text = Array.isArray(header) ? header[0] : header;
  const match = /Credential=([A-Z0-9]{16,128})\//.exec(text ?? '');
  return match?.[1];
}

function targetName(target: string | string[] | undefined): string {
  const text = (Array.isArray(target) ? target[0] : target) ?? '';
  const dot = text.lastIndexOf('.');
  return (dot >= 0 ? text.slice(dot + 1) : text).slice(0, 64) || 'Unknown';
}
