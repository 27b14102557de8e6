// GET /metrics in Prometheus's text format: requests by operation and outcome, HSM calls per
// cluster member (latency histogram, errors by CKR name), member health states and transitions,
// session pools (in use / idle / waiting / limit), and the process (event-loop delay, memory).
// Nothing about keys or callers, so it needs no signature.
//
// WARNING: every label value must come from a closed set. Each distinct value is a new series kept
// for the life of the process, so a label copied from a request (X-Amz-Target, an error name) lets
// any signed-in caller grow /metrics and our memory without bound. Request labels are mapped onto
// the operation registries and the KMS error table here; cluster ids and member names come from
// operator configuration, HSM operations from our own code, CKR names from the device.
//
// `GET /metrics?format=json` answers the process figures as JSON instead (the benchmark reads
// event-loop delay and RSS around each run with `&reset=1`).

import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

import type { FastifyInstance } from 'fastify';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

import { ADMIN_OPERATIONS, ADMIN_TARGET_PREFIX } from '../admin/registry.js';
import { KMS_ERRORS } from '../domain/errors.js';
import type { ClusterObserver, ClusterStatus } from '../hsm/cluster/cluster-hsm.js';
import type { MemberState } from '../hsm/cluster/member.js';
import type { SessionPoolStats } from '../hsm/pkcs11/session-pool.js';
import { OPERATIONS } from '../operations/registry.js';
import type { XksErrorName } from '../xks/errors.js';
import type { XksOperation } from '../xks/uri.js';

const STATES: readonly MemberState[] = ['ACTIVE', 'DEGRADED', 'UNAVAILABLE'];
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const RESOLUTION_MS = 10;

/** Operation label for anything not in a registry (unknown targets, requests refused before routing). */
export const UNKNOWN_OPERATION = 'unknown';
/** Outcome label for anything that is neither Success nor a name in the KMS error table. */
export const OTHER_OUTCOME = 'other';
/** KMS operations by name; admin operations as app.ts reports them, `KeybridgeAdmin.<Name>`. */
const OPERATION_LABELS: ReadonlySet<string> = new Set([
  ...OPERATIONS.map((op) => op.name),
  ...ADMIN_OPERATIONS.map((op) => `${ADMIN_TARGET_PREFIX}${op.name}`),
]);
// A Set rather than a lookup in KMS_ERRORS: `constructor` or `__proto__` must not count as known.
const OUTCOME_LABELS: ReadonlySet<string> = new Set(['Success', ...Object.keys(KMS_ERRORS)]);

/** The operation label for a reported operation: itself when a registry lists it, else "unknown". */
export function operationLabel(operation: string): string {
  return OPERATION_LABELS.has(operation) ? operation : UNKNOWN_OPERATION;
}

/** The outcome label: "Success" or a KMS error name as reported, else "other". */
export function outcomeLabel(outcome: string): string {
  return OUTCOME_LABELS.has(outcome) ? outcome : OTHER_OUTCOME;
}

/** Where /metrics reads live state from at scrape time. */
export interface MetricsSources {
  /** The default key store (customKeyStoreId "default") and every connected custom key store. */
  clusters(): Array<{ customKeyStoreId: string; status: ClusterStatus }>;
}

