// An executor worker thread: one Pkcs11Token with a session of its own, running one whole job at a
// time, synchronously, and posting the outcome back. Started by executor.ts with a WorkerInit.
//
// The library is loaded in this thread too (pkcs11js is one object per thread); C_Initialize here
// answers CKR_CRYPTOKI_ALREADY_INITIALIZED unless this is the process's first user, and this thread
// never logs out or finalizes on its own: the main thread counts the users and says so in 'close'.
// The key-handle cache and the IV reservoir are this worker's own (Pkcs11Token's fields).
// Around a re-initialisation of the library the worker closes its token ('suspend'), may run the
// C_Finalize + C_Initialize itself ('reinitialize'), and opens a new one ('resume'): the thread
// and its loaded library stay, so the pause costs sessions and a login, not a thread start.

import { parentPort, workerData } from 'node:worker_threads';

import type { Logger } from 'pino';

import { toHsmError } from './ckr.js';
import { acquireModule, describeModule, finalizeLocked, leaveTeardownToMainThread, reinitializeLocked, type ModuleLease } from './module.js';
import { Pkcs11Token } from './token.js';
import { TOKEN_METHODS, errorToWire, fromWire, toWire, type FromWorker, type ToWorker, type WorkerInit } from './wire.js';

const port = parentPort;
if (port === null) throw new Error('worker.ts runs only as an executor worker thread');
const init = workerData as WorkerInit;
const allowed: ReadonlySet<string> = new Set(TOKEN_METHODS);

function post(message: FromWorker, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(message, transfer);
}

// Log records go to the main thread's logger, whose bindings already name the component and the
// token (pino would print them twice if a child here added them again).
const BOUND_ON_MAIN: ReadonlySet<string> = new Set(['component', 'token']);

function logger(bindings: Record<string, unknown> = {}): Logger {
  const at =
    (level: 'debug' | 'info' | 'warn' | 'error') =>
    (fields: unknown, msg?: string): void => {
      const record = typeof fields === 'string' ? { fields: bindings, msg: fields } : { fields: { ...bindings, ...(fields as object) }, msg: msg ?? '' };
      post({ kind: 'log', level, ...record });
    };
  return {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: (more: Record<string, unknown>) => logger({ ...bindings, ...Object.fromEntries(Object.entries(more).filter(([key]) => !BOUND_ON_MAIN.has(key))) }),
  } as unknown as Logger;
}

async function main(): Promise<void> {
  leaveTeardownToMainThread(init.lifecycleLock);
  let lease: ModuleLease;
  try {
    // Held for the worker's life: the pkcs11js object a 'close' with `finalize` finalizes through.
    lease = acquireModule(init.modulePath);
  } catch (err) {
    post({ kind: 'open-failed', error: errorToWire(err) });
    return;
  }
  const initializedByUs = describeModule(init.modulePath)?.initializedByUs === true;
  // Undefined while suspended: the executor sends no job then.
  let token = await openToken(lease, initializedByUs);
  if (token === undefined) return;

  port!.on('message', (message: ToWorker) => {
    switch (message.kind) {
      case 'close':
        void close(token, lease, message.logout, message.finalize);
        return;
      case 'suspend':
        void (async () => {
          await closeQuietly(token);
          token = undefined;
          post({ kind: 'suspended' });
        })();
        return;
      case 'reinitialize':
        try {
          reinitializeLocked(lease.pkcs11);
          post({ kind: 'reinitialized' });
        } catch (err) {
          post({ kind: 'reinitialized', error: errorToWire(toHsmError(err, 're-initialising the PKCS#11 library')) });
        }
        return;
      case 'resume':
        void (async () => {
          token = await openToken(lease, false);
        })();
        return;
      case 'job':
        void run(token!, message.id, message.method, message.args);
        return;
    }
  });
}

/** Opens the token (session, login, empty handle cache); posts 'ready', or 'open-failed' and releases the lease. */
async function openToken(lease: ModuleLease, initializedByUs: boolean): Promise<Pkcs11Token | undefined> {
  let token: Pkcs11Token;
  try {
    token = await Pkcs11Token.open({
      modulePath: init.modulePath,
      tokenLabel: init.tokenLabel,
      ...(init.tokenSerial === undefined ? {} : { tokenSerial: init.tokenSerial }),
      pin: init.pin,
      profile: init.profile,
      // One job at a time in this thread, so one work session (plus the pool's login anchor).
      maxSessions: 1,
      acquireTimeoutMs: init.profile.acquireTimeoutMs,
      ...(init.validateAfterIdleMs === undefined ? {} : { validateAfterIdleMs: init.validateAfterIdleMs }),
      ...(init.closeTimeoutMs === undefined ? {} : { closeTimeoutMs: init.closeTimeoutMs }),
      logger: logger(),
    });
  } catch (err) {
    post({ kind: 'open-failed', error: errorToWire(err) });
    lease.release();
    return undefined;
  }
  post({ kind: 'ready', initializedByUs, tokenSessionLimit: token.sessionPool.stats().tokenLimit });
  return token;
}

async function closeQuietly(token: Pkcs11Token | undefined): Promise<void> {
  try {
    await token?.close({ logout: false });
  } catch {
    // Closing is best effort: the sessions die with C_Finalize at the latest.
  }
}

async function run(token: Pkcs11Token, id: number, method: string, args: readonly unknown[]): Promise<void> {
  const generation = (): number => token.sessionPool.generation;
  if (!allowed.has(method)) {
    post({ kind: 'failed', id, error: { message: `unknown token method ${method}` }, generation: generation() });
    return;
  }
  try {
    const call = (token as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[method]!;
    const value = await call.apply(token, fromWire(args) as unknown[]);
    const transfer: ArrayBuffer[] = [];
    const wire = toWire(value, transfer);
    post({ kind: 'done', id, value: wire, generation: generation() }, transfer);
  } catch (err) {
    post({ kind: 'failed', id, error: errorToWire(err), generation: generation() });
  }
}

async function close(token: Pkcs11Token | undefined, lease: ModuleLease, logout: boolean, finalize: boolean): Promise<void> {
  try {
    await token?.close({ logout });
  } catch {
    // Closing is best effort: the sessions die with C_Finalize or the process at the latest.
  }
  if (finalize) {
    try {
      finalizeLocked(lease.pkcs11);
    } catch {
      // Already finalized beneath us (device reset); there is nothing left to release.
    }
  }
  lease.release();
  post({ kind: 'closed' });
  port!.close();
}

void main();
