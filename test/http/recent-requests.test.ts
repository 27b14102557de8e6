// The ring behind KeybridgeAdmin.DescribeRequestMetrics, on an injected clock: requests land in
// the 10-second period of their time, the window slides (old periods drop, slots are reused),
// every period of the window is answered, and labels stay in closed, capped sets.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { OTHER_OUTCOME, UNKNOWN_OPERATION } from '../../src/http/metrics.js';
import { DEFAULT_STORE, MAX_STORE_LABELS, OTHER_STORE, RecentRequests, storeOf, WINDOW_PERIODS } from '../../src/http/recent-requests.js';

/** A clock the test moves; starts inside a period (not on its boundary). */
function fakeClock(startMs = 1_760_000_003_000) {
  let now = startMs;
  return { now: () => now, set: (ms: number) => (now = ms), advance: (ms: number) => (now += ms) };
}

describe('RecentRequests', () => {
  test('counts requests, errors and latency per period, operation and store', () => {
    const clock = fakeClock();
    const ring = new RecentRequests(clock.now);
    ring.record('Encrypt', 'Success', 0.002, 'default');
    ring.record('Encrypt', 'Success', 0.004, 'default');
    ring.record('Decrypt', 'InvalidCiphertextException', 0.001, 'cks-1234567890abcdef0');
    ring.record('CreateKey', 'Success', 0.010, undefined);
    const periods = ring.periods(1);
    assert.equal(periods.length, 1);
    const [p] = periods;
    assert.equal(p!.startMs, 1_760_000_000_000, 'periods start on multiples of 10 s');
    assert.deepEqual(p!.total, { requests: 4, errors: 1, sumSeconds: 0.017, maxSeconds: 0.010 });
    assert.deepEqual(p!.operations.get('Encrypt'), { requests: 2, errors: 0, sumSeconds: 0.006, maxSeconds: 0.004 });
    assert.deepEqual(p!.operations.get('Decrypt'), { requests: 1, errors: 1, sumSeconds: 0.001, maxSeconds: 0.001 });
    assert.deepEqual([...p!.stores.keys()].sort(), ['cks-1234567890abcdef0', 'default'], 'a request that touched no key is under no store');
    assert.equal(p!.stores.get('default')!.requests, 2);
  });

  test('periods roll every 10 seconds; the window answers every period, oldest first, empty ones included', () => {
    const clock = fakeClock();
    const ring = new RecentRequests(clock.now);
    ring.record('Encrypt', 'Success', 0.001, undefined);
    clock.advance(10_000);
    ring.record('Decrypt', 'Success', 0.001, undefined);
    ring.record('Decrypt', 'Success', 0.001, undefined);
    clock.advance(30_000);
    ring.record('Sign', 'Success', 0.001, undefined);
    const periods = ring.periods(6);
    assert.equal(periods.length, 6);
    const starts = periods.map((p) => p.startMs);
    assert.deepEqual(starts, starts.map((_, i) => starts[0]! + i * 10_000), 'a continuous axis');
    assert.equal(starts[5], 1_760_000_040_000, 'the current period last');
    assert.deepEqual(periods.map((p) => p.total.requests), [0, 1, 2, 0, 0, 1]);
    assert.equal(periods[3]!.operations.size, 0);
    assert.equal(ring.periods(WINDOW_PERIODS).length, WINDOW_PERIODS);
    assert.equal(ring.periods(1_000).length, WINDOW_PERIODS, 'never more than the window');
  });

  test('periods older than 15 minutes drop, and their slots are reused', () => {
    const clock = fakeClock();
    const ring = new RecentRequests(clock.now);
    ring.record('Encrypt', 'Success', 0.001, 'default');
    clock.advance((WINDOW_PERIODS - 1) * 10_000);
    assert.equal(ring.periods(WINDOW_PERIODS)[0]!.total.requests, 1, 'still the oldest period of the window');
    clock.advance(10_000);
    assert.ok(ring.periods(WINDOW_PERIODS).every((p) => p.total.requests === 0), 'out of the window');
    // Exactly 90 periods later the same slot is reused: the old figures must not add up.
    ring.record('Decrypt', 'Success', 0.001, undefined);
    const current = ring.periods(1)[0]!;
    assert.deepEqual(current.total.requests, 1);
    assert.deepEqual([...current.operations.keys()], ['Decrypt']);
    assert.equal(current.stores.size, 0);
    // A long pause: nothing stale comes back.
    clock.advance(3 * 3_600_000);
    assert.ok(ring.periods(WINDOW_PERIODS).every((p) => p.total.requests === 0));
  });

  test('operation and outcome labels come from closed sets', () => {
    const clock = fakeClock();
    const ring = new RecentRequests(clock.now);
    ring.record('TrentService.Madeup', 'Success', 0.001, undefined);
    ring.record('KeybridgeAdmin.Nope', 'UnknownOperationException', 0.001, undefined);
    ring.record('KeybridgeAdmin.LookupEvents', 'Success', 0.001, undefined);
    ring.record('Encrypt', 'constructor', 0.001, undefined);
    const p = ring.periods(1)[0]!;
    assert.deepEqual([...p.operations.keys()].sort(), ['Encrypt', 'KeybridgeAdmin.LookupEvents', UNKNOWN_OPERATION]);
    assert.equal(p.operations.get(UNKNOWN_OPERATION)!.requests, 2);
    assert.equal(p.operations.get('Encrypt')!.errors, 1, `an outcome outside the table (${OTHER_OUTCOME}) is an error`);
    assert.equal(p.total.errors, 2);
  });

  test(`at most ${MAX_STORE_LABELS} store labels per period; the rest count as "${OTHER_STORE}"`, () => {
    const clock = fakeClock();
    const ring = new RecentRequests(clock.now);
    for (let i = 0; i < MAX_STORE_LABELS + 10; i++) ring.record('Encrypt', 'Success', 0.001, `cks-${String(i).padStart(17, '0')}`);
    // A store already counted in this period keeps its label after the cap.
    ring.record('Encrypt', 'Success', 0.001, `cks-${'0'.repeat(17)}`);
    let p = ring.periods(1)[0]!;
    assert.equal(p.stores.size, MAX_STORE_LABELS + 1);
    assert.equal(p.stores.get(OTHER_STORE)!.requests, 10);
    assert.equal(p.stores.get(`cks-${'0'.repeat(17)}`)!.requests, 2);
    // The cap is per period: the next one starts afresh.
    clock.advance(10_000);
    ring.record('Encrypt', 'Success', 0.001, `cks-${'9'.repeat(17)}`);
    p = ring.periods(1)[0]!;
    assert.deepEqual([...p.stores.keys()], [`cks-${'9'.repeat(17)}`]);
  });

  test('storeOf: "default" for the default key store, the custom key store id, none without a key', () => {
    assert.equal(storeOf({ customKeyStoreId: null }), DEFAULT_STORE);
    assert.equal(storeOf({ customKeyStoreId: 'cks-1234567890abcdef0' }), 'cks-1234567890abcdef0');
    assert.equal(storeOf(undefined), undefined);
  });

  test('a negative or non-finite latency counts as zero', () => {
    const ring = new RecentRequests(fakeClock().now);
    ring.record('Encrypt', 'Success', Number.NaN, undefined);
    ring.record('Encrypt', 'Success', -1, undefined);
    assert.deepEqual(ring.periods(1)[0]!.total, { requests: 2, errors: 0, sumSeconds: 0, maxSeconds: 0 });
  });
});
