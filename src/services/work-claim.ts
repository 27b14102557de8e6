// Background work done once across nodes: before a node deletes, rotates or expires an item, it
// claims the item in the shared store; the others skip it. A node that dies mid-item holds it only
// until the lease ends, then the next round of any node takes it over. A claim is released when the
// item is done or fails (a failure is retried by whichever node's round comes next).

import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { MetadataStore } from '../ports/store.js';

/** This process, as a claimant: one keybridge process is one node (tests name several nodes in one process: compose's `node`). */
export const NODE_ID = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;

/** Far longer than one item takes (a few HSM calls, each bounded by its call deadline). */
export const WORK_LEASE_MS = 5 * 60_000;

/**
 * A cluster member's resync (whileHoldingClaim renews it while it runs): short, so a node killed
 * mid-resync holds the member up for seconds, not minutes.
 */
export const RESYNC_LEASE_MS = 15_000;

/**
 * Runs `work` when this node claims `item` and `stillDue` — read after claiming, as another node
 * may have finished the item since this round listed it — says it is still to be done. Resolves
 * `undefined` when another node holds it or it is no longer due. `owner` is this node.
 */
export async function onceAcrossNodes<T>(
  store: MetadataStore,
  item: string,
  now: number,
  stillDue: () => Promise<boolean>,
  work: () => Promise<T>,
  owner: string = NODE_ID,
): Promise<T | undefined> {
  if (!(await store.claimWork(item, owner, now, WORK_LEASE_MS))) return undefined;
  try {
    if (!(await stillDue())) return undefined;
    return await work();
  } finally {
    // Not releasing would only delay a retry until the lease ends; nothing to report.
    await store.releaseWork(item, owner).catch(() => undefined);
  }
}

/** How long a first-start claim is held at most (a node that dies holding it blocks the others this long). */
const FIRST_START_LEASE_MS = 60_000;
const FIRST_START_POLL_MS = 200;

/**
 * Runs `work` holding `item`'s claim, waiting while another node holds it: work that must not run
 * on two nodes at once, such as creating the HSM's internal keys on a fresh token (two nodes would
 * each create one under the same id). `work` must be idempotent — it runs on every node, one
 * after another, and finds what the first one made. `owner` is this node (tests name several).
 */
export async function exclusivelyAcrossNodes<T>(
  store: MetadataStore,
  item: string,
  work: () => Promise<T>,
  { owner = NODE_ID, now = Date.now }: { readonly owner?: string; readonly now?: () => number } = {},
): Promise<T> {
  const giveUpAt = now() + 2 * FIRST_START_LEASE_MS;
  while (!(await store.claimWork(item, owner, now(), FIRST_START_LEASE_MS))) {
    if (now() > giveUpAt) throw new Error(`another keybridge node has held "${item}" for more than ${(2 * FIRST_START_LEASE_MS) / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, FIRST_START_POLL_MS));
  }
  try {
    return await work();
  } finally {
    await store.releaseWork(item, owner).catch(() => undefined);
  }
}

/**
 * Runs `work` when this node claims `item` now, renewing the claim while it runs (work that may
 * outlast any fixed lease, such as seeding a replaced cluster member with every key); resolves
 * `{ ran: false }` at once when another node holds it — for work the caller simply tries again
 * later. A node that dies mid-work leaves the claim to lapse after `leaseMs`.
 */
export async function whileHoldingClaim<T>(
  store: MetadataStore,
  item: string,
  work: () => Promise<T>,
  { owner = NODE_ID, leaseMs = WORK_LEASE_MS, now = Date.now }: { readonly owner?: string; readonly leaseMs?: number; readonly now?: () => number } = {},
): Promise<{ readonly ran: true; readonly value: T } | { readonly ran: false }> {
  if (!(await store.claimWork(item, owner, now(), leaseMs))) return { ran: false };
  // The same owner claiming again moves its lease on (claimWork's contract).
  const renew = setInterval(() => void store.claimWork(item, owner, now(), leaseMs).catch(() => undefined), leaseMs / 3);
  try {
    return { ran: true, value: await work() };
  } finally {
    clearInterval(renew);
    await store.releaseWork(item, owner).catch(() => undefined);
  }
}
