// The fault-injecting PKCS#11 module (test/fixtures/faulty-pkcs11/): builds it, and writes the
// control file that tells it, at run time, which slot's calls to fail, hang or slow down, and
// which slot's token is gone (latched as removed until the library is finalized and initialised).
//
// WARNING: the module reads KEYBRIDGE_FAULTY_CONTROL when it is initialised (C_Initialize) and
// KEYBRIDGE_FAULTY_TARGET when it is first loaded (C_GetFunctionList). Put faultyEnv() into
// process.env BEFORE anything in the process loads the faulty module (acquireModule,
// Pkcs11Hsm.open), or into the env of the child process that will load it.
// WARNING: the module dlopens the target library, so a process that also loads the target
// directly shares one instance (one C_Initialize, one login state) between the two paths.
// WARNING: a hung call holds the thread that made it. The *Async calls run on libuv's pool
// (UV_THREADPOOL_SIZE, 4 by default); a hang on a synchronous call blocks the JS thread itself, so
// clear it from somewhere else (a worker thread, another process). FaultController writes
// synchronously, so it never needs the pool.

import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';

import { REPO_ROOT } from './repo-root.js';
import { softHsmModulePath } from './softhsm.js';

const run = promisify(execFile);

/** The return values the module knows by name (any other one: pass its number). */
export type CkrName =
  | 'CKR_DEVICE_ERROR'
  | 'CKR_DEVICE_REMOVED'
  | 'CKR_DEVICE_MEMORY'
  | 'CKR_SESSION_HANDLE_INVALID'
  | 'CKR_SESSION_CLOSED'
  | 'CKR_SESSION_COUNT'
  | 'CKR_USER_NOT_LOGGED_IN'
  | 'CKR_FUNCTION_FAILED'
  | 'CKR_GENERAL_ERROR'
  | 'CKR_PIN_LOCKED'
  | 'CKR_PIN_INCORRECT'
  | 'CKR_TOKEN_NOT_PRESENT'
  | 'CKR_TOKEN_NOT_RECOGNIZED'
  | 'CKR_HOST_MEMORY'
  | 'CKR_OBJECT_HANDLE_INVALID'
  | 'CKR_KEY_HANDLE_INVALID'
  | 'CKR_FUNCTION_CANCELED'
  | 'CKR_CRYPTOKI_NOT_INITIALIZED';

export type FaultScope = 'all' | 'crypto' | 'login' | 'session' | 'object';

/** Which slots a rule hits. Without `label` and `slot`: every slot; with both, both must match. */
interface FaultTarget {
  /** The token label (1–32 bytes, no blanks or '#'). */
  readonly label?: string;
  /** The CK_SLOT_ID (see slotIdOf() for a pkcs11js slot handle). */
  readonly slot?: number | bigint;
}

/**
 * A rule that fails, hangs or slows the calls in its scope. Rules are tried in order and the
 * first armed match wins. At least one of fail / hang / latencyMs; hang and fail do not combine;
 * latency comes first.
 */
export interface CallFault extends FaultTarget {
  /** A group, or explicit function names such as ['C_Encrypt', 'C_Decrypt']. */
  readonly scope: FaultScope | readonly string[];
  readonly fail?: CkrName | number;
  /** Blocks matching calls until this rule is no longer in the file, then forwards them. */
  readonly hang?: true;
  /** With `fail`: the call is forwarded first, then failed anyway (the device did the work and reports an error). */
  readonly after?: true;
  /** Sleeps this long before the call is forwarded (or failed). */
  readonly latencyMs?: number;
  /** Hits only the next `count` matching calls; restating the rules re-arms it. */
  readonly count?: number;
  readonly gone?: never;
}

