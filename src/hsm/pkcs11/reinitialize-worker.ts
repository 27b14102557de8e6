// A one-shot worker thread that re-initialises a PKCS#11 library (C_Finalize + C_Initialize) and
// ends. Started by reinitialize.ts while every user of the library is suspended. A thread of its
// own, not the main thread: a library talking to a hung device may block in C_Finalize, and that
// must cost this thread, never the event loop.

import { parentPort, workerData } from 'node:worker_threads';

import pkcs11js from 'pkcs11js';

import { leaveTeardownToMainThread, reinitializeLocked } from './module.js';
import { errorToWire } from './wire.js';
import { toHsmError } from './ckr.js';

export interface ReinitializeInit {
  readonly modulePath: string;
  readonly lifecycleLock: Int32Array;
}

export type ReinitializeOutcome = { readonly ok: true } | { readonly ok: false; readonly error: ReturnType<typeof errorToWire> };

const init = workerData as ReinitializeInit;
leaveTeardownToMainThread(init.lifecycleLock);
let outcome: ReinitializeOutcome;
try {
  // Loading again only takes a reference on the library the process already has open (dlopen).
  const pkcs11 = new pkcs11js.PKCS11();
  pkcs11.load(init.modulePath);
  reinitializeLocked(pkcs11);
  outcome = { ok: true };
} catch (err) {
  outcome = { ok: false, error: errorToWire(toHsmError(err, 're-initialising the PKCS#11 library')) };
}
parentPort!.postMessage(outcome);
