// The CKR table: for every PKCS#11 return value we expect to see, what happens to the session that
// produced it, how (if at all) the call is recovered, and which HSM outcome (HsmErrorCode) the
// caller sees. What the client is told follows from the outcome (src/operations/hsm-errors.ts).
//
// Branch on the numeric code only. pkcs11js builds `Pkcs11Error.message` by parsing native text;
// the number is the contract, the message is for logs.

import pkcs11js from 'pkcs11js';

import { HsmError, type HsmErrorCode } from '../../ports/hsm.js';

/**
 * What happens to the session that returned the code.
 * - keep: the session is healthy; the failure was about the request (data, key, template).
 * - evict: close the session and never lease it again (its state is unknown or gone).
 * - reset: the module or device is gone; every session is suspect. The pool evicts the session and
 *   its idle siblings; a cluster member trips its circuit breaker and is reset (sessions closed,
 *   logged in again, the library finalised and re-initialised when no other member shares it)
 *   by the health checker (cluster/member.ts).
 */
export type SessionFate = 'keep' | 'evict' | 'reset';

/**
 * How the failed call may be recovered, at most once per call.
 * - new-session: retry on another (fresh) session.
 * - relogin: log the token in again through the anchor session, then retry.
 * - refind: drop the cached object handle, look the key up again, then retry.
 */
export type Recovery = 'new-session' | 'relogin' | 'refind';

export interface CkrRule {
  readonly name: string;
  readonly session: SessionFate;
  readonly recovery?: Recovery;
  readonly code: HsmErrorCode;
}

// PKCS#11 v2.40 return values (section 3.6 of the base specification). Numbers are the contract.
export const CKR = {
  CKR_OK: 0x0,
  CKR_CANCEL: 0x1,
  CKR_HOST_MEMORY: 0x2,
  CKR_SLOT_ID_INVALID: 0x3,
  CKR_GENERAL_ERROR: 0x5,
  CKR_FUNCTION_FAILED: 0x6,
  CKR_ARGUMENTS_BAD: 0x7,
  CKR_CANT_LOCK: 0xa,
  CKR_ATTRIBUTE_READ_ONLY: 0x10,
  CKR_ATTRIBUTE_SENSITIVE: 0x11,
  CKR_ATTRIBUTE_TYPE_INVALID: 0x12,
  CKR_ATTRIBUTE_VALUE_INVALID: 0x13,
  CKR_DATA_INVALID: 0x20,
  CKR_DATA_LEN_RANGE: 0x21,
  CKR_DEVICE_ERROR: 0x30,
  CKR_DEVICE_MEMORY: 0x31,
  CKR_DEVICE_REMOVED: 0x32,
  CKR_ENCRYPTED_DATA_INVALID: 0x40,
  CKR_ENCRYPTED_DATA_LEN_RANGE: 0x41,
  CKR_FUNCTION_CANCELED: 0x50,
  CKR_FUNCTION_NOT_SUPPORTED: 0x54,
  CKR_KEY_HANDLE_INVALID: 0x60,
  CKR_KEY_SIZE_RANGE: 0x62,
  CKR_KEY_TYPE_INCONSISTENT: 0x63,
  CKR_KEY_FUNCTION_NOT_PERMITTED: 0x68,
  CKR_KEY_NOT_WRAPPABLE: 0x69,
  CKR_KEY_UNEXTRACTABLE: 0x6a,
  CKR_MECHANISM_INVALID: 0x70,
  CKR_MECHANISM_PARAM_INVALID: 0x71,
  CKR_OBJECT_HANDLE_INVALID: 0x82,
  CKR_OPERATION_ACTIVE: 0x90,
  CKR_OPERATION_NOT_INITIALIZED: 0x91,
  CKR_PIN_INCORRECT: 0xa0,
  CKR_PIN_INVALID: 0xa1,
  CKR_PIN_LEN_RANGE: 0xa2,
  CKR_PIN_EXPIRED: 0xa3,
  CKR_PIN_LOCKED: 0xa4,
  CKR_SESSION_CLOSED: 0xb0,
  CKR_SESSION_COUNT: 0xb1,
  CKR_SESSION_HANDLE_INVALID: 0xb3,
  CKR_SESSION_READ_ONLY: 0xb5,
  CKR_SIGNATURE_INVALID: 0xc0,
  CKR_SIGNATURE_LEN_RANGE: 0xc1,
  CKR_TEMPLATE_INCOMPLETE: 0xd0,
  CKR_TEMPLATE_INCONSISTENT: 0xd1,
  CKR_TOKEN_NOT_PRESENT: 0xe0,
  CKR_TOKEN_NOT_RECOGNIZED: 0xe1,
  CKR_TOKEN_WRITE_PROTECTED: 0xe2,
  CKR_UNWRAPPING_KEY_HANDLE_INVALID: 0xf0,
  CKR_USER_ALREADY_LOGGED_IN: 0x100,
  CKR_USER_NOT_LOGGED_IN: 0x101,
  CKR_USER_PIN_NOT_INITIALIZED: 0x102,
  CKR_USER_TYPE_INVALID: 0x103,
  CKR_USER_ANOTHER_ALREADY_LOGGED_IN: 0x104,
  CKR_WRAPPED_KEY_INVALID: 0x110,
  CKR_WRAPPED_KEY_LEN_RANGE: 0x112,
  CKR_WRAPPING_KEY_HANDLE_INVALID: 0x113,
  CKR_RANDOM_NO_RNG: 0x121,
  CKR_BUFFER_TOO_SMALL: 0x150,
  CKR_CRYPTOKI_NOT_INITIALIZED: 0x190,
  CKR_CRYPTOKI_ALREADY_INITIALIZED: 0x191,
  CKR_FUNCTION_REJECTED: 0x200,
} as const;

