// What the filter form holds, and the LookupEvents request it stands for.

import { DescribeKeyCommand, type KMSClient } from '@aws-sdk/client-kms';

import { fromLocalInput, toLocalInput } from './time.js';
import type { LookupAttributeKey, LookupEventsInput } from './types.js';

export const PAGE_SIZES = [10, 25, 50] as const;
export const HOUR_MS = 3600 * 1000;

export const QUICK_RANGES: ReadonlyArray<{ readonly label: string; readonly ms: number }> = [
  { label: 'Last hour', ms: HOUR_MS },
  { label: 'Last 24 hours', ms: 24 * HOUR_MS },
  { label: 'Last 7 days', ms: 7 * 24 * HOUR_MS },
];

export interface Filters {
  /** datetime-local values; '' leaves that end open (the server's default: 90 days back, up to now). */
  readonly startTime: string;
  readonly endTime: string;
  /**
   * Set while the range is "the last N ms" (a quick button, or the default): each search then
   * looks back from the moment it runs instead of from when the button was pressed. Editing
   * either time makes the range fixed.
   */
  readonly relativeMs: number | undefined;
  readonly principal: string;
  readonly operation: string;
  readonly key: string;
  readonly outcome: '' | 'Success' | 'Error';
  readonly errorCode: string;
  readonly pageSize: number;
}

export function relativeRange(ms: number, now = Date.now()): Pick<Filters, 'startTime' | 'endTime' | 'relativeMs'> {
  return { startTime: toLocalInput(now - ms), endTime: toLocalInput(now), relativeMs: ms };
}

export function defaultFilters(now = Date.now()): Filters {
  return { ...relativeRange(24 * HOUR_MS, now), principal: '', operation: '', key: '', outcome: '', errorCode: '', pageSize: 50 };
}

/**
 * The request for the first page. A relative range sends no EndTime, so the server's clock ends it
 * and events recorded a moment ago are found even when this browser's clock runs behind.
 * ResourceName matches a key ARN or a bare key id on the server; an alias is resolved to its key
 * here (DescribeKey), as the trail records keys, never aliases.
 */
export async function lookupInputFor(filters: Filters, kms: KMSClient, now = Date.now()): Promise<LookupEventsInput> {
  const attributes: Array<{ AttributeKey: LookupAttributeKey; AttributeValue: string }> = [];
  const add = (key: LookupAttributeKey, value: string) => {
    if (value.trim() !== '') attributes.push({ AttributeKey: key, AttributeValue: value.trim() });
  };
  add('Username', filters.principal);
  add('EventName', filters.operation);
  add('ResourceName', await keyFilter(filters.key, kms));
  add('Outcome', filters.outcome);
  add('ErrorCode', filters.errorCode);

  let start: number | undefined;
  let end: number | undefined;
  if (filters.relativeMs !== undefined) {
    start = now - filters.relativeMs;
  } else {
    start = fromLocalInput(filters.startTime);
    end = fromLocalInput(filters.endTime, true);
  }
  return {
    ...(attributes.length === 0 ? {} : { LookupAttributes: attributes }),
    ...(start === undefined ? {} : { StartTime: Math.floor(start / 1000) }),
    ...(end === undefined ? {} : { EndTime: Math.floor(end / 1000) }),
    MaxResults: filters.pageSize,
  };
}

async function keyFilter(value: string, kms: KMSClient): Promise<string> {
  const key = value.trim();
  if (!key.startsWith('alias/')) return key;
  const described = await kms.send(new DescribeKeyCommand({ KeyId: key }));
  return described.KeyMetadata?.Arn ?? key;
}
