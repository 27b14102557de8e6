// Sessions, login, randomness, object search and the error codes keybridge maps: what the session
// pool, the login recovery and the key-handle cache rely on.

import pkcs11js from 'pkcs11js';

import { expect, pass, refusal, type ContractCheck } from '../check.js';
import { LABEL, rsaKeyPair } from './objects.js';

type Handle = Buffer;

const CKS_RW_USER_FUNCTIONS = 3;
const SESSIONS = 32;

function find(ctx: Parameters<ContractCheck['run']>[0], template: pkcs11js.Template): Handle[] {
  ctx.pkcs11.C_FindObjectsInit(ctx.session(), template);
  try {
    return ctx.pkcs11.C_FindObjects(ctx.session(), 10);
  } finally {
    ctx.pkcs11.C_FindObjectsFinal(ctx.session());
  }
}

export const SESSION_CHECKS: readonly ContractCheck[] = [
  {
    id: 'session.wrong-pin',
    purpose: 'a wrong PIN is reported as such (keybridge says "wrong PIN", not "HSM failed")',
    run(ctx) {
      const session = ctx.session();
      ctx.pkcs11.C_Logout(session);
      try {
        const code = refusal(() => ctx.pkcs11.C_Login(session, pkcs11js.CKU_USER, `${ctx.options.pin}x`), 'a wrong PIN');
        expect(code === 0xa0, `a wrong PIN gives 0x${code.toString(16)}, not CKR_PIN_INCORRECT`);
      } finally {
        ctx.pkcs11.C_Login(session, pkcs11js.CKU_USER, ctx.options.pin);
      }
      return pass();
    },
  },
  {
    id: 'session.pool',
    purpose: `the session pool: ${SESSIONS} read-write sessions at once, each logged in by the one login`,
    run(ctx) {
      const opened: Handle[] = [];
      try {
        for (let i = 0; i < SESSIONS; i++) opened.push(ctx.pkcs11.C_OpenSession(ctx.slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION));
        for (const session of opened) {
          const state = ctx.pkcs11.C_GetSessionInfo(session).state;
          expect(state === CKS_RW_USER_FUNCTIONS, `a new session is in state ${state}, not CKS_RW_USER_FUNCTIONS`);
        }
      } finally {
        for (const session of opened) ctx.pkcs11.C_CloseSession(session);
      }
      return pass(`ulMaxSessionCount ${ctx.description.maxSessionCount}`);
    },
  },
  {
    id: 'random',
    purpose: 'GenerateRandom and IVs: C_GenerateRandom',
    run(ctx) {
      const a = Buffer.from(ctx.pkcs11.C_GenerateRandom(ctx.session(), Buffer.alloc(32)));
      const b = Buffer.from(ctx.pkcs11.C_GenerateRandom(ctx.session(), Buffer.alloc(32)));
      expect(!a.equals(b) && !a.equals(Buffer.alloc(32)), 'two random blocks are equal or zero');
      return pass();
    },
  },
  {
    id: 'objects.find',
    purpose: 'key lookup: token objects found by CKA_ID and class, and by CKA_LABEL',
    mechanisms: ['CKM_RSA_PKCS_KEY_PAIR_GEN'],
    run(ctx) {
      const pair = rsaKeyPair(ctx, 2048, { public: [pkcs11js.CKA_VERIFY], private: [pkcs11js.CKA_SIGN] });
      const byId = find(ctx, [
        { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
        { type: pkcs11js.CKA_ID, value: pair.id },
      ]);
      expect(byId.length === 1 && byId[0]!.equals(pair.privateKey), `CKA_ID + class finds ${byId.length} objects, not the private key`);
      const publicById = find(ctx, [
        { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PUBLIC_KEY },
        { type: pkcs11js.CKA_ID, value: pair.id },
      ]);
      expect(publicById.length === 1 && publicById[0]!.equals(pair.publicKey), `CKA_ID + class finds ${publicById.length} objects, not the public key`);
      // keybridge names each key's objects by CKA_LABEL (the key ARN) as well.
      const byLabel = find(ctx, [
        { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
        { type: pkcs11js.CKA_LABEL, value: LABEL },
      ]);
      expect(byLabel.some((handle) => handle.equals(pair.privateKey)), `CKA_LABEL + class finds ${byLabel.length} objects, none of them the private key`);
      return pass();
    },
  },
  {
    id: 'errors.key-handle-invalid',
    purpose: 'a key destroyed under a cached handle is detected (the cache refinds it)',
    mechanisms: ['CKM_RSA_PKCS_KEY_PAIR_GEN'],
    run(ctx) {
      const pair = rsaKeyPair(ctx, 2048, { public: [pkcs11js.CKA_VERIFY], private: [pkcs11js.CKA_SIGN] });
      ctx.pkcs11.C_DestroyObject(ctx.session(), pair.privateKey);
      const code = refusal(() => ctx.pkcs11.C_SignInit(ctx.session(), { mechanism: pkcs11js.CKM_RSA_PKCS }, pair.privateKey), 'a destroyed key');
      expect(code === 0x60 || code === 0x82, `a destroyed key gives 0x${code.toString(16)}, not CKR_KEY_HANDLE_INVALID or CKR_OBJECT_HANDLE_INVALID`);
      return pass(`0x${code.toString(16)}`);
    },
  },
  {
    id: 'errors.mechanism-invalid',
    purpose: 'a mechanism the token lacks is CKR_MECHANISM_INVALID (keybridge names it to the caller)',
    run(ctx) {
      const code = refusal(() => ctx.pkcs11.C_DigestInit(ctx.session(), { mechanism: 0x8000fff1 }), 'an unknown mechanism');
      expect(code === 0x70, `an unknown mechanism gives 0x${code.toString(16)}, not CKR_MECHANISM_INVALID`);
      return pass();
    },
  },
];
