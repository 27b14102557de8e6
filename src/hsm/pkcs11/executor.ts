// The main-thread side of the HSM executor: for one token (one cluster member), a pool of worker
// threads (worker.ts) that each own a PKCS#11 session and run one whole job at a time, a FIFO queue
// of jobs waiting for a free worker, and the deadlines.
//
// Why: pkcs11js' C_*Init, C_FindObjects*, C_GenerateRandom, C_Login and C_OpenSession are
// synchronous. On the event loop, a network HSM's round trip on each of them stalls every request
// and a hung device freezes the process. Here the main thread only posts jobs and keeps time:
// - a job waiting longer than queueTimeoutMs for a worker fails with HSM_BUSY;
// - a job running longer than callTimeoutMs fails with HSM_TIMEOUT (DependencyTimeoutException),
//   in time our event loop was free to read its answer (loop-deadline.ts: a stall of ours is not the device's),
//   and its worker is written off: terminated (the thread ends once the device returns, if ever),
//   its session counted as lost, and a new worker takes its place — within the token's limit, which
//   the written-off workers still hold until they really end, so a device that hangs every call
//   cannot make us start threads without bound.
// Workers start on demand, up to `size`, so an idle member costs one thread.
// Around a re-initialisation of the library (module.ts) the executor is a ModuleUser: suspend()
// holds new jobs in the queue (their queue deadline still runs) and has every worker close its
// sessions once its job is done (the threads stay); one of them may run the re-initialisation;
// resume() has them open new sessions and log in afresh, and serves the queue.

import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';

import type { Logger } from 'pino';

import { HsmError } from '../../ports/hsm.js';
import { loopDeadline, type LoopDeadline } from '../loop-deadline.js';
import { CKR } from './ckr.js';
import type { ModuleUser } from './module.js';
import { errorFromWire, fromWire, toWire, type FromWorker, type TokenMethod, type ToWorker, type WorkerInit } from './wire.js';

const WORKER_URL = new URL('./worker.js', import.meta.url);
const DEFAULT_OPEN_TIMEOUT_MS = 15_000;
const DEFAULT_CLOSE_TIMEOUT_MS = 5_000;
// After a worker failed to open (token gone, session limit), wait this long before starting another.
const SPAWN_RETRY_MS = 1_000;

export interface ExecutorOptions {
  /** Names the token in errors and logs (the member or token label). */
  readonly name: string;
  readonly init: WorkerInit;
  /** At most this many workers (so sessions: each holds one work session and one login anchor). */
  readonly size: number;
  /** How long a job waits for a free worker before HSM_BUSY. */
  readonly queueTimeoutMs: number;
  /** How long a job may run in its worker before it fails and the worker is written off. */
  readonly callTimeoutMs: number;
  readonly openTimeoutMs?: number;
  readonly closeTimeoutMs?: number;
  readonly logger?: Logger | undefined;
}

export interface ExecutorStats {
  /** Workers open (ready or running a job). */
  readonly open: number;
  readonly idle: number;
  /** Workers running a job. */
  readonly leased: number;
  /** Jobs waiting for a worker. */
  readonly waiting: number;
  /** Workers opening their session (loading the library, logging in). */
  readonly starting: number;
  readonly limit: number;
  /** Workers written off after a deadline whose threads have not ended yet (their sessions are lost). */
  readonly lost: number;
  /** The highest login generation a worker reported (see SessionPool.generation). */
  readonly generation: number;
}

interface Job {
  readonly id: number;
  readonly method: TokenMethod;
  readonly args: readonly unknown[];
  readonly timeoutMs: number;
  readonly resolve: (value: unknown) => void;
  readonly reject: (err: HsmError) => void;
  deadline: LoopDeadline | undefined;
}

interface Thread {
  readonly worker: Worker;
  state: 'starting' | 'idle' | 'busy' | 'closing' | 'suspended';
  job: Job | undefined;
  startedAt: number;
  onReady: ((outcome: FromWorker) => void) | undefined;
  onClosed: (() => void) | undefined;
  // The answer to a control message ('suspended', 'reinitialized').
  onControl: ((outcome: FromWorker) => void) | undefined;
}