/**
 * The token disappears as a real library sees it: every slot the rule matches is latched as removed
 * the first time the module notices it (absent from C_GetSlotList, CKR_SLOT_ID_INVALID for slot
 * calls, CKR_DEVICE_REMOVED for session calls but C_CloseSession, which is forwarded). Removing the
 * rule does NOT bring the token back: only a C_Finalize + C_Initialize (CKR_OK) does. No scope.
 */
export interface GoneFault extends FaultTarget {
  readonly gone: true;
  readonly scope?: never;
  readonly fail?: never;
  readonly hang?: never;
  readonly after?: never;
  readonly latencyMs?: never;
  readonly count?: never;
}

/** One rule (one line of the control file). */
export type FaultRule = CallFault | GoneFault;

const SOURCE = join(REPO_ROOT, 'test', 'fixtures', 'faulty-pkcs11', 'faulty-pkcs11.c');
const CACHE_DIR = join(tmpdir(), 'keybridge-faulty-pkcs11');

let building: Promise<string> | undefined;

/**
 * The path of the compiled module: built once per source hash into a shared cache directory
 * (built under a temporary name and renamed, so parallel test processes do not race).
 * Uses $CC, else `cc`.
 */
export function buildFaultyPkcs11(): Promise<string> {
  building ??= build().catch((err: unknown) => {
    building = undefined;
    throw err;
  });
  return building;
}

async function build(): Promise<string> {
  const compiler = process.env['CC'] || 'cc';
  const includes = join(dirname(createRequire(import.meta.url).resolve('pkcs11js/package.json')), 'includes', 'pkcs11');
  const flags = ['-shared', '-fPIC', '-O2', '-Wall', '-Werror', `-I${includes}`];
  const hash = createHash('sha256').update(readFileSync(SOURCE)).update(JSON.stringify([compiler, flags])).digest('hex').slice(0, 12);
  const output = join(CACHE_DIR, `${hash}.so`);
  if (existsSync(output)) return output;
  await mkdir(CACHE_DIR, { recursive: true });
  const temp = join(CACHE_DIR, `${hash}.${process.pid}.${randomBytes(4).toString('hex')}.tmp.so`);
  try {
    await run(compiler, [...flags, '-o', temp, SOURCE, '-ldl', '-lpthread']);
    await rename(temp, output);
  } catch (err) {
    await rm(temp, { force: true });
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new Error(`the C compiler \`${compiler}\` was not found; install a C compiler (e.g. apt-get install gcc) to build ${SOURCE}`);
    }
    const stderr = (err as { stderr?: string }).stderr ?? '';
    throw new Error(`\`${compiler}\` failed to build ${SOURCE}:\n${stderr}`, { cause: err });
  }
  return output;
}

/** The env vars the faulty module reads; target defaults to the SoftHSM2 library. */
export function faultyEnv(controlFile: string, target?: string): { KEYBRIDGE_FAULTY_CONTROL: string; KEYBRIDGE_FAULTY_TARGET: string } {
  return { KEYBRIDGE_FAULTY_CONTROL: controlFile, KEYBRIDGE_FAULTY_TARGET: target ?? softHsmModulePath() };
}

/** The CK_SLOT_ID inside a pkcs11js slot handle (a CK_ULONG in host byte order). */
export function slotIdOf(handle: Buffer): bigint {
  if (handle.length === 8) return handle.readBigUInt64LE();
  if (handle.length === 4) return BigInt(handle.readUInt32LE());
  throw new TypeError(`a slot handle has 4 or 8 bytes, not ${handle.length}`);
}

/** Writes the control file; the module picks a change up within ~5 ms, while loaded. */
/** The module re-reads its control file at most every 5 ms: after this long it surely has. */
export const FAULT_PICKUP_MS = 25;

export class FaultController {
  private writes = 0;

  constructor(readonly controlFile: string) {}

  /** Replaces every rule (a rule left out is cleared; calls it hung are released). */
  set(rules: readonly FaultRule[]): void {
    this.write(rules.map(ruleLine).join(''));
  }

  /** No faults. */
  clear(): void {
    this.write('');
  }

