// What crosses between the main thread and an executor worker (worker.ts): the messages, the token
// methods a job may name, and how buffers and errors travel.
//
// Buffers: structured clone copies a typed array's *whole* ArrayBuffer, and Node's small Buffers
// are views into a shared 8 KiB pool (a request body may be a view into a larger one), so sending
// them as they are would copy unrelated bytes — other requests' data among them — into the other
// thread. A Buffer that is not alone in its ArrayBuffer is therefore copied into one of its own
// first. Large ones are then transferred (moved, not copied again); small ones are cloned, which
// measured cheaper than a transfer's detach (about 10 vs 14 µs of main-thread CPU per job for an
// Encrypt's arguments). The sender's Buffer stays usable either way: the cluster may retry the same
// arguments on another member.

import { HsmError, type HsmErrorCode } from '../../ports/hsm.js';
import type { VendorProfile } from '../vendor-profile.js';

/** The Pkcs11Token methods a job may call: a closed list, checked in the worker. */
export const TOKEN_METHODS = [
  'generateSymmetricKey',
  'generateReplicableSymmetricKey',
  'hasWrappingKey',
  'importWrapped',
  'encrypt',
  'decrypt',
  'random',
  'destroySymmetricKey',
  'listSymmetricKeys',
  'listKeyObjects',
  'missingMechanism',
  'symmetricSuites',
  'generateKeyPair',
  'generateReplicableKeyPair',
  'generateMacKey',
  'generateReplicableMacKey',
  'replicationRefusal',
  'exportKeyObject',
  'importKeyObject',
  'getPublicKey',
  'sign',
  'verify',
  'rsaEncrypt',
  'rsaDecrypt',
  'mac',
  'verifyMac',
  'deriveSharedSecret',
  'generateDataKeyPair',
  'generateImportWrappingKey',
  'importAlgorithmRefusal',
  'importKeyMaterial',
] as const;

export type TokenMethod = (typeof TOKEN_METHODS)[number];

/** What a worker needs to open its own sessions on the token (sent once, as workerData). */
export interface WorkerInit {
  readonly modulePath: string;
  readonly tokenLabel: string;
  readonly tokenSerial?: string;
  readonly pin: string;
  readonly profile: VendorProfile;
  readonly validateAfterIdleMs?: number;
  readonly closeTimeoutMs?: number;
  /** The library's lifecycle lock (module.ts), shared memory. */
  readonly lifecycleLock: Int32Array;
}

export interface WireError {
  readonly code?: HsmErrorCode;
  readonly ckr?: number;
  readonly message: string;
}

export type ToWorker =
  | { readonly kind: 'job'; readonly id: number; readonly method: TokenMethod; readonly args: readonly unknown[] }
  /** The worker's last message: close its sessions; `logout`/`finalize` only when it is the last user. */
  | { readonly kind: 'close'; readonly logout: boolean; readonly finalize: boolean }
  /** Around a re-initialisation of the library: close the sessions (no logout), keep the thread. */
  | { readonly kind: 'suspend' }
  /** C_Finalize + C_Initialize of the library, run by a suspended worker for every user of it. */
  | { readonly kind: 'reinitialize' }
  /** Open new sessions (and log in) after a suspend; answered with 'ready' or 'open-failed'. */
  | { readonly kind: 'resume' };

export type FromWorker =
  /** `tokenSessionLimit`: work sessions the token allows besides one anchor (Infinity when unknown). */
  | { readonly kind: 'ready'; readonly initializedByUs: boolean; readonly tokenSessionLimit: number }
  | { readonly kind: 'open-failed'; readonly error: WireError }
  | { readonly kind: 'done'; readonly id: number; readonly value: unknown; readonly generation: number }
  | { readonly kind: 'failed'; readonly id: number; readonly error: WireError; readonly generation: number }
  | { readonly kind: 'log'; readonly level: 'debug' | 'info' | 'warn' | 'error'; readonly fields: Record<string, unknown>; readonly msg: string }
  | { readonly kind: 'closed' }
  | { readonly kind: 'suspended' }
  | { readonly kind: 'reinitialized'; readonly error?: WireError };

// From this size on, a copy's memory is transferred rather than cloned.
const TRANSFER_FROM_BYTES = 64 * 1024;

/**
 * `value` ready for postMessage: every Buffer/Uint8Array alone in its memory (copied when it is a
 * view into a larger ArrayBuffer); the memory of large copies joins `transfer`.
 */
export function toWire(value: unknown, transfer: ArrayBuffer[]): unknown {
  if (value instanceof Uint8Array) {
    const alone = value.byteOffset === 0 && value.byteLength === value.buffer.byteLength && !(value.buffer instanceof SharedArrayBuffer);
    if (alone && value.byteLength < TRANSFER_FROM_BYTES) return value;
    const copy = new Uint8Array(value.byteLength);
    copy.set(value);
    if (copy.byteLength >= TRANSFER_FROM_BYTES) transfer.push(copy.buffer);
    return copy;
  }
  if (Array.isArray(value)) return value.map((item) => toWire(item, transfer));
  if (isPlainObject(value)) {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) out[key] = toWire(item, transfer);
    return out;
  }
  return value;
}

/** Undoes toWire on the receiving side: every Uint8Array becomes a Buffer over the same memory. */
export function fromWire(value: unknown): unknown {
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (Array.isArray(value)) return value.map(fromWire);
  if (isPlainObject(value)) {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) out[key] = fromWire(item);
    return out;
  }
  return value;
}

export function errorToWire(err: unknown): WireError {
  if (err instanceof HsmError) {
    return { code: err.code, message: err.message, ...(err.ckr === undefined ? {} : { ckr: err.ckr }) };
  }
  return { message: err instanceof Error ? `${err.name}: ${err.message}` : String(err) };
}

/** The HsmError a worker reported; anything else it threw is an internal failure of the token layer. */
export function errorFromWire(error: WireError): HsmError {
  if (error.code !== undefined) return new HsmError(error.code, error.message, error.ckr === undefined ? undefined : { ckr: error.ckr });
  return new HsmError('HSM_FAILED', `the PKCS#11 worker failed: ${error.message}`);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object') return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}
