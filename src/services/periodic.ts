// A background job on a timer (the deletion sweeper, the rotation scheduler): one round at a time —
// a round asked for while one runs waits for that one — and stop() lets the running round finish.

export interface Periodic<T> {
  /** Runs one round now (or waits for the one running). */
  runOnce(): Promise<T>;
  stop(): Promise<void>;
}

export function startPeriodic<T>(round: () => Promise<T>, intervalMs: number): Periodic<T> {
  let running: Promise<T> | undefined;
  const run = (): Promise<T> => {
    running ??= round().finally(() => {
      running = undefined;
    });
    return running;
  };
  const timer = setInterval(() => void run().catch(() => undefined), intervalMs);
  // A background job never keeps the process alive on its own.
  timer.unref();
  return {
    runOnce: run,
    async stop() {
      clearInterval(timer);
      await running?.catch(() => undefined);
    },
  };
}