export type CkrName = keyof typeof CKR;

type RuleBody = Omit<CkrRule, 'name'>;

const internal = (session: SessionFate, recovery?: Recovery): RuleBody =>
  recovery === undefined
    ? { session, code: 'HSM_FAILED' }
    : { session, recovery, code: 'HSM_FAILED' };
const loginFailed: RuleBody = { session: 'keep', code: 'HSM_LOGIN_FAILED' };
const badCiphertext: RuleBody = { session: 'keep', code: 'HSM_DECRYPT_FAILED' };

const RULES: Partial<Record<CkrName, RuleBody>> = {
  // The session is gone: open another one and try again.
  CKR_SESSION_HANDLE_INVALID: { ...internal('evict', 'new-session'), code: 'HSM_UNAVAILABLE' },
  CKR_SESSION_CLOSED: { ...internal('evict', 'new-session'), code: 'HSM_UNAVAILABLE' },
  // WARNING: an operation left active (e.g. after CKR_BUFFER_TOO_SMALL, which by the standard does
  // not terminate the operation — seen on SoftHSM2 2.6.1) poisons the session for the next *Init.
  CKR_OPERATION_ACTIVE: internal('evict', 'new-session'),
  CKR_OPERATION_NOT_INITIALIZED: internal('evict', 'new-session'),
  CKR_BUFFER_TOO_SMALL: internal('evict'),
  CKR_SESSION_READ_ONLY: internal('evict', 'new-session'),
  CKR_FUNCTION_CANCELED: internal('evict'),

  // Login is per application and token: somebody logged us out (or the token restarted).
  CKR_USER_NOT_LOGGED_IN: { ...loginFailed, recovery: 'relogin' },
  CKR_PIN_INCORRECT: loginFailed,
  CKR_PIN_INVALID: loginFailed,
  CKR_PIN_LEN_RANGE: loginFailed,
  CKR_PIN_EXPIRED: loginFailed,
  CKR_PIN_LOCKED: loginFailed,
  CKR_USER_PIN_NOT_INITIALIZED: loginFailed,
  CKR_USER_TYPE_INVALID: loginFailed,
  CKR_USER_ANOTHER_ALREADY_LOGGED_IN: loginFailed,

  // Object handles die with logout and re-initialisation; the key itself may still be there.
  CKR_OBJECT_HANDLE_INVALID: { session: 'keep', recovery: 'refind', code: 'HSM_KEY_NOT_FOUND' },
  CKR_KEY_HANDLE_INVALID: { session: 'keep', recovery: 'refind', code: 'HSM_KEY_NOT_FOUND' },

  // The device or the library went away. HSM_DEVICE_GONE is answered as a dependency failure (503),
  // which SDKs retry.
  CKR_DEVICE_ERROR: { session: 'reset', code: 'HSM_UNAVAILABLE' },
  CKR_DEVICE_REMOVED: { session: 'reset', code: 'HSM_DEVICE_GONE' },
  CKR_TOKEN_NOT_PRESENT: { session: 'reset', code: 'HSM_DEVICE_GONE' },
  CKR_TOKEN_NOT_RECOGNIZED: { session: 'reset', code: 'HSM_DEVICE_GONE' },
  // Thales/SafeNet clients report a lost network HSM this way after hanging (Pkcs11Interop#214).
  CKR_CRYPTOKI_NOT_INITIALIZED: { session: 'reset', code: 'HSM_DEVICE_GONE' },

  CKR_SESSION_COUNT: { session: 'keep', code: 'HSM_BUSY' },

  // Unambiguous ciphertext failures. Vendor-specific "bad tag" codes come from the profile.
  CKR_ENCRYPTED_DATA_INVALID: badCiphertext,
  CKR_ENCRYPTED_DATA_LEN_RANGE: badCiphertext,

  // The request was wrong for this key or token; the session is fine.
  CKR_ARGUMENTS_BAD: internal('keep'),
  CKR_ATTRIBUTE_READ_ONLY: internal('keep'),
  CKR_ATTRIBUTE_SENSITIVE: internal('keep'),
  CKR_ATTRIBUTE_TYPE_INVALID: internal('keep'),
  CKR_ATTRIBUTE_VALUE_INVALID: internal('keep'),
  CKR_DATA_INVALID: internal('keep'),
  CKR_DATA_LEN_RANGE: internal('keep'),
  CKR_KEY_SIZE_RANGE: internal('keep'),
  CKR_KEY_TYPE_INCONSISTENT: internal('keep'),
  CKR_KEY_FUNCTION_NOT_PERMITTED: internal('keep'),
  CKR_MECHANISM_INVALID: internal('keep'),
  CKR_MECHANISM_PARAM_INVALID: internal('keep'),
  CKR_TEMPLATE_INCOMPLETE: internal('keep'),
  CKR_TEMPLATE_INCONSISTENT: internal('keep'),
  CKR_TOKEN_WRITE_PROTECTED: internal('keep'),
  CKR_FUNCTION_NOT_SUPPORTED: internal('keep'),
  CKR_FUNCTION_REJECTED: internal('keep'),
  // Replication (keybridge mode): a key that may not leave, or a wrapping key that is not there.
  CKR_KEY_NOT_WRAPPABLE: internal('keep'),
  CKR_KEY_UNEXTRACTABLE: internal('keep'),
  CKR_UNWRAPPING_KEY_HANDLE_INVALID: internal('keep'),
  CKR_WRAPPED_KEY_INVALID: internal('keep'),
  CKR_WRAPPED_KEY_LEN_RANGE: internal('keep'),
  CKR_WRAPPING_KEY_HANDLE_INVALID: internal('keep'),
  // Verify with a signature or MAC that does not match: a client-visible outcome, not a failure.
  CKR_SIGNATURE_INVALID: { session: 'keep', code: 'HSM_BAD_SIGNATURE' },
  CKR_SIGNATURE_LEN_RANGE: { session: 'keep', code: 'HSM_BAD_SIGNATURE' },
  CKR_RANDOM_NO_RNG: internal('keep'),
  CKR_HOST_MEMORY: internal('keep'),
  CKR_DEVICE_MEMORY: internal('keep'),
  CKR_CANT_LOCK: internal('keep'),
  // Outside a decrypt these mean "something failed inside the token"; a fresh session is cheap.
  // CloudHSM SDK 5 also reports throttling as CKR_FUNCTION_FAILED.
  CKR_GENERAL_ERROR: internal('evict'),
  CKR_FUNCTION_FAILED: internal('evict'),
};

