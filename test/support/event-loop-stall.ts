// Stalling our own event loop on purpose, as a long GC pause or a slow synchronous write would:
// for the tests of src/hsm/loop-deadline.ts and of the HSM deadlines built on it.

import { performance } from 'node:perf_hooks';

/** Blocks the event loop for `ms`. */
export function stallEventLoop(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // blocking, on purpose
  }
}

/**
 * Runs `post` from a setImmediate callback (the check phase), then blocks the loop for `ms`: the
 * loop's next turn starts with the timers that expired meanwhile, before it reads the messages
 * (a worker's answers) that arrived. Resolves with what `post` returned, wrapped so a promise it
 * returned is not awaited here.
 */
export function postThenStall<T>(ms: number, post: () => T): Promise<{ posted: T }> {
  return new Promise((resolve) => {
    setImmediate(() => {
      const posted = post();
      stallEventLoop(ms);
      resolve({ posted });
    });
  });
}