export class HsmExecutor implements ModuleUser {
  private readonly threads = new Set<Thread>();
  private readonly lost = new Set<Worker>();
  private readonly queue: Job[] = [];
  private nextId = 1;
  private budget: number;
  private generation = 0;
  private spawnAfter = 0;
  private suspended = false;
  private closed = false;
  private closing: Promise<void> | undefined;

  /** Starts nothing yet: open() starts the first worker (attach the executor to its module in between). */
  constructor(private readonly options: ExecutorOptions) {
    if (!Number.isInteger(options.size) || options.size < 1) throw new TypeError('the executor size must be a positive integer');
    this.budget = options.size;
  }

  /**
   * Starts the first worker and waits until it has opened its session and logged in. Resolves with
   * whether that worker's C_Initialize was the process's first (the caller counts it). Throws the
   * worker's HsmError (HSM_TOKEN_NOT_FOUND, HSM_LOGIN_FAILED, …), or HSM_UNAVAILABLE when the open
   * does not finish within openTimeoutMs — the worker is then written off, the process unharmed.
   */
  async open(): Promise<{ initializedByUs: boolean }> {
    const ready = await this.spawn();
    if (ready.kind !== 'ready') {
      throw ready.kind === 'open-failed'
        ? errorFromWire(ready.error)
        : new HsmError('HSM_UNAVAILABLE', `the PKCS#11 token ${this.options.name} did not open within ${this.options.openTimeoutMs ?? DEFAULT_OPEN_TIMEOUT_MS} ms`);
    }
    return { initializedByUs: ready.initializedByUs };
  }

  /** Written-off workers whose threads have not ended: calls the device may still be running. */
  held(): number {
    return this.lost.size;
  }

  /** Jobs wait in the queue while the library is re-initialised beneath this executor. */
  get paused(): boolean {
    return this.suspended;
  }

  /**
   * Holds new jobs in the queue, waits for the running ones (each bounded by its own deadline: a job
   * past it is written off and shows in held()) and for workers still opening, then has every worker
   * close its sessions without logging out (the threads stay). Resolves once no worker of ours is
   * inside the library.
   */
  async suspend(): Promise<void> {
    if (this.closed) return;
    this.suspended = true;
    while ([...this.threads].some((t) => t.state === 'busy' || t.state === 'starting')) {
      await new Promise((resolve) => setTimeout(resolve, 2));
      if (this.closed) return;
    }
    const deadline = performance.now() + (this.options.closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS);
    const idle = [...this.threads].filter((t) => t.state === 'idle');
    await Promise.all(
      idle.map(async (thread) => {
        thread.state = 'suspended';
        const answer = await this.control(thread, { kind: 'suspend' }, deadline - performance.now(), 'did not close its sessions in time');
        if (answer === undefined) this.options.logger?.warn('pkcs11 worker did not suspend in time');
      }),
    );
  }

  /**
   * Runs C_Finalize + C_Initialize in one of this executor's suspended workers (for every user of
   * the library). False when it has none; throws HsmError when the library fails or does not answer
   * within the open deadline (that worker is then written off).
   */
  async reinitializeLibrary(): Promise<boolean> {
    const thread = [...this.threads].find((t) => t.state === 'suspended');
    if (thread === undefined) return false;
    const timeoutMs = this.options.openTimeoutMs ?? DEFAULT_OPEN_TIMEOUT_MS;
    const answer = await this.control(thread, { kind: 'reinitialize' }, timeoutMs, `did not re-initialise the library within ${timeoutMs} ms`);
    if (answer === undefined) throw new HsmError('HSM_UNAVAILABLE', `the PKCS#11 library did not re-initialise within ${timeoutMs} ms`);
    if (answer.kind === 'reinitialized' && answer.error !== undefined) throw errorFromWire(answer.error);
    return true;
  }