const NAME_BY_CODE = new Map<number, CkrName>(
  (Object.entries(CKR) as [CkrName, number][]).map(([name, code]) => [code, name]),
);

/** The rule for a return value; unknown codes evict the session and surface as internal errors. */
export function ckrRule(code: number): CkrRule {
  const name = NAME_BY_CODE.get(code) ?? `CKR_0x${code.toString(16)}`;
  const body = NAME_BY_CODE.has(code) ? RULES[name as CkrName] : undefined;
  return { name, ...(body ?? internal('evict')) };
}

export function ckrName(code: number): string {
  return ckrRule(code).name;
}

/** Resolves CKR names (from a vendor profile) to codes; throws on a name this table does not know. */
export function ckrCodes(names: readonly string[]): ReadonlySet<number> {
  return new Set(
    names.map((name) => {
      if (!Object.hasOwn(CKR, name)) throw new TypeError(`unknown PKCS#11 return value name: ${name}`);
      return CKR[name as CkrName];
    }),
  );
}

/** The PKCS#11 return value carried by a pkcs11js error, if it is one. */
export function ckrOf(err: unknown): number | undefined {
  return err instanceof pkcs11js.Pkcs11Error ? err.code : undefined;
}

/**
 * Turns anything thrown beneath the adapter into an HsmError. HsmErrors pass through unchanged;
 * pkcs11js errors go through the table; anything else (NativeError, TypeError) is internal.
 * `what` names the step for logs, e.g. "C_EncryptInit"; it must never contain PINs or data.
 */
export function toHsmError(err: unknown, what: string): HsmError {
  if (err instanceof HsmError) return err;
  const code = ckrOf(err);
  if (code === undefined) {
    return new HsmError('HSM_FAILED', `${what} failed`, { cause: err });
  }
  const rule = ckrRule(code);
  return new HsmError(rule.code, `${what} failed: ${rule.name}`, { ckr: code, cause: err });
}
