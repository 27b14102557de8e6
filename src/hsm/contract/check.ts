// What one contract check is and what it can find. The suite asks a token, through plain pkcs11js
// calls, for each thing keybridge relies on, and compares every result it can with Node's own
// cryptography. A check's outcome is a capability fact about the token:
//   pass        — the token does it, and the result is right;
//   unsupported — the token says it cannot (mechanism not listed, CKR_MECHANISM_INVALID,
//                 CKR_FUNCTION_NOT_SUPPORTED, …): keybridge must not use it there;
//   fail        — the token claims it but misbehaves (a wrong result, an unexpected error): keybridge
//                 must not use it there either, and the owner of the token should know.

import pkcs11js from 'pkcs11js';

import { ckrName, ckrOf } from '../pkcs11/ckr.js';
import type { ContractSession } from './session.js';

export type CheckStatus = 'pass' | 'unsupported' | 'fail';

export interface CheckOutcome {
  readonly status: CheckStatus;
  /** What was found: the error the token gave, a value it reported, why it was not run. */
  readonly detail?: string;
}

export interface ContractCheck {
  /** Stable id, also the capability's name (`aes.gcm`, `rsa.oaep-sha256.decrypt`, …). */
  readonly id: string;
  /** What keybridge uses it for, for the report. */
  readonly purpose: string;
  /** Mechanisms the check needs, by name; a token that does not list one is `unsupported` without a call. */
  readonly mechanisms?: readonly string[];
  /** Needs the SO PIN (the check is `unsupported` — "no SO PIN given" — without it). */
  readonly needsSoPin?: boolean;
  run(session: ContractSession): Promise<CheckOutcome> | CheckOutcome;
}

/** The token's answers that mean "cannot", as opposed to "did it wrong". */
const CANNOT: ReadonlySet<number> = new Set([
  0x70, // CKR_MECHANISM_INVALID
  0x71, // CKR_MECHANISM_PARAM_INVALID
  0x54, // CKR_FUNCTION_NOT_SUPPORTED
  0x66, // CKR_KEY_FUNCTION_NOT_PERMITTED (an attribute the token will not set, e.g. CKA_TRUSTED)
  0x68, // CKR_KEY_TYPE_INCONSISTENT
  0x62, // CKR_KEY_SIZE_RANGE
  0xd1, // CKR_TEMPLATE_INCONSISTENT
  0xd0, // CKR_TEMPLATE_INCOMPLETE
  0x12, // CKR_ATTRIBUTE_TYPE_INVALID
  0x13, // CKR_ATTRIBUTE_VALUE_INVALID
  0x7, // CKR_ARGUMENTS_BAD (SoftHSM2's answer to OAEP parameters it does not take)
  0x130, // CKR_DOMAIN_PARAMS_INVALID (a curve the token does not know)
  0x140, // CKR_CURVE_NOT_SUPPORTED (PKCS#11 v3.0)
  0x69, // CKR_KEY_NOT_WRAPPABLE
]);

export const pass = (detail?: string): CheckOutcome => (detail === undefined ? { status: 'pass' } : { status: 'pass', detail });
export const fail = (detail: string): CheckOutcome => ({ status: 'fail', detail });
export const unsupported = (detail: string): CheckOutcome => ({ status: 'unsupported', detail });

/** Thrown by a check when a result is wrong: always `fail`, whatever the token said before. */
export class WrongResult extends Error {}

/**
 * The PKCS#11 return value an error carries. pkcs11js gives a Pkcs11Error with `.code`; on some
 * paths (openCryptoki's C_SetAttributeValue) only a message like "CKR_TEMPLATE_INCONSISTENT:209".
 */
export function ckrCodeOf(err: unknown): number | undefined {
  const code = ckrOf(err);
  if (code !== undefined) return code;
  const match = err instanceof Error ? /CKR_\w+:(\d+)/u.exec(err.message) : null;
  return match === null ? undefined : Number(match[1]);
}

/** The error's CKR name and the call that gave it, e.g. "C_DecryptInit: CKR_ARGUMENTS_BAD". */
export function describeError(err: unknown): string {
  const code = ckrCodeOf(err);
  if (code === undefined) return err instanceof Error ? err.message : String(err);
  const method = err instanceof pkcs11js.NativeError && err.method !== '' ? `${err.method}: ` : '';
  return `${method}${code === 0x140 ? 'CKR_CURVE_NOT_SUPPORTED' : ckrName(code)}`;
}

/** The outcome of a check that threw. */
export function outcomeOf(err: unknown): CheckOutcome {
  if (err instanceof WrongResult) return fail(err.message);
  const code = ckrCodeOf(err);
  if (code !== undefined && CANNOT.has(code)) return unsupported(describeError(err));
  return fail(describeError(err));
}

export function expect(condition: boolean, what: string): asserts condition {
  if (!condition) throw new WrongResult(what);
}

/** Runs `call`, which must fail; returns the CKR code it failed with (WrongResult if it did not). */
export function refusal(call: () => unknown, what: string): number {
  try {
    call();
  } catch (err) {
    const code = ckrCodeOf(err);
    if (code !== undefined) return code;
    throw err;
  }
  throw new WrongResult(`${what} was accepted`);
}

// PKCS#11 v3.0 numbers pkcs11js 2.1.7 does not export.
const EXTRA_MECHANISMS: Record<string, number> = { CKM_EC_EDWARDS_KEY_PAIR_GEN: 0x1055, CKM_EDDSA: 0x1057 };

/** A mechanism's number from its name (`CKM_AES_GCM`). */
export function mechanismNumber(name: string): number {
  const value = EXTRA_MECHANISMS[name] ?? (pkcs11js as unknown as Record<string, unknown>)[name];
  if (typeof value !== 'number') throw new TypeError(`unknown mechanism ${name}`);
  return value;
}

/** The name of a mechanism number, for the report's mechanism list. */
export function mechanismName(value: number): string {
  for (const [name, number] of Object.entries(EXTRA_MECHANISMS)) if (number === value) return name;
  for (const [name, number] of Object.entries(pkcs11js)) if (name.startsWith('CKM_') && number === value) return name;
  return `0x${value.toString(16)}`;
}
