import { z } from 'zod';

import { LOOKUP_ATTRIBUTE_KEYS, lookupEvents } from '../audit/lookup.js';
import { KmsError } from '../domain/errors.js';
import { defineAdminOperation } from './operation.js';

/** CloudTrail's event history keeps 90 days; so does the default retention (audit.retention.maxAgeDays). */
const DEFAULT_RANGE_MS = 90 * 24 * 3600 * 1000;
const DEFAULT_MAX_RESULTS = 50;

/** AWS JSON sends timestamps as epoch seconds; an ISO 8601 string is taken too. */
const timestamp = z.union([z.number().finite().nonnegative(), z.string().datetime({ offset: true })]);

/**
 * The audit trail's events the way CloudTrail's LookupEvents answers (for operators and the web
 * console): newest first, in [StartTime, EndTime], filtered by LookupAttributes — CloudTrail's keys
 * and keybridge's ErrorCode and Outcome (Success or Error); several attributes must all match,
 * where CloudTrail takes one. Each event carries the whole record as CloudTrailEvent. Pages of
 * MaxResults (1 to 50) with NextToken. Only the operator (root principal) may call admin
 * operations, so the trail is as private as before.
 */
export const lookupEventsOperation = defineAdminOperation({
  name: 'LookupEvents',
  input: z.object({
    LookupAttributes: z
      .array(z.object({ AttributeKey: z.enum(LOOKUP_ATTRIBUTE_KEYS), AttributeValue: z.string().min(1).max(2000) }))
      .max(LOOKUP_ATTRIBUTE_KEYS.length)
      .optional(),
    StartTime: timestamp.optional(),
    EndTime: timestamp.optional(),
    MaxResults: z.number().int().min(1).max(50).optional(),
    NextToken: z.string().min(1).max(1024).optional(),
  }),
  async run(_ctx, deps, input) {
    if (deps.auditLookup === undefined) throw new KmsError('UnsupportedOperationException', 'LookupEvents is not available: this node has no audit trail to read.');
    const endMs = input.EndTime === undefined ? deps.clock.now() : millis(input.EndTime);
    const startMs = input.StartTime === undefined ? endMs - DEFAULT_RANGE_MS : millis(input.StartTime);
    if (startMs > endMs) throw new KmsError('ValidationException', 'StartTime must not be later than EndTime.');
    const found = await lookupEvents(deps.auditLookup, {
      attributes: (input.LookupAttributes ?? []).map((a) => ({ key: a.AttributeKey, value: a.AttributeValue })),
      startMs,
      endMs,
      maxResults: input.MaxResults ?? DEFAULT_MAX_RESULTS,
      ...(input.NextToken === undefined ? {} : { beforeSeq: beforeSeqOf(input.NextToken) }),
    });
    return { Events: found.events, ...(found.nextBeforeSeq === undefined ? {} : { NextToken: tokenFor(found.nextBeforeSeq) }) };
  },
});

function millis(t: number | string): number {
  return typeof t === 'number' ? Math.round(t * 1000) : Date.parse(t);
}

function tokenFor(beforeSeq: number): string {
  return Buffer.from(JSON.stringify({ before: beforeSeq }), 'utf8').toString('base64url');
}

function beforeSeqOf(token: string): number {
  try {
    const parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { before?: unknown };
    if (typeof parsed.before === 'number' && Number.isSafeInteger(parsed.before) && parsed.before > 0) return parsed.before;
  } catch {
    // Not ours: refused below.
  }
  throw new KmsError('InvalidMarkerException', 'The NextToken is not one LookupEvents returned.');
}
