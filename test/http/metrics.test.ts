// /metrics labels come from closed sets: signed-in callers sending made-up X-Amz-Target values,
// and code reporting error names outside the KMS table, must not add Prometheus series.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import { Metrics, OTHER_OUTCOME, UNKNOWN_OPERATION } from '../../src/http/metrics.js';
import { rawRequest } from '../support/raw-request.js';
import { startServer, type TestServer } from '../support/server.js';

const REQUESTS = 2_000;
/** Room for counters and histogram sums changing width as numbers grow; far below one series per request. */
const MAX_GROWTH_BYTES = 4_096;

async function scrape(server: TestServer): Promise<string> {
  const res = await fetch(`${server.url}/metrics`);
  assert.equal(res.status, 200);
  return res.text();
}

/** Runs `count` calls of `fn` with at most `width` in flight. */
async function inParallel(count: number, width: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < count) await fn(next++);
  }));
}

describe('request labels on a real server', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server.destroy();
  });

  test(`${REQUESTS} signed requests with distinct unknown targets keep /metrics bounded`, { timeout: 120_000 }, async () => {
    const targets = [
      () => `TrentService.${randomBytes(12).toString('hex')}`,
      () => `KeybridgeAdmin.${randomBytes(12).toString('hex')}`,
      () => randomBytes(12).toString('hex'),
    ];
    // One of each shape first, so every series they map to exists before the baseline is taken.
    for (const make of targets) {
      const res = await rawRequest(server, { target: make(), body: '{}' });
      assert.equal(res.json?.__type, 'UnknownOperationException', res.body);
    }
    const known = await rawRequest(server, { target: 'TrentService.ListKeys', body: '{}' });
    assert.equal(known.status, 200, known.body);

    const baseline = await scrape(server);
    await inParallel(REQUESTS, 8, async (i) => {
      const res = await rawRequest(server, { target: targets[i % targets.length]!(), body: '{}' });
      assert.equal(res.json?.__type, 'UnknownOperationException', res.body);
    });
    const afterwards = await scrape(server);

    const growth = Buffer.byteLength(afterwards) - Buffer.byteLength(baseline);
    assert.ok(growth < MAX_GROWTH_BYTES, `/metrics grew by ${growth} bytes over ${REQUESTS} requests`);
    // The requests are still counted, under the closed labels.
    const unknown = /keybridge_requests_total\{operation="unknown",outcome="UnknownOperationException"\} (\d+)/.exec(afterwards);
    assert.ok(unknown, 'no unknown-operation counter');
    assert.ok(Number(unknown[1]) >= REQUESTS + targets.length, `counted ${unknown[1]}`);
    assert.match(afterwards, /keybridge_requests_total\{operation="ListKeys",outcome="Success"\} 1\b/);
    assert.doesNotMatch(afterwards, /operation="KeybridgeAdmin\.[0-9a-f]{24}"/);
  });

  test('a known admin operation keeps its own label', async () => {
    const res = await rawRequest(server, { target: 'KeybridgeAdmin.ListPrincipals', body: '{}' });
    assert.equal(res.status, 200, res.body);
    assert.match(await scrape(server), /keybridge_requests_total\{operation="KeybridgeAdmin\.ListPrincipals",outcome="Success"\} 1\b/);
  });
});

describe('Metrics.request labels', () => {
  test(`${REQUESTS} distinct bogus operations and error names add no series`, async () => {
    const metrics = new Metrics();
    metrics.request('Encrypt', 'Success', 0.001);
    metrics.request(UNKNOWN_OPERATION, 'NotFoundException', 0.001);
    metrics.request('Encrypt', OTHER_OUTCOME, 0.001);
    metrics.request(UNKNOWN_OPERATION, OTHER_OUTCOME, 0.001);
    const baseline = Buffer.byteLength(await metrics.registry.metrics());
    for (let i = 0; i < REQUESTS; i++) {
      const bogus = randomBytes(8).toString('hex');
      metrics.request(i % 2 === 0 ? 'Encrypt' : `Bogus${bogus}`, `${bogus}Exception`, 0.001);
    }
    // Names that exist on every object must not pass for table entries.
    metrics.request('constructor', '__proto__', 0.001);
    metrics.request('KeybridgeAdmin.', 'toString', 0.001);
    const text = await metrics.registry.metrics();
    const growth = Buffer.byteLength(text) - baseline;
    assert.ok(growth < MAX_GROWTH_BYTES, `grew by ${growth} bytes`);
    assert.match(text, /keybridge_requests_total\{operation="Encrypt",outcome="other"\} 1001\b/);
    assert.match(text, /keybridge_requests_total\{operation="unknown",outcome="other"\} 1003\b/);
    assert.match(text, /keybridge_requests_total\{operation="unknown",outcome="NotFoundException"\} 1\b/);
  });

  test('registry operations and table error names are kept as they are', async () => {
    const metrics = new Metrics();
    metrics.request('ScheduleKeyDeletion', 'KMSInvalidStateException', 0.001);
    metrics.request('KeybridgeAdmin.CreatePrincipal', 'AccessDeniedException', 0.001);
    metrics.request('KeybridgeAdmin.NoSuchThing', 'UnknownOperationException', 0.001);
    const text = await metrics.registry.metrics();
    assert.match(text, /keybridge_requests_total\{operation="ScheduleKeyDeletion",outcome="KMSInvalidStateException"\} 1\b/);
    assert.match(text, /keybridge_requests_total\{operation="KeybridgeAdmin\.CreatePrincipal",outcome="AccessDeniedException"\} 1\b/);
    assert.match(text, /keybridge_requests_total\{operation="unknown",outcome="UnknownOperationException"\} 1\b/);
    assert.match(text, /keybridge_request_duration_seconds_count\{operation="ScheduleKeyDeletion"\} 1\b/);
  });
});
