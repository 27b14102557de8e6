// Each node's own view of every CloudHSM-type custom key store — its connection state and its
// members' health, from its own sessions — written to the shared store every few seconds, so that
// DescribeKeyStoreHealth (`keybridge keystore health`) on any node shows every node. A node
// removes its reports when it stops; a node killed without stopping is recognised by its report
// getting old (REPORT_FRESH_MS) and its rows are removed after an hour by whichever node comes by.

import type { Logger } from 'pino';
import type { CustomKeyStoreRecord } from '../domain/custom-key-store.js';
import type { Clock } from '../ports/clock.js';
import type { MetadataStore } from '../ports/store.js';

export const REPORT_INTERVAL_MS = 5000;
/** A report older than this comes from a node that stopped answering: readers leave it out. */
export const REPORT_FRESH_MS = 3 * REPORT_INTERVAL_MS;
const FORGET_AFTER_MS = 3_600_000;
const PAGE = 100;

export interface NodeReporter {
  /** Writes this node's reports now (also run every interval). */
  reportNow(): Promise<void>;
  /** Stops reporting and removes this node's reports. */
  stop(): Promise<void>;
}

export function startNodeReports(
  deps: {
    readonly store: MetadataStore;
    readonly node: string;
    readonly clock: Clock;
    readonly logger: Logger;
    /** This node's view of one store, as JSON-serialisable data. */
    readonly describe: (store: CustomKeyStoreRecord) => unknown;
  },
  intervalMs = REPORT_INTERVAL_MS,
): NodeReporter {
  let lastForget = 0;
  let running: Promise<void> = Promise.resolve();
  const report = async (): Promise<void> => {
    const now = deps.clock.now();
    for (let after: string | undefined; ; ) {
      const page = await deps.store.listCustomKeyStores(after, PAGE);
      for (const record of page) {
        if (record.type !== 'AWS_CLOUDHSM') continue;
        await deps.store.putNodeReport({ node: deps.node, subject: record.id, report: JSON.stringify(deps.describe(record)), reportedAt: now });
      }
      if (page.length < PAGE) break;
      after = page[page.length - 1]!.id;
    }
    if (now - lastForget > FORGET_AFTER_MS / 4) {
      lastForget = now;
      await deps.store.deleteNodeReports({ before: now - FORGET_AFTER_MS });
    }
  };
  const reportNow = (): Promise<void> => {
    // One round at a time: a slow store must not pile rounds up.
    running = running.then(report, report);
    return running;
  };
  const timer = setInterval(() => {
    reportNow().catch((err: unknown) => deps.logger.warn({ err: { message: (err as Error).message } }, 'could not write this node\'s key store health report; retried at the next interval'));
  }, intervalMs);
  timer.unref();
  void reportNow().catch(() => undefined);
  return {
    reportNow,
    async stop() {
      clearInterval(timer);
      await running.catch(() => undefined);
      await deps.store.deleteNodeReports({ node: deps.node }).catch(() => undefined);
    },
  };
}
