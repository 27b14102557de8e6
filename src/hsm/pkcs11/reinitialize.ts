// Re-initialising a PKCS#11 library while the process serves (issue #19): what brings back a token
// that disappeared and returned, since a library builds its slot list at C_Initialize. The
// coordination (suspend every user, re-initialise, resume them) is module.ts's
// reinitializeModule. The C_Finalize + C_Initialize runs in a suspended executor worker of one of
// the users (executor.ts); when no user has one (the member being reopened was the library's only
// user), in a one-shot worker thread started here, under a deadline.

import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';

import type { Logger } from 'pino';

import { HsmError } from '../../ports/hsm.js';
import { loopDeadline } from '../loop-deadline.js';
import { reinitializeModule } from './module.js';
import type { ReinitializeInit, ReinitializeOutcome } from './reinitialize-worker.js';
import { errorFromWire } from './wire.js';

const WORKER_URL = new URL('./reinitialize-worker.js', import.meta.url);
const DEFAULT_TIMEOUT_MS = 15_000;

export interface ReinitializeOptions {
  /** How long C_Finalize + C_Initialize may take before the library is given up as unresponsive. */
  readonly timeoutMs?: number;
  readonly logger?: Logger | undefined;
}

/**
 * Re-initialises the library at `modulePath` for every user in this process (module.ts,
 * reinitializeModule). Calls while one is under way join it. Throws HsmError when it cannot be done
 * safely or the library fails or does not answer in time.
 */
export async function reinitializeLibrary(modulePath: string, options: ReinitializeOptions = {}): Promise<void> {
  const started = performance.now();
  try {
    await reinitializeModule(modulePath, (lifecycleLock) => runWorker({ modulePath, lifecycleLock }, options.timeoutMs ?? DEFAULT_TIMEOUT_MS));
  } catch (err) {
    options.logger?.warn({ hsmError: err instanceof HsmError ? err.code : 'unknown', err }, 'pkcs11 library not re-initialised');
    throw err;
  }
  options.logger?.info({ ms: Math.round(performance.now() - started) }, 'pkcs11 library re-initialised');
}

function runWorker(init: ReinitializeInit, timeoutMs: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const worker = new Worker(WORKER_URL, { workerData: init });
    worker.unref();
    const deadline = loopDeadline(timeoutMs, () => {
      // Left to end whenever the library lets it; its users resume and find out for themselves.
      void worker.terminate();
      reject(new HsmError('HSM_UNAVAILABLE', `the PKCS#11 library did not re-initialise within ${timeoutMs} ms`));
    });
    worker.once('message', (outcome: ReinitializeOutcome) => {
      deadline.clear();
      if (outcome.ok) resolve();
      else reject(errorFromWire(outcome.error));
    });
    worker.once('error', (err) => {
      deadline.clear();
      reject(new HsmError('HSM_UNAVAILABLE', 'the PKCS#11 re-initialisation thread failed', { cause: err }));
    });
    worker.once('exit', () => {
      deadline.clear();
      reject(new HsmError('HSM_UNAVAILABLE', 'the PKCS#11 re-initialisation thread ended without an answer'));
    });
  });
}
