// The audit writer of one node: its SQLite file (normally <dataDir>/audit.db), written by a
// dedicated thread (writer-worker.ts) so that a commit's fsync never stalls the event loop.
//
// Requests go to the thread as messages with an id; its replies settle them. When the thread dies,
// every pending and later call rejects, and onDead listeners are told once.

import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { AuditWriteError, type AuditWriter, type DigestState, type DigestToStore } from './writer.js';
import type { RetentionOptions, WriterReply, WriterRequest } from './writer-protocol.js';

type Request = WriterRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

export class SqliteAuditWriter implements AuditWriter {
  readonly #worker: Worker;
  readonly #logger: Logger;
  #nextId = 1;
  readonly #calls = new Map<number, { resolve(value: never): void; reject(err: Error): void }>();
  /** Set when the writer thread is gone; every later call rejects with it. */
  #dead: AuditWriteError | undefined;
  #closing = false;
  readonly #deathListeners: Array<(err: AuditWriteError) => void> = [];

  private constructor(worker: Worker, logger: Logger) {
    this.#worker = worker;
    this.#logger = logger;
  }

  /** Opens (creating, mode 0600, and migrating) the audit database and starts its writer thread. */
  static async open(options: { path: string; retention: RetentionOptions; signed: boolean; logger: Logger }): Promise<SqliteAuditWriter> {
    const worker = new Worker(new URL('./writer-worker.js', import.meta.url), {
      workerData: { path: options.path, retention: options.retention, signed: options.signed },
    });
    let onMessage: (reply: WriterReply) => void = () => {};
    let onError: (err: Error) => void = () => {};
    let onExit: (code: number) => void = () => {};
    const first = await new Promise<WriterReply>((resolve, reject) => {
      onMessage = resolve;
      onError = reject;
      onExit = (code) => reject(new AuditWriteError(`audit writer exited during start-up (code ${code})`));
      worker.on('message', onMessage).on('error', onError).on('exit', onExit);
    }).finally(() => {
      // Only our own listeners: Worker keeps internal ones (removeAllListeners would break messaging).
      worker.off('message', onMessage).off('error', onError).off('exit', onExit);
    });
    if (first.kind === 'open-failed') {
      await worker.terminate();
      throw new AuditWriteError(`cannot open the audit trail ${options.path}: ${first.message}`, first.code);
    }
    const writer = new SqliteAuditWriter(worker, options.logger);
    writer.#listen();
    worker.unref();
    return writer;
  }

  append(texts: readonly string[], times: readonly number[]): Promise<number> {
    return this.#call<number>({ kind: 'append', texts, times });
  }

  digestState(): Promise<DigestState> {
    return this.#call<DigestState>({ kind: 'digest-state' });
  }

  async storeDigest(digest: DigestToStore): Promise<boolean> {
    return (await this.#call<number>({ kind: 'store-digest', ...digest })) > 0;
  }

  prune(now: number): Promise<number> {
    return this.#call<number>({ kind: 'prune', now });
  }

  async close(): Promise<void> {
    if (this.#dead || this.#closing) return;
    this.#closing = true;
    const exited = new Promise<void>((resolve) => this.#worker.once('exit', () => resolve()));
    await this.#call({ kind: 'close' });
    this.#worker.ref(); // keep the process alive until the thread has really exited
    await exited;
  }

  onDead(listener: (err: AuditWriteError) => void): void {
    this.#deathListeners.push(listener);
  }

  #call<T = number>(req: Request): Promise<T> {
    if (this.#dead) return Promise.reject(this.#dead);
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      this.#calls.set(id, { resolve, reject });
      this.#worker.ref();
      this.#worker.postMessage({ ...req, id } as WriterRequest);
    });
  }

  #listen(): void {
    this.#worker.on('message', (reply: WriterReply) => {
      if (reply.kind === 'retention-failed') {
        this.#logger.error({ err: { message: reply.message, code: reply.code } }, 'audit retention failed; records are kept and retention is retried');
        return;
      }
      if (reply.kind !== 'done') return;
      const call = this.#calls.get(reply.id);
      if (!call) return;
      this.#calls.delete(reply.id);
      if (this.#calls.size === 0) this.#worker.unref();
      if (reply.ok) call.resolve(reply.value as never);
      else call.reject(new AuditWriteError(`audit write failed: ${reply.message}`, reply.code));
    });
    const die = (err: AuditWriteError) => {
      if (this.#dead) return;
      this.#dead = err;
      if (!this.#closing) this.#logger.error({ err: { message: err.message } }, 'audit writer stopped; every request fails until restart');
      for (const call of this.#calls.values()) call.reject(err);
      this.#calls.clear();
      for (const listener of this.#deathListeners) listener(err);
    };
    this.#worker.on('error', (err) => die(new AuditWriteError(`audit writer failed: ${err.message}`)));
    this.#worker.on('exit', (code) => die(new AuditWriteError(`audit writer exited (code ${code})`)));
  }
}
