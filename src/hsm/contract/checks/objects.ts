// Objects the checks create: keys with a value the suite chose (so results can be compared with
// Node), keys generated in the token the way keybridge makes its own, and the attribute checks
// that keybridge's promise rests on (sensitive, never extractable, the value unreadable).

import pkcs11js from 'pkcs11js';

import { expect, refusal } from '../check.js';
import type { ContractSession } from '../session.js';

type Handle = Buffer;

export const LABEL = 'keybridge-contract';

export type Usage = 'encrypt' | 'sign' | 'wrap' | 'derive';

const USAGE_ATTRIBUTES: Record<Usage, number[]> = {
  encrypt: [pkcs11js.CKA_ENCRYPT, pkcs11js.CKA_DECRYPT],
  sign: [pkcs11js.CKA_SIGN, pkcs11js.CKA_VERIFY],
  wrap: [pkcs11js.CKA_WRAP, pkcs11js.CKA_UNWRAP],
  derive: [pkcs11js.CKA_DERIVE],
};

function usage(usages: readonly Usage[]): pkcs11js.Template {
  return usages.flatMap((u) => USAGE_ATTRIBUTES[u].map((type) => ({ type, value: true })));
}

/**
 * A session secret key with a known value (AES or generic secret), extractable so it can also
 * be the target of a wrap. Throws what the token answers (some refuse plaintext key values).
 */
export function knownSecretKey(ctx: ContractSession, keyType: number, value: Buffer, usages: readonly Usage[], extra: pkcs11js.Template = []): Handle {
  return ctx.track(
    ctx.pkcs11.C_CreateObject(ctx.session(), [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
      { type: pkcs11js.CKA_KEY_TYPE, value: keyType },
      { type: pkcs11js.CKA_TOKEN, value: false },
      { type: pkcs11js.CKA_SENSITIVE, value: false },
      { type: pkcs11js.CKA_EXTRACTABLE, value: true },
      { type: pkcs11js.CKA_VALUE, value },
      ...usage(usages),
      ...extra,
    ]),
  );
}

/** The template keybridge's own secret keys follow: a private, sensitive, non-extractable token object. */
export function protectedSecretTemplate(ctx: ContractSession, keyType: number, bytes: number, usages: readonly Usage[]): pkcs11js.Template {
  return [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
    { type: pkcs11js.CKA_KEY_TYPE, value: keyType },
    { type: pkcs11js.CKA_VALUE_LEN, value: bytes },
    { type: pkcs11js.CKA_TOKEN, value: true },
    { type: pkcs11js.CKA_PRIVATE, value: true },
    { type: pkcs11js.CKA_SENSITIVE, value: true },
    { type: pkcs11js.CKA_EXTRACTABLE, value: false },
    { type: pkcs11js.CKA_ID, value: ctx.newId() },
    { type: pkcs11js.CKA_LABEL, value: LABEL },
    ...usage(usages),
  ];
}

/** A key pair in keybridge's shape: private key sensitive and non-extractable, both token objects. */
export function generateKeyPair(
  ctx: ContractSession,
  mechanism: number,
  algorithm: pkcs11js.Template,
  usages: { public: readonly number[]; private: readonly number[] },
  forbidden: { public: readonly number[]; private: readonly number[] } = { public: [], private: [] },
): { publicKey: Handle; privateKey: Handle; id: Buffer } {
  const id = ctx.newId();
  const common = [
    { type: pkcs11js.CKA_TOKEN, value: true },
    { type: pkcs11js.CKA_ID, value: id },
    { type: pkcs11js.CKA_LABEL, value: LABEL },
  ];
  const pair = ctx.pkcs11.C_GenerateKeyPair(
    ctx.session(),
    { mechanism },
    [...common, ...algorithm, ...usages.public.map((type) => ({ type, value: true })), ...forbidden.public.map((type) => ({ type, value: false }))],
    [
      ...common,
      { type: pkcs11js.CKA_PRIVATE, value: true },
      { type: pkcs11js.CKA_SENSITIVE, value: true },
      { type: pkcs11js.CKA_EXTRACTABLE, value: false },
      ...usages.private.map((type) => ({ type, value: true })),
      ...forbidden.private.map((type) => ({ type, value: false })),
    ],
  );
  ctx.track(pair.publicKey);
  ctx.track(pair.privateKey);
  return { ...pair, id };
}

export function rsaKeyPair(
  ctx: ContractSession,
  bits: number,
  usages: { public: readonly number[]; private: readonly number[] },
  forbidden?: { public: readonly number[]; private: readonly number[] },
): { publicKey: Handle; privateKey: Handle; id: Buffer } {
  return generateKeyPair(
    ctx,
    pkcs11js.CKM_RSA_PKCS_KEY_PAIR_GEN,
    [
      { type: pkcs11js.CKA_MODULUS_BITS, value: bits },
      { type: pkcs11js.CKA_PUBLIC_EXPONENT, value: Buffer.from([1, 0, 1]) },
    ],
    usages,
    forbidden,
  );
}

function booleanAttribute(ctx: ContractSession, handle: Handle, type: number): boolean | undefined {
  try {
    const value = ctx.pkcs11.C_GetAttributeValue(ctx.session(), handle, [{ type }])[0]?.value;
    return Buffer.isBuffer(value) ? value[0] === 1 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * What keybridge requires of a key it generated: sensitive, non-extractable, always sensitive,
 * never extractable, made on the token (CKA_LOCAL), and CKA_VALUE (or the private exponent)
 * unreadable. `valueAttribute` is the secret attribute to try to read.
 */
export function checkProtected(ctx: ContractSession, handle: Handle, valueAttribute: number, generated = true): void {
  const want: Array<[number, string, boolean]> = [
    [pkcs11js.CKA_SENSITIVE, 'CKA_SENSITIVE', true],
    [pkcs11js.CKA_EXTRACTABLE, 'CKA_EXTRACTABLE', false],
    [pkcs11js.CKA_ALWAYS_SENSITIVE, 'CKA_ALWAYS_SENSITIVE', true],
    [pkcs11js.CKA_NEVER_EXTRACTABLE, 'CKA_NEVER_EXTRACTABLE', true],
    [pkcs11js.CKA_LOCAL, 'CKA_LOCAL', true],
  ];
  for (const [type, name, value] of generated ? want : want.slice(0, 2)) {
    const read = booleanAttribute(ctx, handle, type);
    expect(read === value, `${name} reads ${String(read)}, not ${String(value)}`);
  }
  refusal(() => ctx.pkcs11.C_GetAttributeValue(ctx.session(), handle, [{ type: valueAttribute }]), 'reading the secret value of a sensitive key');
}

/** A provisioned secret key found by label (tokens that cannot generate secret keys). */
export function findSecretKey(ctx: ContractSession, label: string): Handle | undefined {
  const session = ctx.session();
  ctx.pkcs11.C_FindObjectsInit(session, [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
    { type: pkcs11js.CKA_LABEL, value: label },
  ]);
  try {
    return ctx.pkcs11.C_FindObjects(session, 1)[0];
  } finally {
    ctx.pkcs11.C_FindObjectsFinal(session);
  }
}
