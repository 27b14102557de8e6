// AES: generation in keybridge's shape, AES-GCM (every symmetric KMS key today), AES-CBC and
// AES-CMAC (the encrypt-then-MAC suite for tokens without GCM, and import's fingerprints), and AES
// key wrap with and without padding (replication between members, BYOK's RSA_AES_KEY_WRAP).

import { createCipheriv, randomBytes } from 'node:crypto';

import pkcs11js from 'pkcs11js';

import { describeError, expect, pass, refusal, unsupported, WrongResult, type ContractCheck } from '../check.js';
import { aesCmac, aesKeyUnwrap, aesKeyWrap } from '../reference.js';
import type { ContractSession } from '../session.js';
import { checkProtected, findSecretKey, knownSecretKey, protectedSecretTemplate, rsaKeyPair } from './objects.js';
import { oaepMechanism } from './rsa.js';

type Handle = Buffer;

/**
 * An AES-256 key for a comparison with Node: one with a value the suite chose when the token takes
 * it; otherwise one generated (or provisioned) in the token, with which only round trips can be
 * checked (`value` undefined).
 */
function aesKey(ctx: ContractSession, usages: Parameters<typeof knownSecretKey>[3]): { key: Handle; value?: Buffer; note?: string } {
  const value = randomBytes(32);
  try {
    return { key: knownSecretKey(ctx, pkcs11js.CKK_AES, value, usages), value };
  } catch (err) {
    const note = `round trip only: the token does not take a known AES key (${describeError(err)})`;
    const provisioned = ctx.options.secretKeyLabel === undefined ? undefined : findSecretKey(ctx, ctx.options.secretKeyLabel);
    if (provisioned !== undefined) return { key: provisioned, note: `${note}; provisioned key used` };
    const generated = ctx.pkcs11.C_GenerateKey(ctx.session(), { mechanism: pkcs11js.CKM_AES_KEY_GEN }, protectedSecretTemplate(ctx, pkcs11js.CKK_AES, 32, usages));
    return { key: ctx.track(generated), note };
  }
}

function encrypt(ctx: ContractSession, mechanism: pkcs11js.Mechanism, key: Handle, data: Buffer): Buffer {
  ctx.pkcs11.C_EncryptInit(ctx.session(), mechanism, key);
  return Buffer.from(ctx.pkcs11.C_Encrypt(ctx.session(), data, Buffer.alloc(data.length + 64)));
}

function decrypt(ctx: ContractSession, mechanism: pkcs11js.Mechanism, key: Handle, data: Buffer): Buffer {
  ctx.pkcs11.C_DecryptInit(ctx.session(), mechanism, key);
  return Buffer.from(ctx.pkcs11.C_Decrypt(ctx.session(), data, Buffer.alloc(data.length + 64)));
}

function nodeCipher(algorithm: string, key: Buffer, iv: Buffer, data: Buffer, padding: boolean): Buffer {
  const cipher = createCipheriv(algorithm, key, iv).setAutoPadding(padding);
  return Buffer.concat([cipher.update(data), cipher.final()]);
}

function compare(actual: Buffer, expected: Buffer | undefined, what: string): void {
  if (expected !== undefined) expect(actual.equals(expected), `${what} differs from Node's`);
}

/** GCM parameters: pkcs11js' CK_PARAMS_AES_GCM carries ulIvBits (PKCS#11 v2.40). */
function gcm(iv: Buffer, aad: Buffer): pkcs11js.Mechanism {
  const parameter: pkcs11js.AesGCM = { type: pkcs11js.CK_PARAMS_AES_GCM, iv, aad, ivBits: iv.length * 8, tagBits: 128 };
  return { mechanism: pkcs11js.CKM_AES_GCM, parameter };
}

/** Says how a token's wrap differs from the RFC's, by unwrapping it with Node. */
function wrapDifference(kek: Buffer, value: Buffer, wrapped: Buffer, padded: boolean): string {
  const inside = aesKeyUnwrap(kek, wrapped, padded);
  if (inside === undefined) return "the wrapped key differs from Node's, and Node cannot unwrap it";
  if (inside.length > value.length && inside.subarray(0, value.length).equals(value) && inside.subarray(value.length).every((b) => b === 0)) {
    return `the token zero-pads the ${value.length}-byte key to ${inside.length} bytes before wrapping, so the wrapped length says ${inside.length}: another RFC ${padded ? 5649 : 3394} implementation unwraps ${inside.length} bytes`;
  }
  return "the wrapped key differs from Node's: it holds other bytes";
}

