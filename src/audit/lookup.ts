// Looking events up in the audit trail the way CloudTrail's LookupEvents does (the admin API's
// KeybridgeAdmin.LookupEvents, for operators and the web console): newest first, within a time
// range, filtered by lookup attributes, a page at a time.
//
// The trail is indexed by time only, so the filters run here over the records of the time range,
// newest first. One call reads at most SCAN_BUDGET records: when it reaches that before the page is
// full it answers what it found with a NextToken to go on from (CloudTrail too may answer a short
// page with a NextToken). Intent records (keybridge's own, written before a change runs) are not
// events CloudTrail has; the outcome record of the same request is, and that is what is returned.

import { INTENT_EVENT_TYPE } from './event.js';
import type { TailRecord } from './tail.js';

/** CloudTrail's lookup attributes, and keybridge's ErrorCode and Outcome (Success or Error). */
export const LOOKUP_ATTRIBUTE_KEYS = [
  'EventId',
  'EventName',
  'ReadOnly',
  'Username',
  'ResourceType',
  'ResourceName',
  'EventSource',
  'AccessKeyId',
  'ErrorCode',
  'Outcome',
] as const;
export type LookupAttributeKey = (typeof LOOKUP_ATTRIBUTE_KEYS)[number];

export interface LookupQuery {
  /** Every attribute must match (CloudTrail takes one; keybridge takes several, ANDed). */
  readonly attributes: ReadonlyArray<{ readonly key: LookupAttributeKey; readonly value: string }>;
  /** Epoch ms, inclusive. */
  readonly startMs: number;
  /** Epoch ms, inclusive. */
  readonly endMs: number;
  readonly maxResults: number;
  /** Go on below this seq (from a NextToken). */
  readonly beforeSeq?: number;
}

/** Where lookups read: the newest records of a time range below a seq (a trail file or PostgreSQL). */
export interface LookupSource {
  /** At most `limit` records with seq < beforeSeq (any when undefined) and event_time in [startMs, endMs], newest first. */
  newestBefore(beforeSeq: number | undefined, startMs: number, endMs: number, limit: number): Promise<TailRecord[]>;
}

export interface LookupEvent {
  readonly EventId: string;
  readonly EventName: string;
  readonly ReadOnly: string;
  readonly AccessKeyId?: string;
  /** Epoch seconds, as AWS JSON sends timestamps. */
  readonly EventTime: number;
  readonly EventSource: string;
  readonly Username?: string;
  readonly Resources: ReadonlyArray<{ readonly ResourceType: string; readonly ResourceName: string }>;
  /** The whole record, as a JSON string (as CloudTrail answers). */
  readonly CloudTrailEvent: string;
}

/** Records read per round trip, and at most per call. */
const BATCH = 500;
export const SCAN_BUDGET = 10_000;

export async function lookupEvents(source: LookupSource, query: LookupQuery): Promise<{ events: LookupEvent[]; nextBeforeSeq?: number }> {
  const events: LookupEvent[] = [];
  let before = query.beforeSeq;
  let scanned = 0;
  while (events.length < query.maxResults && scanned < SCAN_BUDGET) {
    const batch = await source.newestBefore(before, query.startMs, query.endMs, Math.min(BATCH, SCAN_BUDGET - scanned));
    if (batch.length === 0) return { events };
    for (const row of batch) {
      scanned += 1;
      before = row.seq;
      if (row.record['eventType'] !== INTENT_EVENT_TYPE && query.attributes.every((a) => matches(row.record, a.key, a.value))) {
        events.push(lookupEvent(row.record));
        if (events.length === query.maxResults) break;
      }
    }
  }
  // A full page, or the scan budget spent: there may be more below.
  return before === undefined ? { events } : { events, nextBeforeSeq: before };
}

function matches(record: Record<string, unknown>, key: LookupAttributeKey, value: string): boolean {
  const identity = (record['userIdentity'] ?? {}) as Record<string, unknown>;
  const resources = (record['resources'] ?? []) as Array<Record<string, unknown>>;
  switch (key) {
    case 'EventId':
      return record['eventID'] === value;
    case 'EventName':
      return record['eventName'] === value;
    case 'ReadOnly':
      return String(record['readOnly']) === value;
    case 'Username':
      // A user's name, or (keybridge's principals are ARNs first) its ARN or principal id.
      return [identity['userName'], identity['arn'], identity['principalId']].includes(value);
    case 'ResourceType':
      return resources.some((r) => r['type'] === value);
    case 'ResourceName':
      // A key's ARN, or its key id (the ARN's last part).
      return resources.some((r) => r['ARN'] === value || (typeof r['ARN'] === 'string' && r['ARN'].endsWith(`:key/${value}`)));
    case 'EventSource':
      return record['eventSource'] === value;
    case 'AccessKeyId':
      return identity['accessKeyId'] === value;
    case 'ErrorCode':
      return record['errorCode'] === value;
    case 'Outcome':
      return value === (record['errorCode'] === undefined ? 'Success' : 'Error');
  }
}

function lookupEvent(record: Record<string, unknown>): LookupEvent {
  const identity = (record['userIdentity'] ?? {}) as Record<string, unknown>;
  const resources = (record['resources'] ?? []) as Array<Record<string, unknown>>;
  const username = identity['userName'] ?? identity['arn'] ?? identity['invokedBy'];
  return {
    EventId: String(record['eventID']),
    EventName: String(record['eventName']),
    ReadOnly: String(record['readOnly']),
    ...(typeof identity['accessKeyId'] === 'string' ? { AccessKeyId: identity['accessKeyId'] } : {}),
    EventTime: Date.parse(String(record['eventTime'])) / 1000,
    EventSource: String(record['eventSource']),
    ...(typeof username === 'string' ? { Username: username } : {}),
    Resources: resources.map((r) => ({ ResourceType: String(r['type']), ResourceName: String(r['ARN']) })),
    CloudTrailEvent: JSON.stringify(record),
  };
}
