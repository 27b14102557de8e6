// AuditTrail: the durable, hash-chained CloudTrail log: <dataDir>/audit.db with the embedded SQLite
// store (sqlite-writer.ts), or the shared PostgreSQL database with that store (postgres/writer.ts:
// one chain for every node of the deployment).
//
// Contract: append() resolves only after the record is committed durably (SQLite: WAL with
// synchronous=FULL; PostgreSQL: the commit's WAL flush) and rejects when it could not be written. The HTTP layer answers a request
// only after its record's append resolved, and fails the request when it rejects (audit fails
// closed, like openbao's audit devices).
//
// Group commit: appends are queued. While the writer commits one batch, everything that
// arrives joins the next batch; appends made in the same event-loop turn as an idle writer are
// collected by one setImmediate before they are sent. N concurrent requests therefore cost a
// handful of fsyncs (or PostgreSQL commits), not N. A failed batch rejects every append in it and
// changes nothing (one transaction); later batches are tried again, so a full disk fails requests only
// while it is full.
//
// Records are serialised on the caller's side of the queue, so a record that cannot be
// serialised fails only its own append, never a batch.
//
// Signed digests (digest.ts): with a signer, a digest of the chain head is signed here (the HSM is
// on this thread) and stored by the writer every digestIntervalSeconds (unref'd timer), at open
// when records were left unsigned, before prune() and at close(); never when nothing was appended
// since the last one. Digests are made one at a time. A digest that cannot be signed is logged
// and retried at the next interval: it never fails requests (their records are already durable).

import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { ApiCallInput, CloudTrailEvent, ServiceEventInput } from './event.js';
import { buildApiCallEvent, buildIntentEvent, buildServiceEvent, buildServiceIntentEvent } from './record.js';
import { DIGEST_VERSION, digestText, type DigestSigner } from './digest.js';
import { PostgresAuditWriter } from './postgres/writer.js';
import type { PostgresConnectionOptions } from '../store/postgres/connection.js';
import { SqliteAuditWriter } from './sqlite-writer.js';
import { AuditWriteError, type AuditWriter } from './writer.js';
import type { RetentionOptions } from './writer-protocol.js';

export type { RetentionOptions } from './writer-protocol.js';
export { AuditWriteError } from './writer.js';

export interface AuditTrailOptions {
  /** The SQLite database file, normally <dataDir>/audit.db (its directory must exist); unused with `postgres`. */
  readonly path?: string;
  /** The shared PostgreSQL database instead of a file: one chain for every node that writes to it. */
  readonly postgres?: PostgresConnectionOptions;
  /** With `postgres`: this node's name, kept beside each record it writes (default: host:pid). */
  readonly node?: string;
  readonly retention?: RetentionOptions;
  readonly logger: Logger;
  /** Signs digests of the chain; without one the trail is unsigned (tools and tests). */
  readonly signer?: DigestSigner;
  /** Seconds between periodic digests (config audit.digestIntervalSeconds). Default 300. */
  readonly digestIntervalSeconds?: number;
}

export const DEFAULT_DIGEST_INTERVAL_SECONDS = 300;

export interface AuditTrailStats {
  /** Records committed since open. */
  readonly appended: number;
  /** Append transactions committed or attempted since open (one per batch). */
  readonly transactions: number;
  readonly largestBatch: number;
}

interface Pending {
  readonly text: string;
  readonly time: number;
  resolve(): void;
  reject(err: Error): void;
}

/** Appends per transaction at most; bounds the message size and the time one commit holds the lock. */
const MAX_BATCH = 5000;

export class AuditTrail {
  readonly #writer: AuditWriter;
  readonly #logger: Logger;
  #queue: Pending[] = [];
  #inFlight = false;
  #scheduled = false;
  /** Set when the writer is gone for good; every later append rejects with it. */
  #dead: AuditWriteError | undefined;
  #closing = false;
  #appended = 0;
  #transactions = 0;
  #largestBatch = 0;
  readonly #signer: DigestSigner | undefined;
  /** The digest being made, if any: digests are made one after another. */
  #digesting: Promise<unknown> = Promise.resolve();
  #digestTimer: NodeJS.Timeout | undefined;

