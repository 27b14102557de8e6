// Messages between SqliteAuditWriter (main thread) and its writer thread (writer-worker.ts). The
// writer replies 0 to a store-digest whose previousSignature is no longer the latest (nothing stored).

import type { DigestState, DigestToStore } from './writer.js';

export interface RetentionOptions {
  /** Records whose eventTime is older than this many days are removed. */
  readonly maxAgeDays?: number;
  /** At most this many records are kept; the oldest beyond it are removed. */
  readonly maxRecords?: number;
}

export interface StoreDigestRequest extends DigestToStore {
  readonly kind: 'store-digest';
  readonly id: number;
}

export type WriterRequest =
  | { readonly kind: 'append'; readonly id: number; readonly texts: readonly string[]; readonly times: readonly number[] }
  | { readonly kind: 'digest-state'; readonly id: number }
  | StoreDigestRequest
  | { readonly kind: 'prune'; readonly id: number; readonly now: number }
  | { readonly kind: 'close'; readonly id: number };

export type WriterReply =
  | { readonly kind: 'ready'; readonly headSeq: number }
  | { readonly kind: 'open-failed'; readonly message: string; readonly code?: string }
  | { readonly kind: 'retention-failed'; readonly message: string; readonly code?: string }
  | { readonly kind: 'done'; readonly id: number; readonly ok: true; readonly value: number | DigestState }
  | { readonly kind: 'done'; readonly id: number; readonly ok: false; readonly message: string; readonly code?: string };
