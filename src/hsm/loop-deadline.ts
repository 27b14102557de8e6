// A deadline on work that answers through our own event loop (a worker thread's message, a
// promise settled by one) that does not blame the device for a stall of the loop itself.
//
// Why: after the event loop was blocked (a long GC pause, a slow synchronous disk write, a process
// starved on a loaded machine) for longer than a deadline, its next turn runs the expired timers
// first and only then, in the poll phase, reads the messages that arrived meanwhile. A plain
// setTimeout fails a call the HSM had answered in time with HSM_TIMEOUT, writes off its worker and
// counts a failure against the member; every call in flight during the stall fails at once, and the
// only member of the default key store is written off (KMSInvalidStateException for everything).
// So:
// - when the timer fires, the verdict waits for that turn's check phase (setImmediate), after the
//   poll phase has delivered what was already there: an answer taken then clears the deadline;
// - when the timer fires more than STALL_TOLERANCE_MS late, the loop was stalled and work made of
//   several steps (one call, then the next) could not go on meanwhile: the deadline is extended
//   once, by the lateness, never by more than `ms`. A device that really hangs still fails, in at
//   most twice its deadline plus the stall.

import { performance } from 'node:perf_hooks';

/** Timers fire this late on a busy but healthy loop; later than this, the loop was stalled. */
export const STALL_TOLERANCE_MS = 50;

export interface LoopDeadline {
  /** The work settled: the deadline will not fire. Safe to call more than once. */
  clear(): void;
}

/** Calls `expired` once `ms` of loop time have passed and the answers that came by then were read, unless cleared first. */
export function loopDeadline(ms: number, expired: () => void): LoopDeadline {
  let timer: NodeJS.Timeout | undefined;
  let immediate: NodeJS.Immediate | undefined;
  const arm = (wait: number, mayExtend: boolean): void => {
    const due = performance.now() + wait;
    timer = setTimeout(() => {
      const late = performance.now() - due;
      if (mayExtend && late > STALL_TOLERANCE_MS) arm(Math.min(late, ms), false);
      else immediate = setImmediate(expired);
    }, wait);
  };
  arm(ms, true);
  return {
    clear(): void {
      clearTimeout(timer);
      if (immediate !== undefined) clearImmediate(immediate);
    },
  };
}