  private constructor(writer: AuditWriter, logger: Logger, signer: DigestSigner | undefined) {
    this.#writer = writer;
    this.#logger = logger;
    this.#signer = signer;
    writer.onDead((err) => {
      if (this.#dead) return;
      this.#dead = err;
      for (const p of this.#queue.splice(0)) p.reject(err);
    });
  }

  /** Opens (creating and migrating) the audit database: the SQLite file at `path`, or `postgres`. */
  static async open(options: AuditTrailOptions): Promise<AuditTrail> {
    const retention = options.retention ?? {};
    checkRetention(retention);
    const interval = options.digestIntervalSeconds ?? DEFAULT_DIGEST_INTERVAL_SECONDS;
    if (!(Number.isFinite(interval) && interval > 0)) throw new RangeError(`audit digestIntervalSeconds must be a positive number, got ${interval}`);
    const signed = options.signer !== undefined;
    let writer: AuditWriter;
    if (options.postgres) {
      writer = await PostgresAuditWriter.open({
        connection: options.postgres, retention, signed, logger: options.logger, node: options.node ?? `${hostname()}:${process.pid}`,
      });
    } else if (options.path !== undefined) {
      writer = await SqliteAuditWriter.open({ path: options.path, retention, signed, logger: options.logger });
    } else {
      throw new TypeError('AuditTrail.open needs a path or a postgres connection');
    }
    const trail = new AuditTrail(writer, options.logger, options.signer);
    if (options.signer) {
      // Records a crash left unsigned are signed now rather than an interval later.
      await trail.#periodicDigest();
      trail.#digestTimer = setInterval(() => void trail.#periodicDigest(), interval * 1000);
      trail.#digestTimer.unref();
    }
    return trail;
  }

  /** Durably appends one event. Rejects with AuditWriteError when it could not be written. */
  append(event: CloudTrailEvent): Promise<void> {
    if (this.#dead) return Promise.reject(this.#dead);
    if (this.#closing) return Promise.reject(new AuditWriteError('the audit trail is closed'));
    let text: string;
    let time: number;
    try {
      text = JSON.stringify(event);
      time = Date.parse(event.eventTime);
      if (!Number.isFinite(time)) throw new Error(`eventTime ${JSON.stringify(event.eventTime)} is not a date`);
    } catch (err) {
      return Promise.reject(new AuditWriteError(`audit record not serialisable: ${(err as Error).message}`));
    }
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ text, time, resolve, reject });
      this.#schedule();
    });
  }

  /** Builds the record for one finished API call and appends it. */
  recordApiCall(input: ApiCallInput): Promise<void> {
    return this.append(buildApiCallEvent(input));
  }

  /**
   * Durably appends the intent record of a mutating call (operation-rules.ts needsIntent) BEFORE
   * the call runs; the caller runs it only if this resolves, and records the outcome with
   * recordApiCall (same requestId) afterwards. An intent without an outcome marks a change whose
   * result is unknown (the process died, or the outcome could not be written).
   */
  recordIntent(input: ApiCallInput): Promise<void> {
    return this.append(buildIntentEvent(input));
  }

  /**
   * Durably appends the intent of a KMS-initiated action BEFORE keybridge takes it; `input.eventId`
   * is the id its outcome (serviceEvent) will carry.
   */
  serviceIntent(input: ServiceEventInput & { readonly eventId: string }): Promise<void> {
    return this.append(buildServiceIntentEvent(input));
  }

  /** Builds a KMS-initiated event (the deletion sweeper's DeleteKey) and appends it. */
  serviceEvent(input: ServiceEventInput): Promise<void> {
    return this.append(buildServiceEvent(input));
  }

