// The audit record of one XKS proxy call: CloudTrail-shaped like every other record in the trail,
// with the proxy's own eventSource. requestParameters carry the URI path, the external key id and
// the whole requestMetadata (who in AWS asked, for which KMS key, through which KMS operation and
// request id), so a proxy record can be matched with AWS CloudTrail's. Never plaintext, ciphertext
// or AAD: only their lengths.

import { randomUUID } from 'node:crypto';
import { EVENT_VERSION, type CloudTrailEvent, type TlsDetails } from '../audit/event.js';
import type { XksError } from './errors.js';
import type { CallFacts } from './proxy.js';
import type { ProxyPath } from './uri.js';

export const XKS_EVENT_SOURCE = 'xks-proxy.keybridge';

export interface XksCallRecord {
  readonly path: ProxyPath;
  readonly facts: CallFacts;
  /** The access key the request was signed with, once the signature verified. */
  readonly accessKeyId: string | undefined;
  readonly requestId: string;
  readonly time: Date;
  readonly region: string;
  readonly accountId: string;
  readonly sourceIp: string;
  readonly userAgent: string;
  readonly tls: TlsDetails | undefined;
  readonly error: XksError | undefined;
}

export function xksAuditEvent(call: XksCallRecord): CloudTrailEvent {
  const { facts, path } = call;
  const keyArn = facts.metadata?.kmsKeyArn;
  const keyAccount = keyArn?.startsWith('arn:') ? keyArn.split(':')[4] : undefined;
  return {
    eventVersion: EVENT_VERSION,
    // AWS KMS, signing with one of this path's credentials; the principal behind it is in requestMetadata.
    userIdentity: call.accessKeyId === undefined ? { type: 'Unknown' } : { type: 'AWSService', invokedBy: 'kms.amazonaws.com', accessKeyId: call.accessKeyId },
    eventTime: call.time.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    eventSource: XKS_EVENT_SOURCE,
    eventName: path.operation,
    awsRegion: call.region,
    sourceIPAddress: call.sourceIp,
    userAgent: call.userAgent,
    ...(call.error ? { errorCode: call.error.errorName, errorMessage: call.error.message } : {}),
    requestParameters: {
      uriPath: path.uriPath,
      ...(path.keyId === undefined ? {} : { externalKeyId: path.keyId }),
      ...(facts.metadata === undefined ? {} : { requestMetadata: facts.metadata }),
      ...facts.parameters,
    },
    responseElements: null,
    ...(facts.key === undefined
      ? {}
      : { additionalEventData: { customKeyStoreId: facts.key.customKeyStoreId ?? 'default', backingKeyId: facts.key.backingKeyId } }),
    requestID: call.requestId,
    eventID: randomUUID(),
    readOnly: true,
    ...(keyArn !== undefined && keyAccount !== undefined && /^\d{12}$/.test(keyAccount)
      ? { resources: [{ accountId: keyAccount, type: 'AWS::KMS::Key', ARN: keyArn }] }
      : {}),
    eventType: 'AwsApiCall',
    managementEvent: true,
    recipientAccountId: call.accountId,
    eventCategory: 'Management',
    ...(call.tls ? { tlsDetails: call.tls } : {}),
  };
}