  /** Has the suspended workers open new sessions (new login, empty handle cache) and runs the jobs that waited. */
  resume(): void {
    if (!this.suspended) return;
    this.suspended = false;
    this.spawnAfter = 0;
    if (this.closed) return;
    const suspended = [...this.threads].filter((t) => t.state === 'suspended');
    for (const thread of suspended) this.reopen(thread);
    // One warm worker even with none to reopen, as after open(); the queue starts more on demand.
    if (suspended.length === 0 && this.threads.size + this.lost.size < this.budget) void this.spawn();
    this.dispatch();
  }

  /** Posts a control message and waits for its answer; on a timeout the worker is written off (undefined). */
  private control(thread: Thread, message: ToWorker, timeoutMs: number, why: string): Promise<FromWorker | undefined> {
    return new Promise((resolve) => {
      const deadline = loopDeadline(Math.max(100, timeoutMs), () => {
        thread.onControl = undefined;
        this.writeOff(thread, why);
        resolve(undefined);
      });
      thread.onControl = (answer) => {
        deadline.clear();
        thread.onControl = undefined;
        resolve(answer);
      };
      thread.worker.postMessage(message);
    });
  }

  /** A suspended worker opens its token again: 'ready' (or 'open-failed') as after spawn(). */
  private reopen(thread: Thread): void {
    thread.state = 'starting';
    thread.startedAt = performance.now();
    const openTimeoutMs = this.options.openTimeoutMs ?? DEFAULT_OPEN_TIMEOUT_MS;
    const deadline = loopDeadline(openTimeoutMs, () => this.writeOff(thread, `did not reopen within ${openTimeoutMs} ms`));
    thread.onReady = () => {
      deadline.clear();
      thread.onReady = undefined;
    };
    thread.worker.postMessage({ kind: 'resume' } satisfies ToWorker);
  }

  /** Workers this executor may run (the session budget): cheap, for the per-call concurrency limit. */
  get limit(): number {
    return this.budget;
  }

  stats(): ExecutorStats {
    let open = 0;
    let idle = 0;
    let leased = 0;
    let starting = 0;
    for (const thread of this.threads) {
      if (thread.state === 'starting') starting += 1;
      if (thread.state === 'idle') idle += 1;
      if (thread.state === 'busy') leased += 1;
      if (thread.state === 'idle' || thread.state === 'busy') open += 1;
    }
    return { open, idle, leased, waiting: this.queue.length, starting, limit: this.budget, lost: this.lost.size, generation: this.generation };
  }

  /**
   * Runs `method` of the worker's Pkcs11Token with `args` (Buffers are copied, never detached),
   * allowing it `timeoutMs` in the device (callTimeoutMs unless given). Rejects only with HsmError.
   */
  run<T>(method: TokenMethod, args: readonly unknown[], timeoutMs = this.options.callTimeoutMs): Promise<T> {
    if (this.closed) return Promise.reject(closedError());
    return new Promise<T>((resolve, reject) => {
      const job: Job = { id: this.nextId++, method, args, timeoutMs, resolve: resolve as (value: unknown) => void, reject, deadline: undefined };
      job.deadline = loopDeadline(this.options.queueTimeoutMs, () => {
        const at = this.queue.indexOf(job);
        if (at < 0) return;
        this.queue.splice(at, 1);
        reject(new HsmError('HSM_BUSY', `no PKCS#11 session became free within ${this.options.queueTimeoutMs} ms`));
      });
      this.queue.push(job);
      this.dispatch();
    });
  }

  /**
   * Stops taking jobs (queued ones fail), lets running jobs finish (bounded by closeTimeoutMs; the
   * rest are written off), then closes every worker's sessions. The last worker logs out and
   * finalizes the library when told — unless a written-off worker may still be inside the library,
   * where C_Finalize would pull it from under that thread. Idempotent.
   */
  close(teardown: { logout: boolean; finalize: boolean }): Promise<void> {
    this.closing ??= this.shutdown(teardown);
    return this.closing;
  }

