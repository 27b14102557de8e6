// Background work done once across nodes: before a node deletes, rotates or expires an item, it
// claims the item in the shared store; the others skip it. A node that dies mid-item holds it only
// until the lease ends, then the next round of any node takes it over. A claim is released when the
// item is done or fails (a failure is retried by whichever node's round comes next).

import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { MetadataStore } from '../ports/store.js';

/** This process, as a claimant: one keybridge process is one node. */
export const NODE_ID = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;

/** Far longer than one item takes (a few HSM calls, each bounded by its call deadline). */
export const WORK_LEASE_MS = 5 * 60_000;

/**
 * Runs `work` when this node claims `item` and `stillDue` — read after claiming, as another node
 * may have finished the item since this round listed it — says it is still to be done. Resolves
 * `undefined` when another node holds it or it is no longer due.
 */
export async function onceAcrossNodes<T>(
  store: MetadataStore,
  item: string,
  now: number,
  stillDue: () => Promise<boolean>,
  work: () => Promise<T>,
): Promise<T | undefined> {
  if (!(await store.claimWork(item, NODE_ID, now, WORK_LEASE_MS))) return undefined;
  try {
    if (!(await stillDue())) return undefined;
    return await work();
  } finally {
    // Not releasing would only delay a retry until the lease ends; nothing to report.
    await store.releaseWork(item, NODE_ID).catch(() => undefined);
  }
}
