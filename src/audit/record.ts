// Builds one CloudTrail event from what the HTTP layer (or the deletion sweeper) knows.
// Pure: no I/O, no clock (the caller passes the time), a random UUID unless one is given.

import { createHash, randomUUID } from 'node:crypto';
import {
  AWS_INTERNAL, EVENT_SOURCE, EVENT_VERSION, INTENT_EVENT_TYPE,
  type ApiCallInput, type AuditKey, type AuditPrincipal, type AuditResource, type CloudTrailEvent, type ServiceEventInput,
  type UserIdentity,
} from './event.js';
import { CRYPTO_OPERATIONS, isReadOnly } from './operation-rules.js';
import { requestParameters, responseElements } from './parameters.js';

/** A request a client made: eventType AwsApiCall. Failed and unauthenticated calls included. */
export function buildApiCallEvent(input: ApiCallInput): CloudTrailEvent {
  const failed = input.error !== undefined;
  const resources = [input.key, input.destinationKey].filter((k): k is AuditKey => k !== undefined).map(resource);
  const additional = additionalEventData(input);
  return {
    eventVersion: EVENT_VERSION,
    userIdentity: input.principal ? identityOf(input.principal) : unauthenticated(input.claimedAccessKeyId),
    eventTime: eventTime(input.time),
    eventSource: EVENT_SOURCE,
    eventName: input.eventName,
    awsRegion: input.region,
    sourceIPAddress: input.sourceIp,
    userAgent: input.userAgent,
    ...(failed ? { errorCode: input.error!.name, errorMessage: input.error!.message } : {}),
    requestParameters: requestParameters(input.eventName, input.request, input.key?.arn),
    responseElements: failed ? null : responseElements(input.eventName, input.response),
    ...(additional ? { additionalEventData: additional } : {}),
    requestID: input.requestId,
    eventID: input.eventId ?? randomUUID(),
    readOnly: isReadOnly(input.eventName),
    ...(resources.length > 0 ? { resources } : {}),
    eventType: 'AwsApiCall',
    managementEvent: true,
    recipientAccountId: input.account,
    eventCategory: 'Management',
    ...(input.tls ? { tlsDetails: input.tls } : {}),
  };
}

/**
 * The intent record of a mutating call, written before it runs: the same userIdentity, eventName,
 * requestParameters, requestID and resources as the outcome record will have, eventType
 * KeybridgeIntent, no error and responseElements null (nothing has happened yet). `input.time` is
 * when the call was accepted; `input.response` and `input.error` are ignored.
 */
export function buildIntentEvent(input: ApiCallInput): CloudTrailEvent {
  const { error: _error, ...rest } = input;
  const event = buildApiCallEvent({ ...rest, response: undefined });
  return { ...event, responseElements: null, eventType: INTENT_EVENT_TYPE };
}

/**
 * The intent of an action keybridge is about to take on its own (the deletion sweeper's
 * DeleteKey), written before it acts. A service event has no requestID, so the intent names its
 * outcome by that event's eventID (additionalEventData.outcomeEventID; `input.eventId` must be
 * the id the outcome will be written with).
 */
export function buildServiceIntentEvent(input: ServiceEventInput & { readonly eventId: string }): CloudTrailEvent {
  const { backingKeyDeletionStatus: _status, ...rest } = input;
  const event = buildServiceEvent(rest);
  return {
    ...event,
    eventID: randomUUID(),
    responseElements: null,
    additionalEventData: { ...event.additionalEventData, outcomeEventID: input.eventId },
    eventType: INTENT_EVENT_TYPE,
  };
}

/**
 * An action keybridge took on its own: eventType AwsServiceEvent, shaped like AWS's DeleteKey
 * example (ct-delete-key): userIdentity {accountId, invokedBy: "AWS Internal"}, no requestID,
 * requestParameters null, and since December 2022 the key ARN in responseElements.keyId.
 */
