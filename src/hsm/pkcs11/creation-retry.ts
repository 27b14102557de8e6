// Token objects whose creation a device fails now and then for no fault of the request: tried again.
//
// Why: SoftHSM2 2.6.1 (Debian 12's package) fails a token object's creation with CKR_GENERAL_ERROR
// when another thread of the process looks for objects in the same token at that moment (the new
// object's file is re-read half-written: softhsm/SoftHSMv2#573, fixed after 2.6.1 by #576). Seen
// here with one thread calling C_GenerateKey and two calling C_FindObjects on one token for 20 s:
// 3 of 760 and 14 of 1,027 creations failed, and most failed calls had made the object anyway.
// keybridge's executor runs exactly that mix (a key made in one worker while the others look keys
// up), and the per-token queue of object changes (token.ts) cannot exclude the lookups. A client
// saw KMSInternalException on CreateKey, and a cluster member missed a new key's replica.
//
// So, for a vendor profile that names such return values (`retryObjectCreationOn`), a call that
// creates token objects carrying a CKA_ID (C_GenerateKey, C_GenerateKeyPair, C_UnwrapKey,
// C_CreateObject) is made up to CREATION_ATTEMPTS times. Before each attempt the objects with that
// CKA_ID and class are listed; after a failure named in the profile, the ones that were not there
// before (what the failed attempt left) are destroyed, then the call is made again (or, after the
// last attempt, the failure is thrown). Objects that were there before are never touched. Session
// objects (no CKA_TOKEN=true) and calls with a callback pass through unchanged.
// Every other call goes to the library's own method through a Proxy (45–60 ns per call against 7–9 ns direct, measured).

import pkcs11js from 'pkcs11js';
import type { Logger } from 'pino';

import { ckrName, ckrOf } from './ckr.js';
import type { Handle, Pkcs11 } from './module.js';

export const CREATION_ATTEMPTS = 3;

/** What one creating call makes: the CKA_ID it carries and the classes of the objects. */
interface Made {
  readonly id: Buffer;
  readonly classes: readonly number[];
}

/**
 * `pkcs11` with its four object-creating calls retried as above when they fail with one of
 * `retryOn`; `pkcs11` itself when `retryOn` is empty. Every other call is the library's own.
 */
export function retryingObjectCreation(pkcs11: Pkcs11, retryOn: ReadonlySet<number>, logger?: Logger): Pkcs11 {
  if (retryOn.size === 0) return pkcs11;
  const attempt = <T>(session: Handle, made: Made | undefined, create: () => T): T => {
    if (made === undefined) return create();
    for (let tries = 1; ; tries++) {
      const before = listMade(pkcs11, session, made);
      try {
        return create();
      } catch (err) {
        const code = ckrOf(err);
        if (code === undefined || !retryOn.has(code)) throw err;
        // Made or not: what the failed call left must not stay (a half-stored object under a key's id).
        const left = listMade(pkcs11, session, made).filter((handle) => !before.some((old) => old.equals(handle)));
        for (const handle of left) destroyQuietly(pkcs11, session, handle);
        const last = tries >= CREATION_ATTEMPTS;
        logger?.warn({ ckr: ckrName(code), attempt: tries, leftBehind: left.length }, last ? 'the token failed to create an object; removed what it left, giving up' : 'the token failed to create an object; removed what it left and trying again');
        if (last) throw err;
      }
    }
  };
  const overrides: Partial<Pkcs11> = {
    C_GenerateKey: ((session: Handle, mechanism: pkcs11js.Mechanism, template: pkcs11js.Template, callback?: unknown) =>
      callback !== undefined
        ? (pkcs11.C_GenerateKey as (...args: unknown[]) => unknown)(session, mechanism, template, callback)
        : attempt(session, madeBy(template, pkcs11js.CKO_SECRET_KEY), () => pkcs11.C_GenerateKey(session, mechanism, template))) as Pkcs11['C_GenerateKey'],
    C_GenerateKeyPair: ((session: Handle, mechanism: pkcs11js.Mechanism, publicTemplate: pkcs11js.Template, privateTemplate: pkcs11js.Template, callback?: unknown) =>
      callback !== undefined
        ? (pkcs11.C_GenerateKeyPair as (...args: unknown[]) => unknown)(session, mechanism, publicTemplate, privateTemplate, callback)
        : attempt(session, madeByPair(publicTemplate, privateTemplate), () => pkcs11.C_GenerateKeyPair(session, mechanism, publicTemplate, privateTemplate))) as Pkcs11['C_GenerateKeyPair'],
    C_UnwrapKey: ((session: Handle, mechanism: pkcs11js.Mechanism, unwrappingKey: Handle, wrappedKey: Buffer, template: pkcs11js.Template, callback?: unknown) =>
      callback !== undefined
        ? (pkcs11.C_UnwrapKey as (...args: unknown[]) => unknown)(session, mechanism, unwrappingKey, wrappedKey, template, callback)
        : attempt(session, madeBy(template), () => pkcs11.C_UnwrapKey(session, mechanism, unwrappingKey, wrappedKey, template))) as Pkcs11['C_UnwrapKey'],
    C_CreateObject: ((session: Handle, template: pkcs11js.Template) => attempt(session, madeBy(template), () => pkcs11.C_CreateObject(session, template))) as Pkcs11['C_CreateObject'],
  };
  // The library's own methods are bound once (pkcs11js' natives need their own `this`), not per call.
  const bound = new Map<PropertyKey, unknown>();
  return new Proxy(pkcs11, {
    get(target, property) {
      if (Object.hasOwn(overrides, property)) return overrides[property as keyof Pkcs11];
      let value = bound.get(property);
      if (value === undefined) {
        const own: unknown = Reflect.get(target, property, target);
        value = typeof own === 'function' ? (own as (...args: unknown[]) => unknown).bind(target) : own;
        if (typeof own === 'function') bound.set(property, value);
      }
      return value;
    },
  });
}

