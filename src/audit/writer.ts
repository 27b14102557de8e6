// Where the audit trail's records are committed: what AuditTrail (audit-store.ts) needs from an
// engine. Two implement it: the SQLite file of one node (sqlite-writer.ts, a writer thread) and the
// PostgreSQL database that several nodes share (postgres/writer.ts, one chain for the deployment).
//
// Every method commits all of its change or none of it; a rejected append changed nothing and the
// next one chains onto the same head.

/** An append that could not be made durable. The request it belongs to must fail. */
export class AuditWriteError extends Error {
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
    this.name = 'AuditWriteError';
  }
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

/** A digest signed on the caller's side (digest.ts), to be stored after the chain's latest one. */
export interface DigestToStore {
  readonly text: string;
  readonly signature: Uint8Array;
  readonly headSeq: number;
  readonly headHash: string;
  readonly digestTime: number;
  /** The previousDigestSignature the text was signed with. */
  readonly previousSignature: string | null;
}

export interface AuditWriter {
  /** Chains the records (serialised events; their eventTime in epoch ms) onto the head in one transaction; resolves to the new head seq. */
  append(texts: readonly string[], times: readonly number[]): Promise<number>;
  /** Where the chain stands for the next digest. */
  digestState(): Promise<DigestState>;
  /**
   * Stores the digest if it still follows the latest stored one. Resolves false, storing nothing,
   * when another digest was stored since `previousSignature` was read (another node signed first).
   */
  storeDigest(digest: DigestToStore): Promise<boolean>;
  /** Applies the retention limits now; resolves to the records removed. */
  prune(now: number): Promise<number>;
  /** Finishes and releases the engine; nothing may be called afterwards. */
  close(): Promise<void>;
  /** `listener` is told once if the writer stops for good (every later call rejects with that error). */
  onDead(listener: (err: AuditWriteError) => void): void;
}