export class Metrics implements ClusterObserver {
  readonly registry = new Registry();
  private readonly requests: Counter<'operation' | 'outcome'>;
  private readonly requestSeconds: Histogram<'operation'>;
  private readonly hsmSeconds: Histogram<'cluster' | 'member' | 'operation' | 'outcome'>;
  private readonly hsmErrors: Counter<'cluster' | 'member' | 'ckr'>;
  private readonly transitions: Counter<'cluster' | 'member' | 'to'>;
  private readonly xksRequests: Counter<'operation' | 'outcome'>;
  private readonly xksSeconds: Histogram<'operation'>;
  private sources: MetricsSources | undefined;

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'keybridge_' });
    this.requests = new Counter({
      name: 'keybridge_requests_total',
      help: 'API requests by operation (unknown: not a known operation) and outcome (Success, a KMS error name, or other).',
      labelNames: ['operation', 'outcome'],
      registers: [this.registry],
    });
    this.requestSeconds = new Histogram({
      name: 'keybridge_request_duration_seconds',
      help: 'API request latency as seen by keybridge, by operation.',
      labelNames: ['operation'],
      buckets: LATENCY_BUCKETS,
      registers: [this.registry],
    });
    this.hsmSeconds = new Histogram({
      name: 'keybridge_hsm_call_duration_seconds',
      help: 'Calls on one cluster member (including deep health checks), by outcome.',
      labelNames: ['cluster', 'member', 'operation', 'outcome'],
      buckets: LATENCY_BUCKETS,
      registers: [this.registry],
    });
    this.hsmErrors = new Counter({
      name: 'keybridge_hsm_errors_total',
      help: 'Failed calls on one cluster member, by PKCS#11 return value (none: a timeout or a failure without CKR).',
      labelNames: ['cluster', 'member', 'ckr'],
      registers: [this.registry],
    });
    this.transitions = new Counter({
      name: 'keybridge_cluster_member_transitions_total',
      help: 'Health state changes of cluster members, by the state entered.',
      labelNames: ['cluster', 'member', 'to'],
      registers: [this.registry],
    });
    this.xksRequests = new Counter({
      name: 'keybridge_xks_requests_total',
      help: 'XKS proxy requests by operation (GetKeyMetadata, Encrypt, Decrypt, GetHealthStatus; unknown: no proxy URI) and outcome (Success or an XKS error name).',
      labelNames: ['operation', 'outcome'],
      registers: [this.registry],
    });
    this.xksSeconds = new Histogram({
      name: 'keybridge_xks_request_duration_seconds',
      help: 'XKS proxy request latency as seen by keybridge, by operation (AWS KMS gives a call 250 ms).',
      labelNames: ['operation'],
      buckets: LATENCY_BUCKETS,
      registers: [this.registry],
    });
    const metrics = this;
    new Gauge({
      name: 'keybridge_cluster_member_state',
      help: '1 for the state each cluster member is in (ACTIVE, DEGRADED, UNAVAILABLE), 0 for the others.',
      labelNames: ['custom_key_store', 'cluster', 'member', 'state'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const { customKeyStoreId, status } of metrics.sources?.clusters() ?? []) {
          for (const member of status.members) {
            for (const state of STATES) {
              this.set({ custom_key_store: customKeyStoreId, cluster: status.clusterId, member: member.name, state }, member.state === state ? 1 : 0);
            }
          }
        }
      },
    });
    new Gauge({
      name: 'keybridge_pool_sessions',
      help: 'PKCS#11 work sessions per token: in_use, idle, waiting (callers queued for one) and limit.',
      labelNames: ['cluster', 'member', 'kind'],
      registers: [this.registry],
      collect() {
        this.reset();
        const put = (cluster: string, member: string, pool: Pick<SessionPoolStats, 'leased' | 'idle' | 'waiting' | 'limit'>) => {
          this.set({ cluster, member, kind: 'in_use' }, pool.leased);
          this.set({ cluster, member, kind: 'idle' }, pool.idle);
          this.set({ cluster, member, kind: 'waiting' }, pool.waiting);
          this.set({ cluster, member, kind: 'limit' }, pool.limit);
        };
        for (const { status } of metrics.sources?.clusters() ?? []) {
          for (const member of status.members) if (member.pool !== undefined) put(status.clusterId, member.name, member.pool);
        }
      },
    });
  }

  /** Set once the key stores exist (they are built after the metrics, which they report to). */
  attach(sources: MetricsSources): void {
    this.sources = sources;
  }

  /**
   * One answered API request. `operation` and `outcome` may carry client input (an unknown
   * X-Amz-Target); they are mapped onto closed sets, see operationLabel and outcomeLabel.
   */
  request(operation: string, outcome: string, seconds: number): void {
    const op = operationLabel(operation);
    this.requests.inc({ operation: op, outcome: outcomeLabel(outcome) });
    this.requestSeconds.observe({ operation: op }, seconds);
  }

  /** One answered XKS proxy request; both labels come from closed sets (src/xks/uri.ts, src/xks/errors.ts). */
  xksRequest(operation: XksOperation | typeof UNKNOWN_OPERATION, outcome: XksErrorName | 'Success', seconds: number): void {
    this.xksRequests.inc({ operation, outcome });
    this.xksSeconds.observe({ operation }, seconds);
  }

  memberCall(event: Parameters<ClusterObserver['memberCall']>[0]): void {
    this.hsmSeconds.observe({ cluster: event.clusterId, member: event.member, operation: event.operation, outcome: event.outcome }, event.seconds);
    if (event.outcome === 'error') this.hsmErrors.inc({ cluster: event.clusterId, member: event.member, ckr: event.ckr ?? 'none' });
  }

  memberState(event: Parameters<ClusterObserver['memberState']>[0]): void {
    this.transitions.inc({ cluster: event.clusterId, member: event.member, to: event.to });
  }
}

export function registerMetricsRoute(app: FastifyInstance, metrics: Metrics): void {
  let histogram: IntervalHistogram | undefined;
  app.addHook('onReady', async () => {
    histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
    histogram.enable();
  });
  app.addHook('onClose', async () => {
    histogram?.disable();
  });
  app.get<{ Querystring: { reset?: string; format?: string } }>('/metrics', async (request, reply) => {
    if (request.query.format === 'json') {
      // The histogram records whole timer intervals, resolution included: subtract it to get delay.
      const ms = (ns: number) => Math.max(0, Math.round(ns / 1e4 - RESOLUTION_MS * 100) / 100);
      const memory = process.memoryUsage();
      const body = {
        rssBytes: memory.rss,
        heapUsedBytes: memory.heapUsed,
        eventLoopDelayMs: histogram ? { p50: ms(histogram.percentile(50)), p99: ms(histogram.percentile(99)), max: ms(histogram.max) } : null,
      };
      if (request.query.reset === '1') histogram?.reset();
      return body;
    }
    return reply.header('content-type', metrics.registry.contentType).send(await metrics.registry.metrics());
  });
}
