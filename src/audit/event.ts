// The CloudTrail event record keybridge writes for every KMS call, and the inputs it is built from.
//
// Field names, order and value formats follow AWS's CloudTrail record contents (event version 1.11)
// and the KMS examples in the KMS Developer Guide (ct-encrypt, ct-decrypt, ct-createkey,
// ct-delete-key, …). Key order is kept as AWS prints it so exported files read like CloudTrail's;
// the hash chain hashes canonical JSON, so order does not affect integrity.

export const EVENT_VERSION = '1.11';
export const EVENT_SOURCE = 'kms.amazonaws.com';
/** What AWS writes for its own actions in userIdentity.invokedBy, sourceIPAddress and userAgent. */
export const AWS_INTERNAL = 'AWS Internal';
/**
 * keybridge's own eventType for an intent record: written durably BEFORE a mutating call runs, so
 * no change can happen without a record even if the process dies before the outcome is written.
 * CloudTrail has no such type; export drops an intent once its outcome (the AwsApiCall record with
 * the same requestID) exists, so exported files stay CloudTrail-shaped except for changes whose
 * outcome is unknown.
 */
export const INTENT_EVENT_TYPE = 'KeybridgeIntent';

export type IdentityType = 'IAMUser' | 'Root' | 'AssumedRole' | 'AWSAccount' | 'AWSService' | 'Unknown';

export interface UserIdentity {
  readonly type?: IdentityType;
  readonly principalId?: string;
  readonly arn?: string;
  readonly accountId?: string;
  readonly accessKeyId?: string;
  readonly userName?: string;
  /** Service events only: "AWS Internal". */
  readonly invokedBy?: string;
}

export interface AuditResource {
  readonly accountId: string;
  readonly type: 'AWS::KMS::Key';
  readonly ARN: string;
}

export interface TlsDetails {
  readonly tlsVersion: string;
  readonly cipherSuite: string;
  readonly clientProvidedHostHeader?: string;
}

/** One CloudTrail record, as stored and exported. JSON-serialisable. */
export interface CloudTrailEvent {
  readonly eventVersion: string;
  readonly userIdentity: UserIdentity;
  readonly eventTime: string;
  readonly eventSource: string;
  readonly eventName: string;
  readonly awsRegion: string;
  readonly sourceIPAddress: string;
  readonly userAgent: string;
  readonly errorCode?: string;
  readonly errorMessage?: string;
  readonly requestParameters: Record<string, unknown> | null;
  readonly responseElements: Record<string, unknown> | null;
  readonly additionalEventData?: Record<string, unknown>;
  /** Absent on service events, as in AWS's DeleteKey example. */
  readonly requestID?: string;
  readonly eventID: string;
  readonly readOnly: boolean;
  readonly resources?: readonly AuditResource[];
  readonly eventType: 'AwsApiCall' | 'AwsServiceEvent' | typeof INTENT_EVENT_TYPE;
  readonly managementEvent: true;
  readonly recipientAccountId: string;
  readonly eventCategory: 'Management';
  readonly tlsDetails?: TlsDetails;
}

/** The KMS key a call acted on, as far as the HTTP layer resolved it. */
export interface AuditKey {
  readonly arn: string;
  readonly accountId: string;
  /** Set for keys in a custom key store. */
  readonly customKeyStoreId?: string;
  /** The HSM object's id (CloudTrail's backingKeyId; keyMaterialId for default-store keys). */
  readonly backingKeyId?: string;
  /** The custom key store's cluster. */
  readonly clusterId?: string;
}

export interface AuditPrincipal {
  readonly arn: string;
  readonly accountId: string;
  readonly type: 'IAMUser' | 'Root' | 'AssumedRole' | 'AWSAccount' | 'AWSService';
  readonly userName?: string;
  readonly accessKeyId?: string;
  /** AWS's unique id (AIDA…, AROA…:session). Derived from the ARN when absent. */
  readonly principalId?: string;
}

/** What the HTTP layer knows about one request when it finishes (successfully or not). */
export interface ApiCallInput {
  /** When the request completed. */
  readonly time: Date;
  readonly requestId: string;
  readonly region: string;
  /** The account that owns this keybridge (recipientAccountId). */
  readonly account: string;
  /** Absent when the caller was not authenticated. */
  readonly principal?: AuditPrincipal;
  /** The access key id the request claimed, for calls whose signature was not accepted. */
  readonly claimedAccessKeyId?: string;
  readonly sourceIp: string;
  readonly userAgent: string;
  /** The operation name (X-Amz-Target after `TrentService.`), or the raw target when unknown. */
  readonly eventName: string;
  /** The parsed JSON body, or undefined. Secrets in it are never recorded. */
  readonly request: unknown;
  /** The response body on success. Only a few management operations' responses are recorded. */
  readonly response: unknown;
  /** The wire error name (`__type`) and its client-safe message, when the call failed. */
  readonly error?: { readonly name: string; readonly message: string };
  readonly key?: AuditKey;
  /** ReEncrypt's destination key; resources then lists both keys, as AWS does. */
  readonly destinationKey?: AuditKey;
  /** For Connect/Disconnect/DeleteCustomKeyStore: additionalEventData {customKeyStoreName, clusterId}. */
  readonly customKeyStore?: { readonly name: string; readonly clusterId: string };
  readonly tls?: TlsDetails;
  /** Tests pass a fixed id; otherwise a random UUID. */
  readonly eventId?: string;
}

/** A KMS-initiated event: the deletion sweeper's DeleteKey. */
export interface ServiceEventInput {
  readonly eventName: 'DeleteKey' | (string & {});
  readonly time: Date;
  readonly region: string;
  readonly key: AuditKey;
  /** For keys in a custom key store: whether the backing key was destroyed ("SUCCESS"/"FAILURE"/…). */
  readonly backingKeyDeletionStatus?: string;
  readonly eventId?: string;
}