export const SYMMETRIC_CHECKS: readonly ContractCheck[] = [
  {
    id: 'aes.generate',
    purpose: 'symmetric KMS keys: AES-256 generated in the token, sensitive, never extractable',
    mechanisms: ['CKM_AES_KEY_GEN'],
    run(ctx) {
      const key = ctx.track(ctx.pkcs11.C_GenerateKey(ctx.session(), { mechanism: pkcs11js.CKM_AES_KEY_GEN }, protectedSecretTemplate(ctx, pkcs11js.CKK_AES, 32, ['encrypt'])));
      checkProtected(ctx, key, pkcs11js.CKA_VALUE);
      return pass();
    },
  },
  {
    id: 'aes.gcm',
    purpose: 'Encrypt/Decrypt of symmetric keys: AES-256-GCM, 96-bit IV chosen by the caller, 128-bit tag, AAD',
    mechanisms: ['CKM_AES_GCM'],
    run(ctx) {
      const { key, value, note } = aesKey(ctx, ['encrypt']);
      const iv = randomBytes(12);
      const aad = randomBytes(20);
      const plaintext = randomBytes(32);
      const sealed = encrypt(ctx, gcm(iv, aad), key, plaintext);
      if (value !== undefined) {
        const cipher = createCipheriv('aes-256-gcm', value, iv).setAAD(aad);
        const expected = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
        compare(sealed, expected, 'the ciphertext and tag');
      }
      expect(decrypt(ctx, gcm(iv, aad), key, sealed).equals(plaintext), 'decrypting gives other bytes');
      const tampered = Buffer.from(sealed);
      tampered[tampered.length - 1]! ^= 1;
      const code = refusal(() => decrypt(ctx, gcm(iv, aad), key, tampered), 'a ciphertext with a changed tag');
      return pass(`a changed tag is refused with 0x${code.toString(16)}${note === undefined ? '' : `; ${note}`}`);
    },
  },
  ...[false, true].map(
    (padded): ContractCheck => ({
      id: padded ? 'aes.cbc-pad' : 'aes.cbc',
      purpose: padded
        ? 'the same suite on a token without raw CBC: AES-256-CBC with PKCS#7 padding in the token'
        : 'the AES_256_CBC_HMAC_SHA_256 suite for tokens without AES-GCM: AES-256-CBC in the token, PKCS#7 padding on the host',
      mechanisms: [padded ? 'CKM_AES_CBC_PAD' : 'CKM_AES_CBC'],
      run(ctx) {
        const { key, value, note } = aesKey(ctx, ['encrypt']);
        const iv = randomBytes(16);
        // Raw CBC takes whole blocks; with padding, a length that is not one shows the padding.
        const plaintext = randomBytes(padded ? 33 : 32);
        const mechanism = { mechanism: padded ? pkcs11js.CKM_AES_CBC_PAD : pkcs11js.CKM_AES_CBC, parameter: iv };
        const ciphertext = encrypt(ctx, mechanism, key, plaintext);
        compare(ciphertext, value && nodeCipher('aes-256-cbc', value, iv, plaintext, padded), 'the ciphertext');
        expect(decrypt(ctx, mechanism, key, ciphertext).equals(plaintext), 'decrypting gives other bytes');
        return pass(note);
      },
    }),
  ),
  {
    id: 'aes.cmac',
    purpose: "BYOK: the fingerprint of imported AES material (a CMAC under it) names it without reading it",
    mechanisms: ['CKM_AES_CMAC'],
    run(ctx) {
      const { key, value, note } = aesKey(ctx, ['sign']);
      const message = randomBytes(40);
      ctx.pkcs11.C_SignInit(ctx.session(), { mechanism: pkcs11js.CKM_AES_CMAC }, key);
      const mac = Buffer.from(ctx.pkcs11.C_Sign(ctx.session(), message, Buffer.alloc(16)));
      compare(mac, value && aesCmac(value, message), 'the CMAC');
      expect(mac.length === 16, `the CMAC has ${mac.length} bytes`);
      return pass(note);
    },
  },
  ...[false, true].map(
    (padded): ContractCheck => ({
      id: padded ? 'aes.key-wrap-pad' : 'aes.key-wrap',
      purpose: padded
        ? 'replication between members and BYOK RSA_AES_KEY_WRAP: AES key wrap with padding (RFC 5649)'
        : 'AES key wrap (RFC 3394) of an AES key',
      mechanisms: [padded ? 'CKM_AES_KEY_WRAP_PAD' : 'CKM_AES_KEY_WRAP'],
      run(ctx) {
        const kekValue = randomBytes(32);
        const kek = knownSecretKey(ctx, pkcs11js.CKK_AES, kekValue, ['wrap']);
        // Padding matters only for a value that is not a multiple of 8 bytes: a 20-byte secret.
        const targetValue = randomBytes(padded ? 20 : 32);
        const target = knownSecretKey(ctx, padded ? pkcs11js.CKK_GENERIC_SECRET : pkcs11js.CKK_AES, targetValue, ['sign']);
        const mechanism = { mechanism: padded ? pkcs11js.CKM_AES_KEY_WRAP_PAD : pkcs11js.CKM_AES_KEY_WRAP };
        const wrapped = Buffer.from(ctx.pkcs11.C_WrapKey(ctx.session(), mechanism, kek, target, Buffer.alloc(64)));
        if (!wrapped.equals(aesKeyWrap(kekValue, targetValue, padded))) throw new WrongResult(wrapDifference(kekValue, targetValue, wrapped, padded));
        const unwrapped = ctx.pkcs11.C_UnwrapKey(ctx.session(), mechanism, kek, wrapped, [
          { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
          { type: pkcs11js.CKA_KEY_TYPE, value: padded ? pkcs11js.CKK_GENERIC_SECRET : pkcs11js.CKK_AES },
          { type: pkcs11js.CKA_TOKEN, value: false },
          { type: pkcs11js.CKA_SENSITIVE, value: true },
          { type: pkcs11js.CKA_EXTRACTABLE, value: false },
          { type: pkcs11js.CKA_SIGN, value: true },
        ]);
        ctx.track(unwrapped);
        checkProtected(ctx, unwrapped, pkcs11js.CKA_VALUE, false);
        return pass();
      },
    }),
  ),
  {
    id: 'aes.non-extractable-not-wrappable',
    purpose: 'the promise itself: a key made non-extractable cannot be wrapped out by anyone',
    mechanisms: ['CKM_AES_KEY_GEN'],
    run(ctx) {
      // Any wrapping mechanism the token has: AES key wrap, or RSA-OAEP under a public key.
      const aesWrap = [pkcs11js.CKM_AES_KEY_WRAP_PAD, pkcs11js.CKM_AES_KEY_WRAP].find((m) => ctx.listed(m));
      let wrap: { mechanism: pkcs11js.Mechanism; key: Handle };
      if (aesWrap !== undefined) {
        wrap = { mechanism: { mechanism: aesWrap }, key: knownSecretKey(ctx, pkcs11js.CKK_AES, randomBytes(32), ['wrap']) };
      } else if (ctx.listed(pkcs11js.CKM_RSA_PKCS_OAEP) && ctx.listed(pkcs11js.CKM_RSA_PKCS_KEY_PAIR_GEN)) {
        wrap = { mechanism: oaepMechanism('sha1'), key: rsaKeyPair(ctx, 2048, { public: [pkcs11js.CKA_WRAP], private: [pkcs11js.CKA_UNWRAP] }).publicKey };
      } else {
        return unsupported('no wrapping mechanism to try (AES key wrap or RSA-OAEP)');
      }
      const target = ctx.track(ctx.pkcs11.C_GenerateKey(ctx.session(), { mechanism: pkcs11js.CKM_AES_KEY_GEN }, protectedSecretTemplate(ctx, pkcs11js.CKK_AES, 32, ['encrypt'])));
      const code = refusal(() => ctx.pkcs11.C_WrapKey(ctx.session(), wrap.mechanism, wrap.key, target, Buffer.alloc(512)), 'wrapping a non-extractable key');
      return pass(`refused with 0x${code.toString(16)}`);
    },
  },
];
