// GET /metrics: the process's own health figures (event-loop delay, memory). Nothing about keys or
// callers, so it needs no signature; the benchmark reads it around each run.

import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { FastifyInstance } from 'fastify';

const RESOLUTION_MS = 10;

export function registerProcessMetrics(app: FastifyInstance): void {
  let histogram: IntervalHistogram | undefined;
  app.addHook('onReady', async () => {
    histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
    histogram.enable();
  });
  app.addHook('onClose', async () => {
    histogram?.disable();
  });
  app.get<{ Querystring: { reset?: string } }>('/metrics', async (request) => {
    // The histogram records whole timer intervals, resolution included: subtract it to get delay.
    const ms = (ns: number) => Math.max(0, Math.round(ns / 1e4 - RESOLUTION_MS * 100) / 100);
    const memory = process.memoryUsage();
    const body = {
      rssBytes: memory.rss,
      heapUsedBytes: memory.heapUsed,
      eventLoopDelayMs: histogram
        ? { p50: ms(histogram.percentile(50)), p99: ms(histogram.percentile(99)), max: ms(histogram.max) }
        : null,
    };
    if (request.query.reset === '1') histogram?.reset();
    return body;
  });
}
