// The wire shapes of KeybridgeAdmin.LookupEvents and KeybridgeAdmin.VerifyAuditTrail
// (src/admin/lookup-events.ts, src/audit/lookup.ts, src/admin/verify-audit-trail.ts).

export type LookupAttributeKey =
  | 'EventId'
  | 'EventName'
  | 'ReadOnly'
  | 'Username'
  | 'ResourceType'
  | 'ResourceName'
  | 'EventSource'
  | 'AccessKeyId'
  | 'ErrorCode'
  | 'Outcome';

export interface LookupEventsInput {
  readonly LookupAttributes?: ReadonlyArray<{ readonly AttributeKey: LookupAttributeKey; readonly AttributeValue: string }>;
  /** Epoch seconds. */
  readonly StartTime?: number;
  /** Epoch seconds. */
  readonly EndTime?: number;
  readonly MaxResults?: number;
  readonly NextToken?: string;
}

export interface LookupEvent {
  readonly EventId: string;
  readonly EventName: string;
  readonly ReadOnly: string;
  readonly AccessKeyId?: string;
  /** Epoch seconds. */
  readonly EventTime: number;
  readonly EventSource: string;
  /** userIdentity.userName, else its ARN (root, roles), else invokedBy ("AWS Internal"). */
  readonly Username?: string;
  readonly Resources: ReadonlyArray<{ readonly ResourceType: string; readonly ResourceName: string }>;
  /** The whole CloudTrail record as a JSON string. */
  readonly CloudTrailEvent: string;
}

export interface LookupEventsOutput {
  readonly Events?: LookupEvent[];
  readonly NextToken?: string;
}

export interface VerifyAuditTrailOutput {
  readonly Valid: boolean;
  /** Intact records checked (before the problem, when there is one). */
  readonly Records: number;
  /** Present only when Records > 0. */
  readonly FirstSequence?: number;
  readonly LastSequence?: number;
  readonly LastHash?: string;
  /** Records up to this seq were removed by retention. */
  readonly AnchorSequence?: number;
  readonly Digests?: {
    readonly Checked: boolean;
    readonly Count: number;
    readonly LastHeadSequence?: number;
    /** Epoch seconds. */
    readonly LastDigestTime?: number;
    readonly UnsignedRecords: number;
  };
  readonly Problems?: string[];
  readonly Problem?: { readonly Sequence: number; readonly Kind: string; readonly Detail: string };
  /** Epoch seconds. */
  readonly VerifiedAt?: number;
}

/** The stored record; every member is read defensively (older records, service events, unauthenticated callers). */
export type CloudTrailRecord = Record<string, unknown>;

export function parseRecord(event: LookupEvent): CloudTrailRecord | undefined {
  try {
    const parsed: unknown = JSON.parse(event.CloudTrailEvent);
    return typeof parsed === 'object' && parsed !== null ? (parsed as CloudTrailRecord) : undefined;
  } catch {
    return undefined;
  }
}

export function stringMember(record: CloudTrailRecord | undefined, name: string): string | undefined {
  const value = record?.[name];
  return typeof value === 'string' ? value : undefined;
}