  /** set(), then waits until the module has surely re-read its control file. */
  async apply(rules: readonly FaultRule[]): Promise<void> {
    this.set(rules);
    await sleep(FAULT_PICKUP_MS);
  }

  /** clear(), then waits until the module has surely re-read its control file. */
  async heal(): Promise<void> {
    this.clear();
    await sleep(FAULT_PICKUP_MS);
  }

  // Temp file + rename: the module never reads a half-written file.
  private write(text: string): void {
    this.writes += 1;
    const temp = `${this.controlFile}.${process.pid}.${this.writes}.tmp`;
    writeFileSync(temp, text);
    renameSync(temp, this.controlFile);
  }
}

const GROUPS: readonly string[] = ['all', 'crypto', 'login', 'session', 'object'];

function ruleLine(rule: FaultRule): string {
  const words: string[] = [];
  if (rule.label !== undefined) {
    const bytes = Buffer.byteLength(rule.label, 'utf8');
    if (bytes === 0 || bytes > 32 || /[\s#]/u.test(rule.label)) throw new TypeError(`fault rule label ${JSON.stringify(rule.label)} cannot be written`);
    words.push(`label=${rule.label}`);
  }
  if (rule.slot !== undefined) {
    if (BigInt(rule.slot) < 0n) throw new TypeError('fault rule slot must not be negative');
    words.push(`slot=${BigInt(rule.slot).toString()}`);
  }
  if (rule.gone !== undefined) {
    // Checked at run time too: a rule built from untyped data (or a cast) must not reach the file.
    const extra = (['scope', 'fail', 'hang', 'after', 'latencyMs', 'count'] as const).filter((key) => rule[key] !== undefined);
    if (rule.gone !== true) throw new TypeError('gone must be true');
    if (extra.length > 0) throw new TypeError(`a gone rule takes no ${extra.join(', ')}`);
    words.push('gone');
    return `${words.join(' ')}\n`;
  }
  if (rule.scope === undefined) throw new TypeError('a fault rule needs a scope (or gone)');
  if (typeof rule.scope === 'string') {
    if (!GROUPS.includes(rule.scope)) throw new TypeError(`unknown fault scope ${rule.scope}`);
    words.push(`scope=${rule.scope}`);
  } else {
    if (rule.scope.length === 0 || rule.scope.some((name) => !/^C_[A-Za-z]+$/u.test(name))) {
      throw new TypeError(`fault scope must list PKCS#11 function names: ${rule.scope.join(',')}`);
    }
    words.push(`scope=${rule.scope.join(',')}`);
  }
  if (rule.latencyMs !== undefined) {
    if (!Number.isInteger(rule.latencyMs) || rule.latencyMs < 0) throw new TypeError('latencyMs must be a non-negative integer');
    words.push(`latency=${rule.latencyMs}`);
  }
  if (rule.hang === true) {
    if (rule.fail !== undefined) throw new TypeError('a fault rule cannot both hang and fail');
    words.push('hang');
  }
  if (rule.after === true) {
    if (rule.fail === undefined) throw new TypeError('after needs fail');
    words.push('after');
  }
  if (rule.fail !== undefined) {
    if (typeof rule.fail === 'number' && (!Number.isInteger(rule.fail) || rule.fail <= 0)) throw new TypeError('fail must be a non-zero CKR');
    words.push(`fail=${typeof rule.fail === 'number' ? `0x${rule.fail.toString(16)}` : rule.fail}`);
  }
  if (rule.count !== undefined) {
    if (!Number.isInteger(rule.count) || rule.count < 1) throw new TypeError('count must be a positive integer');
    words.push(`count=${rule.count}`);
  }
  if (rule.fail === undefined && rule.hang !== true && !(rule.latencyMs! > 0)) {
    throw new TypeError('a fault rule needs fail, hang or latencyMs');
  }
  return `${words.join(' ')}\n`;
}
