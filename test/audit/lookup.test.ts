// lookupEvents (src/audit/lookup.ts) over a trail of synthetic records: the scan budget bounds
// one call's work, and following NextToken (nextBeforeSeq) reaches every match exactly once.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { lookupEvents, SCAN_BUDGET, type LookupSource } from '../../src/audit/lookup.js';
import type { TailRecord } from '../../src/audit/tail.js';

/** seq 1..n, one second apart; every 1000th a Decrypt that failed, the rest Encrypt. */
function trail(n: number): { source: LookupSource; reads: () => number } {
  const records: TailRecord[] = Array.from({ length: n }, (_, i) => ({
    seq: i + 1,
    record: {
      eventID: `id-${i + 1}`,
      eventName: (i + 1) % 1000 === 0 ? 'Decrypt' : 'Encrypt',
      eventTime: new Date(1_700_000_000_000 + i * 1000).toISOString(),
      eventSource: 'kms.amazonaws.com',
      eventType: 'AwsApiCall',
      readOnly: true,
      userIdentity: { userName: 'app' },
      ...((i + 1) % 1000 === 0 ? { errorCode: 'InvalidCiphertextException' } : {}),
    },
  }));
  let read = 0;
  return {
    reads: () => read,
    source: {
      async newestBefore(beforeSeq, startMs, endMs, limit) {
        const out = records
          .filter((r) => r.seq < (beforeSeq ?? Infinity) && Date.parse(String(r.record['eventTime'])) >= startMs && Date.parse(String(r.record['eventTime'])) <= endMs)
          .reverse()
          .slice(0, limit);
        read += out.length;
        return out;
      },
    },
  };
}

test('a call reads at most the scan budget; NextToken goes on below, and every match comes once, newest first', async () => {
  const { source, reads } = trail(25_000);
  const query = { attributes: [{ key: 'Outcome' as const, value: 'Error' }], startMs: 0, endMs: Number.MAX_SAFE_INTEGER, maxResults: 50 };
  const found: string[] = [];
  let before: number | undefined;
  let calls = 0;
  do {
    const readBefore = reads();
    const page = await lookupEvents(source, { ...query, ...(before === undefined ? {} : { beforeSeq: before }) });
    assert.ok(reads() - readBefore <= SCAN_BUDGET, 'one call read more than the budget');
    found.push(...page.events.map((e) => e.EventId));
    before = page.nextBeforeSeq;
    calls += 1;
  } while (before !== undefined && calls < 10);
  assert.equal(calls, 3, 'three calls for 25,000 records');
  assert.deepEqual(found, Array.from({ length: 25 }, (_, i) => `id-${(25 - i) * 1000}`));
});

test('a full page stops early with a token; the time range is inclusive at both ends', async () => {
  const { source, reads } = trail(5_000);
  const page = await lookupEvents(source, { attributes: [], startMs: 0, endMs: Number.MAX_SAFE_INTEGER, maxResults: 3 });
  assert.deepEqual(page.events.map((e) => e.EventId), ['id-5000', 'id-4999', 'id-4998']);
  assert.equal(page.nextBeforeSeq, 4998);
  assert.ok(reads() <= 500, 'read more than one batch for a page of three');
  const windowed = await lookupEvents(source, { attributes: [{ key: 'EventName', value: 'Decrypt' }], startMs: 1_700_000_000_000 + 999_000, endMs: 1_700_000_000_000 + 1_999_000, maxResults: 50 });
  assert.deepEqual(windowed.events.map((e) => e.EventId), ['id-2000', 'id-1000']);
  assert.equal(windowed.nextBeforeSeq, undefined);
  assert.equal(windowed.events[0]!.EventTime, (1_700_000_000_000 + 1_999_000) / 1000);
});