  /**
   * Applies the retention limits now (the writer also applies them after appends). Resolves to the
   * records removed. A signed trail first signs a digest of its head, and then cuts only at a
   * digest's head (writer-worker.ts), so fewer records than the limits ask may be removed.
   */
  async prune(now = Date.now()): Promise<number> {
    if (this.#signer) await this.#periodicDigest();
    if (this.#dead) throw this.#dead;
    return this.#writer.prune(now);
  }

  /**
   * Signs and stores a digest of the chain's head now. Resolves true when one was stored, false
   * when there is no signer or nothing was appended since the last digest; rejects when the HSM
   * could not sign or the writer could not store it.
   */
  digest(now = new Date()): Promise<boolean> {
    const run = this.#digesting.then(() => this.#makeDigest(now));
    this.#digesting = run.catch(() => undefined);
    return run;
  }

  async #makeDigest(now: Date): Promise<boolean> {
    const signer = this.#signer;
    if (!signer || this.#dead) return false;
    const state = await this.#writer.digestState();
    if (state.headSeq <= state.lastDigestHeadSeq || state.records === 0) return false;
    const text = digestText({
      version: DIGEST_VERSION,
      headSeq: state.headSeq,
      headHash: state.headHash,
      previousDigestSignature: state.previousSignature,
      digestTime: now.toISOString(),
      anchor: state.anchor,
      records: state.records,
      keyFingerprint: signer.keyFingerprint,
    });
    const signature = await signer.sign(Buffer.from(text, 'utf8'));
    // false: another node stored a digest of the shared chain meanwhile; the next interval covers what this one would have.
    return this.#writer.storeDigest({
      text, signature, headSeq: state.headSeq, headHash: state.headHash, digestTime: now.getTime(), previousSignature: state.previousSignature,
    });
  }

  /** A digest whose failure is logged, not thrown (timer, open, prune, close). */
  async #periodicDigest(): Promise<void> {
    try {
      await this.digest();
    } catch (err) {
      this.#logger.error({ err: { message: (err as Error).message, code: (err as { code?: unknown }).code } }, 'audit digest could not be signed or stored; retried at the next interval');
    }
  }

  get stats(): AuditTrailStats {
    return { appended: this.#appended, transactions: this.#transactions, largestBatch: this.#largestBatch };
  }

  /** Commits everything queued, then closes the database (and stops the writer thread). */
  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    while (!this.#dead && (this.#queue.length > 0 || this.#inFlight)) {
      await new Promise((resolve) => setImmediate(resolve));
    }
    if (this.#digestTimer) clearInterval(this.#digestTimer);
    // The final digest covers everything appended, so a cleanly stopped trail ends signed.
    if (this.#signer) await this.#periodicDigest();
    if (this.#dead) return;
    await this.#writer.close();
  }

  #schedule(): void {
    if (this.#inFlight || this.#scheduled) return;
    this.#scheduled = true;
    // Let every append of this event-loop turn join the batch.
    setImmediate(() => {
      this.#scheduled = false;
      this.#flush();
    });
  }

  #flush(): void {
    if (this.#inFlight || this.#queue.length === 0 || this.#dead) return;
    const batch = this.#queue.splice(0, MAX_BATCH);
    this.#inFlight = true;
    this.#transactions += 1;
    this.#largestBatch = Math.max(this.#largestBatch, batch.length);
    this.#writer.append(batch.map((p) => p.text), batch.map((p) => p.time)).then(
      () => {
        this.#appended += batch.length;
        for (const p of batch) p.resolve();
      },
      (err: Error) => {
        this.#logger.error({ err: { message: err.message, code: (err as AuditWriteError).code }, records: batch.length }, 'audit records could not be written; their requests fail');
        for (const p of batch) p.reject(err);
      },
    ).finally(() => {
      this.#inFlight = false;
      // Whatever arrived during the commit is the next batch: send it at once.
      this.#flush();
    });
  }
}

function checkRetention(r: RetentionOptions): void {
  if (r.maxAgeDays !== undefined && !(Number.isFinite(r.maxAgeDays) && r.maxAgeDays > 0)) {
    throw new RangeError(`audit retention maxAgeDays must be a positive number, got ${r.maxAgeDays}`);
  }
  if (r.maxRecords !== undefined && !(Number.isSafeInteger(r.maxRecords) && r.maxRecords > 0)) {
    throw new RangeError(`audit retention maxRecords must be a positive integer, got ${r.maxRecords}`);
  }
}
