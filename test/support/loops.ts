// Steady load for fault tests: `concurrency` loops each running one unit of work (an encrypt +
// decrypt pair, say) after another until stopped, counting what succeeded, what failed and why, and
// the slowest unit — so a test can say "0 failures under load" with the numbers.

import { performance } from 'node:perf_hooks';

export interface Loops {
  /** Units that succeeded so far. */
  readonly done: number;
  /** Each failure as "name: message", in order. */
  readonly failures: readonly string[];
  readonly slowestMs: number;
  /** Lets every loop finish its unit, then resolves. */
  stop(): Promise<void>;
}

export function runLoops(concurrency: number, unit: (loop: number, round: number) => Promise<void>): Loops {
  let running = true;
  let done = 0;
  let slowestMs = 0;
  const failures: string[] = [];
  const loops = Array.from({ length: concurrency }, async (_, loop) => {
    for (let round = 0; running; round++) {
      const started = performance.now();
      try {
        await unit(loop, round);
        done += 1;
        slowestMs = Math.max(slowestMs, performance.now() - started);
      } catch (err) {
        const e = err as { code?: string; name?: string; message?: string };
        failures.push(`${e.code ?? e.name ?? 'Error'}: ${e.message ?? String(err)}`);
      }
    }
  });
  return {
    get done() {
      return done;
    },
    failures,
    get slowestMs() {
      return slowestMs;
    },
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}
