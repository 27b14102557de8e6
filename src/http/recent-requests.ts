// The last 15 minutes of this process's API requests, in 10-second periods, for the web console's
// charts (KeybridgeAdmin.DescribeRequestMetrics): requests, errors and latency per period, by
// operation and by key store. Prometheus (/metrics) keeps counters for the life of the process and
// needs a scraper and a query language to show a rate; the console wants "what happened just now"
// from the node itself, so this keeps a small ring instead.
//
// Bounded: 90 periods (a ring indexed by period number, each slot reused when time reaches it
// again, so old periods drop without a timer). Per period, operations come from a closed set
// (operationLabel: the registries' names, else "unknown") and outcomes are mapped through
// outcomeLabel before deciding what is an error; see the WARNING in metrics.ts. Key store labels
// are "default" or a custom key store id, which callers cannot invent (a key must exist in that
// store), but there may be many stores: at most MAX_STORE_LABELS distinct ones per period, the
// rest counted as "other".
//
// This is one process's view: with several workers or nodes, each keeps its own.

import { operationLabel, outcomeLabel } from './metrics.js';

export const PERIOD_SECONDS = 10;
const PERIOD_MS = PERIOD_SECONDS * 1000;
/** 15 minutes of 10-second periods. */
export const WINDOW_PERIODS = 90;
/** Distinct key store labels per period; the rest count as OTHER_STORE. */
export const MAX_STORE_LABELS = 64;
/** The default key store's label (as in /metrics' custom_key_store label). */
export const DEFAULT_STORE = 'default';
export const OTHER_STORE = 'other';

/** The store label of the key a request touched: "default", a custom key store id, or undefined for none. */
export function storeOf(key: { readonly customKeyStoreId: string | null } | undefined): string | undefined {
  return key === undefined ? undefined : (key.customKeyStoreId ?? DEFAULT_STORE);
}

/** Requests, errors (outcome not Success) and latency of one group of requests. */
export interface Figures {
  requests: number;
  errors: number;
  sumSeconds: number;
  maxSeconds: number;
}

export interface PeriodFigures {
  /** Epoch milliseconds at which the period starts (a multiple of 10 s). */
  readonly startMs: number;
  readonly total: Readonly<Figures>;
  /** By operation label. */
  readonly operations: ReadonlyMap<string, Readonly<Figures>>;
  /** By key store label; requests that touched no key are in none. */
  readonly stores: ReadonlyMap<string, Readonly<Figures>>;
}

interface Period {
  readonly index: number;
  readonly total: Figures;
  readonly operations: Map<string, Figures>;
  readonly stores: Map<string, Figures>;
}

export class RecentRequests {
  /** The length of a period, PERIOD_SECONDS. */
  readonly periodSeconds = PERIOD_SECONDS;
  readonly #clock: () => number;
  /** Slot `index % WINDOW_PERIODS` holds period `index` (= floor(ms / PERIOD_MS)), or an older one that is stale. */
  readonly #ring: Array<Period | undefined> = new Array<Period | undefined>(WINDOW_PERIODS).fill(undefined);

  constructor(clock: () => number = Date.now) {
    this.#clock = clock;
  }

  /**
   * One answered request. `operation` and `outcome` may carry client input; they are mapped onto
   * closed sets (operationLabel, outcomeLabel). `store`: see storeOf.
   */
  record(operation: string, outcome: string, seconds: number, store: string | undefined): void {
    const index = Math.floor(this.#clock() / PERIOD_MS);
    const slot = index % WINDOW_PERIODS;
    let period = this.#ring[slot];
    if (period === undefined || period.index !== index) {
      period = { index, total: empty(), operations: new Map(), stores: new Map() };
      this.#ring[slot] = period;
    }
    const error = outcomeLabel(outcome) !== 'Success';
    const latency = Number.isFinite(seconds) && seconds > 0 ? seconds : 0;
    add(period.total, error, latency);
    add(figuresOf(period.operations, operationLabel(operation)), error, latency);
    if (store !== undefined) {
      const label = period.stores.has(store) || period.stores.size < MAX_STORE_LABELS ? store : OTHER_STORE;
      add(figuresOf(period.stores, label), error, latency);
    }
  }

  /**
   * The last `count` periods (1 to WINDOW_PERIODS), oldest first, ending with the current one
   * (still filling); every period is present, those without requests empty.
   */
  periods(count: number): PeriodFigures[] {
    const n = Math.min(WINDOW_PERIODS, Math.max(1, Math.floor(count)));
    const current = Math.floor(this.#clock() / PERIOD_MS);
    const out: PeriodFigures[] = [];
    for (let index = current - n + 1; index <= current; index++) {
      const period = this.#ring[((index % WINDOW_PERIODS) + WINDOW_PERIODS) % WINDOW_PERIODS];
      out.push(
        period !== undefined && period.index === index
          ? { startMs: index * PERIOD_MS, total: period.total, operations: period.operations, stores: period.stores }
          : { startMs: index * PERIOD_MS, total: empty(), operations: new Map(), stores: new Map() },
      );
    }
    return out;
  }
}

function empty(): Figures {
  return { requests: 0, errors: 0, sumSeconds: 0, maxSeconds: 0 };
}

function figuresOf(map: Map<string, Figures>, label: string): Figures {
  let figures = map.get(label);
  if (figures === undefined) {
    figures = empty();
    map.set(label, figures);
  }
  return figures;
}

function add(figures: Figures, error: boolean, seconds: number): void {
  figures.requests += 1;
  if (error) figures.errors += 1;
  figures.sumSeconds += seconds;
  if (seconds > figures.maxSeconds) figures.maxSeconds = seconds;
}
