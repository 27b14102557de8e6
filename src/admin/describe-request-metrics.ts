import { z } from 'zod';

import { KmsError } from '../domain/errors.js';
// Types only: http/recent-requests.ts imports http/metrics.ts, which imports the admin registry.
import type { Figures } from '../http/recent-requests.js';
import { defineAdminOperation } from './operation.js';

/**
 * The web console's request charts: this node's API requests over the last Minutes (1 to 15,
 * default 15) in 10-second periods, oldest first, the current (still filling) period last. Every
 * period of the window is present, empty ones with zeros and no operations or stores, so a chart
 * has a continuous x axis. Per period: requests, errors (any outcome but success) and by operation
 * and by key store ("default", a custom key store id, or "other" past 64 stores in one period;
 * requests that touched no key count under no store) requests, errors, average and max latency.
 *
 * The figures are THIS PROCESS's only (src/http/recent-requests.ts keeps them in memory): with
 * several workers (cluster mode) each answers for itself, whichever took the connection, and each
 * node of a multi-node deployment for itself; `Node` says which answered. They start empty when
 * the process starts. A call is counted after it has been answered, so this call is not in its
 * own answer.
 */
export const describeRequestMetrics = defineAdminOperation({
  name: 'DescribeRequestMetrics',
  input: z.object({ Minutes: z.number().int().min(1).max(15).optional() }),
  async run(_ctx, deps, input) {
    if (deps.recentRequests === undefined) throw new KmsError('UnsupportedOperationException', 'DescribeRequestMetrics is not available: this node does not keep request metrics.');
    const { periodSeconds } = deps.recentRequests;
    const periods = deps.recentRequests.periods(((input.Minutes ?? 15) * 60) / periodSeconds);
    return {
      PeriodSeconds: periodSeconds,
      Node: deps.node,
      Periods: periods.map((p) => ({
        StartTime: p.startMs / 1000,
        Requests: p.total.requests,
        Errors: p.total.errors,
        Operations: [...p.operations].sort(byName).map(([name, f]) => ({ Operation: name, ...figures(f) })),
        Stores: [...p.stores].sort(byName).map(([name, f]) => ({ Store: name, ...figures(f) })),
      })),
    };
  },
});

function figures(f: Readonly<Figures>) {
  return {
    Requests: f.requests,
    Errors: f.errors,
    AverageLatencyMs: f.requests === 0 ? 0 : ms(f.sumSeconds / f.requests),
    MaxLatencyMs: ms(f.maxSeconds),
  };
}

/** Milliseconds to the microsecond. */
function ms(seconds: number): number {
  return Math.round(seconds * 1e6) / 1000;
}

function byName(a: readonly [string, unknown], b: readonly [string, unknown]): number {
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
}
