// Moving keys between tokens without exposing them: `keybridge` replication (an extractable key
// that may be wrapped only under a key the security officer marked CKA_TRUSTED), and BYOK import
// (the caller's material unwrapped into the token with RSA-OAEP, directly or via an AES key).

import { constants, createCipheriv, generateKeyPairSync, publicEncrypt, randomBytes, verify, createHash, createPublicKey } from 'node:crypto';

import pkcs11js from 'pkcs11js';

import { expect, pass, refusal, unsupported, type ContractCheck } from '../check.js';
import { aesKeyWrap, rsaPublicKey } from '../reference.js';
import type { ContractSession } from '../session.js';
import { knownSecretKey, rsaKeyPair } from './objects.js';
import { oaepMechanism } from './rsa.js';

type Handle = Buffer;

const UNWRAP = { public: [pkcs11js.CKA_WRAP], private: [pkcs11js.CKA_UNWRAP] };

/** The template of imported material: sensitive, non-extractable, one job. */
function importedTemplate(objectClass: number, keyType: number, job: number, token = false): pkcs11js.Template {
  return [
    { type: pkcs11js.CKA_CLASS, value: objectClass },
    { type: pkcs11js.CKA_KEY_TYPE, value: keyType },
    { type: pkcs11js.CKA_TOKEN, value: token },
    { type: pkcs11js.CKA_PRIVATE, value: true },
    { type: pkcs11js.CKA_SENSITIVE, value: true },
    { type: pkcs11js.CKA_EXTRACTABLE, value: false },
    { type: job, value: true },
  ];
}

/** Proves an unwrapped AES key holds `value` by one operation compared with Node (CMAC, GCM or CBC). */
function proveAesValue(ctx: ContractSession, key: Handle, value: Buffer): string {
  const data = randomBytes(32);
  if (ctx.listed(pkcs11js.CKM_AES_CBC)) {
    const iv = randomBytes(16);
    ctx.pkcs11.C_EncryptInit(ctx.session(), { mechanism: pkcs11js.CKM_AES_CBC, parameter: iv }, key);
    const out = Buffer.from(ctx.pkcs11.C_Encrypt(ctx.session(), data, Buffer.alloc(64)));
    const cipher = createCipheriv('aes-256-cbc', value, iv).setAutoPadding(false);
    expect(out.equals(Buffer.concat([cipher.update(data), cipher.final()])), 'the unwrapped key is not the material');
    return 'value checked with AES-CBC';
  }
  const iv = randomBytes(12);
  const parameter: pkcs11js.AesGCM = { type: pkcs11js.CK_PARAMS_AES_GCM, iv, ivBits: 96, tagBits: 128 };
  ctx.pkcs11.C_EncryptInit(ctx.session(), { mechanism: pkcs11js.CKM_AES_GCM, parameter }, key);
  const out = Buffer.from(ctx.pkcs11.C_Encrypt(ctx.session(), data, Buffer.alloc(64)));
  const cipher = createCipheriv('aes-256-gcm', value, iv);
  expect(out.equals(Buffer.concat([cipher.update(data), cipher.final(), cipher.getAuthTag()])), 'the unwrapped key is not the material');
  return 'value checked with AES-GCM';
}

/** Reads the flags an unwrapped object shows (PKCS#11: not CKA_LOCAL, not CKA_NEVER_EXTRACTABLE). */
function unwrappedFlags(ctx: ContractSession, key: Handle): string {
  const read = (type: number): string => {
    try {
      const value = ctx.pkcs11.C_GetAttributeValue(ctx.session(), key, [{ type }])[0]?.value;
      return Buffer.isBuffer(value) ? String(value[0] === 1) : '?';
    } catch {
      return '?';
    }
  };
  return `CKA_LOCAL=${read(pkcs11js.CKA_LOCAL)} CKA_NEVER_EXTRACTABLE=${read(pkcs11js.CKA_NEVER_EXTRACTABLE)}`;
}

