// Time, injectable so tests can pass a key's deletion window without waiting for it.

export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