export function buildServiceEvent(input: ServiceEventInput): CloudTrailEvent {
  const key = input.key;
  const backing = key.backingKeyId === undefined ? undefined : [{ backingKeyId: key.backingKeyId }];
  const additional =
    key.customKeyStoreId === undefined
      ? undefined
      : {
          customKeyStoreId: key.customKeyStoreId,
          ...(key.clusterId !== undefined ? { clusterId: key.clusterId } : {}),
          ...(backing ? { backingKeys: JSON.stringify(backing) } : {}),
          ...(backing && input.backingKeyDeletionStatus !== undefined
            ? { backingKeysDeletionStatus: JSON.stringify(backing.map((b) => ({ ...b, deletionStatus: input.backingKeyDeletionStatus }))) }
            : {}),
        };
  return {
    eventVersion: EVENT_VERSION,
    userIdentity: { accountId: key.accountId, invokedBy: AWS_INTERNAL },
    eventTime: eventTime(input.time),
    eventSource: EVENT_SOURCE,
    eventName: input.eventName,
    awsRegion: input.region,
    sourceIPAddress: AWS_INTERNAL,
    userAgent: AWS_INTERNAL,
    requestParameters: null,
    responseElements: { keyId: key.arn },
    ...(additional ? { additionalEventData: additional } : {}),
    eventID: input.eventId ?? randomUUID(),
    readOnly: false,
    resources: [resource(key)],
    eventType: 'AwsServiceEvent',
    managementEvent: true,
    recipientAccountId: key.accountId,
    eventCategory: 'Management',
  };
}

/** UTC, second precision: 2025-05-20T20:46:16Z. */
export function eventTime(time: Date): string {
  return time.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function resource(key: AuditKey): AuditResource {
  return { accountId: key.accountId, type: 'AWS::KMS::Key', ARN: key.arn };
}

/** AWS's field order: type, principalId, arn, accountId, accessKeyId, userName. */
function identityOf(p: AuditPrincipal): UserIdentity {
  return {
    type: p.type,
    principalId: p.principalId ?? derivePrincipalId(p),
    arn: p.arn,
    accountId: p.accountId,
    ...(p.accessKeyId !== undefined ? { accessKeyId: p.accessKeyId } : {}),
    ...(p.userName !== undefined ? { userName: p.userName } : {}),
  };
}

/**
 * A caller whose signature was not accepted (unknown access key, bad signature, expired request).
 * Nothing about it is verified, so no arn or account is claimed: type "Unknown" (a CloudTrail
 * identity type) and the access key id the request named, if it named one.
 */
function unauthenticated(claimedAccessKeyId: string | undefined): UserIdentity {
  return { type: 'Unknown', ...(claimedAccessKeyId ? { accessKeyId: claimedAccessKeyId } : {}) };
}

/**
 * AWS's principalId is an opaque unique id (AIDA… for users, AROA…:session for assumed roles,
 * the account id for root). keybridge's principals have none, so derive a stable one from the
 * ARN: the same principal always gets the same id, and it looks like AWS's (4-letter prefix +
 * 17 base32 characters).
 */
export function derivePrincipalId(p: Pick<AuditPrincipal, 'arn' | 'accountId' | 'type'>): string {
  if (p.type === 'Root' || p.type === 'AWSAccount') return p.accountId;
  if (p.type === 'AssumedRole') {
    // arn:aws:sts::111122223333:assumed-role/RoleName/SessionName → AROA…:SessionName. keybridge's
    // role principals call as the role itself (arn:aws:iam::111122223333:role/RoleName): no session.
    const [kind, role = '', session] = p.arn.split(':').slice(5).join(':').split('/');
    if (kind === 'assumed-role') return `AROA${uniqueSuffix(`role/${role}`)}:${session ?? ''}`;
    return `AROA${uniqueSuffix(`role/${role}`)}`;
  }
  return `AIDA${uniqueSuffix(p.arn)}`;
}

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function uniqueSuffix(text: string): string {
  const digest = createHash('sha256').update(text).digest();
  let out = '';
  for (let i = 0; i < 17; i++) out += BASE32[digest[i]! & 31];
  return out;
}

function additionalEventData(input: ApiCallInput): Record<string, unknown> | undefined {
  const key = input.key;
  const out: Record<string, unknown> = {};
  if (key?.customKeyStoreId !== undefined) {
    if (CRYPTO_OPERATIONS.has(input.eventName)) out.customKeyStoreId = key.customKeyStoreId;
    if (input.eventName === 'CreateKey' && key.backingKeyId !== undefined) {
      out.backingKey = JSON.stringify({ backingKeyId: key.backingKeyId });
    }
    if (input.eventName === 'ScheduleKeyDeletion') {
      out.customKeyStoreId = key.customKeyStoreId;
      if (key.clusterId !== undefined) out.clusterId = key.clusterId;
      if (key.backingKeyId !== undefined) out.backingKeys = JSON.stringify([{ backingKeyId: key.backingKeyId }]);
    }
  } else if (key?.backingKeyId !== undefined && CRYPTO_OPERATIONS.has(input.eventName)) {
    // ct-encrypt (event version 1.11): keys with AWS_KMS material report the material used.
    out.keyMaterialId = key.backingKeyId;
  }
  if (input.customKeyStore) {
    out.customKeyStoreName = input.customKeyStore.name;
    out.clusterId = input.customKeyStore.clusterId;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}