export const WRAPPING_CHECKS: readonly ContractCheck[] = [
  {
    id: 'wrap.trusted',
    purpose: '`keybridge` replication: a CKA_WRAP_WITH_TRUSTED key wraps under the SO’s CKA_TRUSTED key and under no other',
    mechanisms: ['CKM_AES_KEY_WRAP_PAD'],
    needsSoPin: true,
    run(ctx) {
      const kekValue = randomBytes(32);
      // The SO makes the trusted wrapping key (only the SO may set CKA_TRUSTED).
      const trusted = ctx.asSecurityOfficer(ctx.options.soPin!, (session) =>
        ctx.track(
          ctx.pkcs11.C_CreateObject(session, [
            { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
            { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
            { type: pkcs11js.CKA_TOKEN, value: false },
            { type: pkcs11js.CKA_PRIVATE, value: false },
            { type: pkcs11js.CKA_TRUSTED, value: true },
            { type: pkcs11js.CKA_SENSITIVE, value: true },
            { type: pkcs11js.CKA_EXTRACTABLE, value: false },
            { type: pkcs11js.CKA_WRAP, value: true },
            { type: pkcs11js.CKA_UNWRAP, value: true },
            { type: pkcs11js.CKA_VALUE, value: kekValue },
          ]),
        ),
      );
      const targetValue = randomBytes(32);
      const target = knownSecretKey(ctx, pkcs11js.CKK_AES, targetValue, ['encrypt'], [{ type: pkcs11js.CKA_WRAP_WITH_TRUSTED, value: true }]);
      const mechanism = { mechanism: pkcs11js.CKM_AES_KEY_WRAP_PAD };
      const wrapped = Buffer.from(ctx.pkcs11.C_WrapKey(ctx.session(), mechanism, trusted, target, Buffer.alloc(64)));
      expect(wrapped.equals(aesKeyWrap(kekValue, targetValue, true)), "the wrapped key differs from Node's");
      const untrusted = knownSecretKey(ctx, pkcs11js.CKK_AES, randomBytes(32), ['wrap']);
      const code = refusal(() => ctx.pkcs11.C_WrapKey(ctx.session(), mechanism, untrusted, target, Buffer.alloc(64)), 'wrapping a CKA_WRAP_WITH_TRUSTED key under an untrusted key');
      return pass(`an untrusted wrapping key is refused with 0x${code.toString(16)}`);
    },
  },
  ...(['sha1', 'sha256'] as const).map(
    (hash): ContractCheck => ({
      id: `import.oaep-${hash}.unwrap`,
      purpose: `BYOK RSAES_OAEP_${hash === 'sha1' ? 'SHA_1' : 'SHA_256'}: AES-256 material unwrapped into the token by C_UnwrapKey`,
      mechanisms: ['CKM_RSA_PKCS_KEY_PAIR_GEN', 'CKM_RSA_PKCS_OAEP'],
      run(ctx) {
        const pair = rsaKeyPair(ctx, 2048, UNWRAP);
        const material = randomBytes(32);
        const wrapped = publicEncrypt({ key: rsaPublicKey(ctx.pkcs11, ctx.session(), pair.publicKey), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash }, material);
        const key = ctx.track(ctx.pkcs11.C_UnwrapKey(ctx.session(), oaepMechanism(hash), pair.privateKey, wrapped, importedTemplate(pkcs11js.CKO_SECRET_KEY, pkcs11js.CKK_AES, pkcs11js.CKA_ENCRYPT)));
        return pass(`${proveAesValue(ctx, key, material)}; ${unwrappedFlags(ctx, key)}`);
      },
    }),
  ),
  {
    id: 'import.rsa-aes-key-wrap.pkcs8',
    purpose: 'BYOK RSA_AES_KEY_WRAP_SHA_1: an AES key unwrapped with OAEP unwraps a PKCS#8 private key (RFC 5649) that then signs',
    mechanisms: ['CKM_RSA_PKCS_KEY_PAIR_GEN', 'CKM_RSA_PKCS_OAEP', 'CKM_AES_KEY_WRAP_PAD'],
    run(ctx) {
      const ec = ctx.listed(pkcs11js.CKM_ECDSA);
      if (!ec && !ctx.listed(pkcs11js.CKM_RSA_PKCS)) return unsupported('neither CKM_ECDSA nor CKM_RSA_PKCS to sign with the imported key');
      const pair = rsaKeyPair(ctx, 2048, UNWRAP);
      const aesValue = randomBytes(32);
      const wrappedAes = publicEncrypt({ key: rsaPublicKey(ctx.pkcs11, ctx.session(), pair.publicKey), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, aesValue);
      const aes = ctx.track(ctx.pkcs11.C_UnwrapKey(ctx.session(), oaepMechanism('sha1'), pair.privateKey, wrappedAes, importedTemplate(pkcs11js.CKO_SECRET_KEY, pkcs11js.CKK_AES, pkcs11js.CKA_UNWRAP)));
      const original = ec ? generateKeyPairSync('ec', { namedCurve: 'prime256v1' }) : generateKeyPairSync('rsa', { modulusLength: 2048 });
      const pkcs8 = original.privateKey.export({ format: 'der', type: 'pkcs8' });
      const imported = ctx.track(
        ctx.pkcs11.C_UnwrapKey(ctx.session(), { mechanism: pkcs11js.CKM_AES_KEY_WRAP_PAD }, aes, aesKeyWrap(aesValue, pkcs8, true), importedTemplate(pkcs11js.CKO_PRIVATE_KEY, ec ? pkcs11js.CKK_EC : pkcs11js.CKK_RSA, pkcs11js.CKA_SIGN)),
      );
      const message = randomBytes(64);
      const digest = createHash('sha256').update(message).digest();
      const input = ec ? digest : Buffer.concat([Buffer.from('3031300d060960864801650304020105000420', 'hex'), digest]);
      ctx.pkcs11.C_SignInit(ctx.session(), { mechanism: ec ? pkcs11js.CKM_ECDSA : pkcs11js.CKM_RSA_PKCS }, imported);
      const signature = Buffer.from(ctx.pkcs11.C_Sign(ctx.session(), input, Buffer.alloc(512)));
      const publicKey = createPublicKey(original.privateKey);
      expect(verify('sha256', message, ec ? { key: publicKey, dsaEncoding: 'ieee-p1363' } : publicKey, signature), 'the imported key does not sign as the original');
      return pass(`${ec ? 'EC P-256' : 'RSA-2048'} key; ${unwrappedFlags(ctx, imported)}`);
    },
  },
];
