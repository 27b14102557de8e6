// src/hsm/loop-deadline.ts: a deadline fires on time when nothing answers, never after clear(),
// and a stall of our own event loop is not counted against the work: an answer that arrived during
// the stall is taken, a next step after it gets the time the stall took (once, at most `ms`).

import assert from 'node:assert/strict';
import { MessageChannel } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { loopDeadline, STALL_TOLERANCE_MS } from '../../src/hsm/loop-deadline.js';
import { postThenStall } from '../support/event-loop-stall.js';

test('nothing answers: it fires after ms, once', async () => {
  const started = performance.now();
  let fired = 0;
  let firedAt = 0;
  loopDeadline(100, () => {
    fired += 1;
    firedAt = performance.now() - started;
  });
  await sleep(400);
  assert.equal(fired, 1);
  assert.ok(firedAt >= 99 && firedAt < 100 + STALL_TOLERANCE_MS + 100, `fired after ${firedAt.toFixed(0)} ms`);
});

test('cleared before it is due, or between its timer and its verdict: it never fires', async () => {
  let fired = 0;
  loopDeadline(50, () => (fired += 1)).clear();
  const late = loopDeadline(50, () => (fired += 1));
  // Same duration, set after it: Node runs this timer right after the deadline's, in the same turn,
  // before the verdict (check phase).
  setTimeout(() => late.clear(), 50);
  await sleep(150);
  assert.equal(fired, 0);
});

test('an answer that arrived while the loop was stalled past the deadline is taken before the verdict', async () => {
  const { port1, port2 } = new MessageChannel();
  try {
    let fired = false;
    let answered = false;
    // The answer comes at once (a message, read in the poll phase like a worker's); the loop is stalled.
    await postThenStall(300, () => {
      const deadline = loopDeadline(100, () => (fired = true));
      port2.once('message', () => {
        answered = true;
        deadline.clear();
      });
      port1.postMessage('done');
    });
    await sleep(50);
    assert.equal(answered, true);
    assert.equal(fired, false, 'the stall was blamed on the work');
  } finally {
    port1.close();
  }
});

test('work of two steps stalled between them gets the stalled time once: the second step, in time after the stall, is not failed', async () => {
  let fired = false;
  let done = false;
  await postThenStall(250, () => {
    const deadline = loopDeadline(100, () => (fired = true));
    // Step two answers 30 ms after the stall ends.
    setTimeout(() => {
      done = true;
      deadline.clear();
    }, 30 + 250);
  });
  await sleep(300);
  assert.equal(done, true);
  assert.equal(fired, false);
});

test('a stall extends it once, by at most ms: work that never answers still fails, after ms more', async () => {
  const started = performance.now();
  let firedAt: number | undefined;
  await postThenStall(500, () => loopDeadline(100, () => (firedAt = performance.now() - started)));
  await sleep(400);
  assert.ok(firedAt !== undefined, 'it fired');
  // Due at 100 ms, seen at ~500 ms (400 ms late): extended by 100 ms (not 400), so ~600 ms.
  assert.ok(firedAt >= 590 && firedAt < 600 + STALL_TOLERANCE_MS + 100, `fired after ${firedAt.toFixed(0)} ms`);
});