  private async shutdown(teardown: { logout: boolean; finalize: boolean }): Promise<void> {
    this.closed = true;
    for (const job of this.queue.splice(0)) {
      job.deadline?.clear();
      job.reject(closedError());
    }
    const deadline = performance.now() + (this.options.closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS);
    while ([...this.threads].some((t) => t.state === 'busy' || t.state === 'starting') && performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    for (const thread of [...this.threads]) {
      if (thread.state === 'busy' || thread.state === 'starting') this.writeOff(thread, 'still running at close');
    }
    const idle = [...this.threads];
    for (const [at, thread] of idle.entries()) {
      const last = at === idle.length - 1;
      const finalize = last && teardown.finalize && this.lost.size === 0;
      if (last && teardown.finalize && !finalize) {
        this.options.logger?.warn({ lost: this.lost.size }, 'pkcs11 library left initialised: a written-off worker may still be inside it');
      }
      await this.closeThread(thread, { logout: last && teardown.logout, finalize }, deadline);
    }
  }

  private closeThread(thread: Thread, teardown: { logout: boolean; finalize: boolean }, deadline: number): Promise<void> {
    thread.state = 'closing';
    return new Promise<void>((resolve) => {
      const closing = loopDeadline(Math.max(100, deadline - performance.now()), () => {
        this.writeOff(thread, 'did not close in time');
        resolve();
      });
      thread.onClosed = () => {
        closing.clear();
        resolve();
      };
      thread.worker.postMessage({ kind: 'close', ...teardown } satisfies ToWorker);
    });
  }

  /** Hands queued jobs to idle workers, oldest first, and starts workers while jobs wait. */
  private dispatch(): void {
    if (this.closed || this.suspended) return;
    for (const thread of this.threads) {
      if (this.queue.length === 0) return;
      if (thread.state === 'idle') this.start(thread, this.queue.shift()!);
    }
    let starting = 0;
    for (const thread of this.threads) if (thread.state === 'starting') starting += 1;
    while (this.queue.length > starting && this.threads.size + this.lost.size < this.budget && performance.now() >= this.spawnAfter) {
      void this.spawn();
      starting += 1;
    }
  }

  private start(thread: Thread, job: Job): void {
    job.deadline?.clear();
    thread.state = 'busy';
    thread.job = job;
    job.deadline = loopDeadline(job.timeoutMs, () => {
      if (thread.job !== job) return;
      thread.job = undefined;
      this.writeOff(thread, `a ${job.method} call did not finish within ${job.timeoutMs} ms`);
      job.reject(new HsmError('HSM_TIMEOUT', `the PKCS#11 token ${this.options.name} did not answer within ${job.timeoutMs} ms`));
      this.dispatch();
    });
    const transfer: ArrayBuffer[] = [];
    const args = toWire(job.args, transfer) as unknown[];
    thread.worker.postMessage({ kind: 'job', id: job.id, method: job.method, args } satisfies ToWorker, transfer);
  }

  /** Starts a worker; resolves with its first message ('ready' or 'open-failed'), or 'closed' on a timeout or crash. */
  private spawn(): Promise<FromWorker> {
    const worker = new Worker(WORKER_URL, { workerData: this.options.init });
    worker.unref();
    const thread: Thread = { worker, state: 'starting', job: undefined, startedAt: performance.now(), onReady: undefined, onClosed: undefined, onControl: undefined };
    this.threads.add(thread);
    return new Promise<FromWorker>((resolve) => {
      const openTimeoutMs = this.options.openTimeoutMs ?? DEFAULT_OPEN_TIMEOUT_MS;
      const deadline = loopDeadline(openTimeoutMs, () => {
        this.writeOff(thread, `did not open within ${openTimeoutMs} ms`);
        thread.onReady?.({ kind: 'closed' });
      });
      thread.onReady = (outcome) => {
        deadline.clear();
        thread.onReady = undefined;
        resolve(outcome);
      };
      worker.on('message', (message: FromWorker) => this.received(thread, message));
      worker.on('error', (err) => this.options.logger?.error({ err }, 'pkcs11 worker failed'));
      worker.on('exit', () => this.exited(thread));
    });
  }

  private received(thread: Thread, message: FromWorker): void {
    switch (message.kind) {
      case 'log':
        this.options.logger?.[message.level](message.fields, message.msg);
        return;
      case 'ready':
        // Each worker holds two sessions (its work session and its login anchor): a token that
        // allows N sessions in all runs at most N / 2 workers.
        this.budget = Math.max(1, Math.min(this.budget, Math.floor((message.tokenSessionLimit + 1) / 2)));
        if (thread.state === 'starting') thread.state = 'idle';
        thread.onReady?.(message);
        this.dispatch();
        return;
      case 'open-failed':
        this.openFailed(thread, message);
        return;
      case 'done':
      case 'failed': {
        this.generation = Math.max(this.generation, message.generation);
        const job = thread.job;
        if (job === undefined || job.id !== message.id) return; // written off meanwhile: its caller has its answer
        job.deadline?.clear();
        thread.job = undefined;
        if (thread.state === 'busy') thread.state = 'idle';
        if (message.kind === 'done') job.resolve(fromWire(message.value));
        else job.reject(errorFromWire(message.error));
        this.dispatch();
        return;
      }
      case 'closed':
        thread.onClosed?.();
        return;
      case 'suspended':
      case 'reinitialized':
        thread.onControl?.(message);
        return;
    }
  }

  private openFailed(thread: Thread, message: Extract<FromWorker, { kind: 'open-failed' }>): void {
    this.threads.delete(thread);
    void thread.worker.terminate();
    const error = errorFromWire(message.error);
    const others = [...this.threads].filter((t) => t.state !== 'starting').length;
    if (error.ckr === CKR.CKR_SESSION_COUNT && others > 0) {
      // The token allows fewer sessions than configured (other applications hold some): stay at
      // the workers we have.
      this.budget = others;
      this.options.logger?.warn({ limit: this.budget }, 'pkcs11 token session limit reached; executor shrunk');
    } else {
      this.spawnAfter = performance.now() + SPAWN_RETRY_MS;
      this.options.logger?.warn({ hsmError: error.code, ckr: error.ckr }, 'pkcs11 worker did not open');
      // Nobody left to run the queue: say why now instead of letting the jobs time out as "busy".
      // (Not while suspended: the jobs wait for the workers resume() starts.)
      if (others === 0 && !this.suspended) {
        for (const job of this.queue.splice(0)) {
          job.deadline?.clear();
          job.reject(error);
        }
      }
    }
    thread.onReady?.(message);
    this.dispatch();
  }

  /** The worker will not be waited for again; its thread ends whenever the device lets it. */
  private writeOff(thread: Thread, why: string): void {
    if (!this.threads.delete(thread)) return;
    this.lost.add(thread.worker);
    this.options.logger?.warn({ why }, 'pkcs11 worker written off; its session is lost');
    void thread.worker.terminate();
  }

  private exited(thread: Thread): void {
    this.lost.delete(thread.worker);
    if (this.threads.delete(thread)) {
      // Ended on its own (a crash in the library or in the worker): fail what it was doing.
      const job = thread.job;
      thread.job = undefined;
      if (job !== undefined) {
        job.deadline?.clear();
        job.reject(new HsmError('HSM_UNAVAILABLE', `the PKCS#11 worker of ${this.options.name} ended during a ${job.method} call`));
      }
      thread.onReady?.({ kind: 'closed' });
      thread.onClosed?.();
    }
    this.dispatch();
  }
}

function closedError(): HsmError {
  return new HsmError('HSM_UNAVAILABLE', 'the PKCS#11 session pool is closed');
}