/** The token object(s) `template` asks for, or undefined when it is not a token object with a CKA_ID. */
function madeBy(template: pkcs11js.Template, objectClass?: number): Made | undefined {
  if (flagOf(template, pkcs11js.CKA_TOKEN) !== true) return undefined;
  const id = valueOf(template, pkcs11js.CKA_ID);
  const declared = valueOf(template, pkcs11js.CKA_CLASS);
  const classOf = typeof declared === 'number' ? declared : objectClass;
  if (!Buffer.isBuffer(id) || id.length === 0 || classOf === undefined) return undefined;
  return { id, classes: [classOf] };
}

function madeByPair(publicTemplate: pkcs11js.Template, privateTemplate: pkcs11js.Template): Made | undefined {
  const made = [madeBy(publicTemplate, pkcs11js.CKO_PUBLIC_KEY), madeBy(privateTemplate, pkcs11js.CKO_PRIVATE_KEY)].filter((m): m is Made => m !== undefined);
  if (made.length === 0) return undefined;
  // Both halves carry one CKA_ID in keybridge's templates; a pair with two ids is left alone.
  if (made.some((m) => !m.id.equals(made[0]!.id))) return undefined;
  return { id: made[0]!.id, classes: made.flatMap((m) => m.classes) };
}

function valueOf(template: pkcs11js.Template, type: number): unknown {
  return template.find((attribute) => attribute.type === type)?.value;
}

function flagOf(template: pkcs11js.Template, type: number): boolean | undefined {
  const value = valueOf(template, type);
  if (typeof value === 'boolean') return value;
  if (Buffer.isBuffer(value) && value.length === 1) return value[0] === 1;
  return undefined;
}

function listMade(pkcs11: Pkcs11, session: Handle, made: Made): Handle[] {
  return made.classes.flatMap((objectClass) => {
    pkcs11.C_FindObjectsInit(session, [
      { type: pkcs11js.CKA_ID, value: made.id },
      { type: pkcs11js.CKA_CLASS, value: objectClass },
    ]);
    try {
      const found: Handle[] = [];
      for (let batch = pkcs11.C_FindObjects(session, 64); batch.length > 0; batch = pkcs11.C_FindObjects(session, 64)) found.push(...batch);
      return found;
    } finally {
      pkcs11.C_FindObjectsFinal(session);
    }
  });
}

function destroyQuietly(pkcs11: Pkcs11, session: Handle, handle: Handle): void {
  try {
    pkcs11.C_DestroyObject(session, handle);
  } catch {
    // Reported by reconciliation (listSymmetricKeys) if it stays.
  }
}
