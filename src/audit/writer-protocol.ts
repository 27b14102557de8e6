// Messages between AuditTrail (main thread) and the writer thread (writer-worker.ts).

export interface RetentionOptions {
  /** Records whose eventTime is older than this many days are removed. */
  readonly maxAgeDays?: number;
  /** At most this many records are kept; the oldest beyond it are removed. */
  readonly maxRecords?: number;
}

/** Where the chain stands, for the next digest (digest.ts). */
export interface DigestState {
  readonly headSeq: number;
  readonly headHash: string;
  readonly anchor: { readonly seq: number; readonly hash: string } | null;
  /** Records between the anchor and the head. */
  readonly records: number;
  /** The latest stored digest: its headSeq (0 when none) and its signature in base64 (null when none). */
  readonly lastDigestHeadSeq: number;
  readonly previousSignature: string | null;
}

export interface StoreDigestRequest {
  readonly kind: 'store-digest';
  readonly id: number;
  readonly text: string;
  readonly signature: Uint8Array;
  readonly headSeq: number;
  readonly headHash: string;
  readonly digestTime: number;
  /** The previousDigestSignature the text was signed with; the writer stores nothing (value 0) if it is no longer the latest. */
  readonly previousSignature: string | null;
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
