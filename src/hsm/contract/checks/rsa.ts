// RSA: key pairs of each KMS size, signatures (PKCS#1 v1.5 over a digest, PSS, and the combined
// CKM_SHA256_RSA_PKCS) verified by Node, and decryption of Node's OAEP ciphertexts with SHA-1 and
// SHA-256 — the one keybridge completes on the host with raw RSA (CKM_RSA_X_509) when the token
// takes only SHA-1 in OAEP's parameters.

import { constants, createHash, publicEncrypt, randomBytes, verify } from 'node:crypto';

import pkcs11js from 'pkcs11js';

import { expect, pass, refusal, type ContractCheck } from '../check.js';
import { rsaPublicKey, sha256DigestInfo } from '../reference.js';
import type { ContractSession } from '../session.js';
import { checkProtected, rsaKeyPair } from './objects.js';

const SIGN = { public: [pkcs11js.CKA_VERIFY], private: [pkcs11js.CKA_SIGN] };
const DECRYPT = { public: [pkcs11js.CKA_ENCRYPT], private: [pkcs11js.CKA_DECRYPT] };

function sign(ctx: ContractSession, mechanism: pkcs11js.Mechanism, key: Buffer, data: Buffer): Buffer {
  ctx.pkcs11.C_SignInit(ctx.session(), mechanism, key);
  return Buffer.from(ctx.pkcs11.C_Sign(ctx.session(), data, Buffer.alloc(1024)));
}

function decrypt(ctx: ContractSession, mechanism: pkcs11js.Mechanism, key: Buffer, data: Buffer): Buffer {
  ctx.pkcs11.C_DecryptInit(ctx.session(), mechanism, key);
  return Buffer.from(ctx.pkcs11.C_Decrypt(ctx.session(), data, Buffer.alloc(1024)));
}

export function oaepMechanism(hash: 'sha1' | 'sha256'): pkcs11js.Mechanism {
  const parameter: pkcs11js.RsaOAEP =
    hash === 'sha1'
      ? { type: pkcs11js.CK_PARAMS_RSA_OAEP, hashAlg: pkcs11js.CKM_SHA_1, mgf: pkcs11js.CKG_MGF1_SHA1, source: 1 }
      : { type: pkcs11js.CK_PARAMS_RSA_OAEP, hashAlg: pkcs11js.CKM_SHA256, mgf: pkcs11js.CKG_MGF1_SHA256, source: 1 };
  return { mechanism: pkcs11js.CKM_RSA_PKCS_OAEP, parameter };
}

/**
 * Run last: on tpm2-pkcs11, checks that ran after this one's refused generation failed too (P-384
 * ECDSA with CKR_GENERAL_ERROR), which they do not when it comes after them.
 */
export const SINGLE_PURPOSE_CHECKS: readonly ContractCheck[] = [
  {
    id: 'keys.single-purpose',
    purpose: 'every key pair keybridge makes may do only its KeyUsage: an RSA signing pair with decrypt, wrap and unwrap set false',
    mechanisms: ['CKM_RSA_PKCS_KEY_PAIR_GEN', 'CKM_RSA_PKCS_PSS'],
    run(ctx) {
      const pair = rsaKeyPair(ctx, 2048, SIGN, {
        public: [pkcs11js.CKA_ENCRYPT, pkcs11js.CKA_WRAP],
        private: [pkcs11js.CKA_DECRYPT, pkcs11js.CKA_UNWRAP],
      });
      const code = refusal(() => ctx.pkcs11.C_DecryptInit(ctx.session(), oaepMechanism('sha1'), pair.privateKey), 'decrypting with a signing-only key');
      return pass(`decrypting with it is refused with 0x${code.toString(16)}`);
    },
  },
];

const PSS_SHA256: pkcs11js.RsaPSS = { type: pkcs11js.CK_PARAMS_RSA_PSS, hashAlg: pkcs11js.CKM_SHA256, mgf: pkcs11js.CKG_MGF1_SHA256, saltLen: 32 };
const sha256 = (message: Buffer): Buffer => createHash('sha256').update(message).digest();

/** RSA signatures over SHA-256, each verified by Node: what the token signs, and how. */
const SIGNATURE_SCHEMES: ReadonlyArray<{ id: string; purpose: string; mechanismName: string; mechanism: pkcs11js.Mechanism; input: (message: Buffer) => Buffer; pss: boolean }> = [
  {
    id: 'rsa.pkcs1.sign',
    purpose: 'RSASSA_PKCS1_V1_5_SHA_*: CKM_RSA_PKCS over a DigestInfo built on the host',
    mechanismName: 'CKM_RSA_PKCS',
    mechanism: { mechanism: pkcs11js.CKM_RSA_PKCS },
    input: (message) => sha256DigestInfo(sha256(message)),
    pss: false,
  },
  {
    id: 'rsa.sha256-pkcs1.sign',
    purpose: 'not used by keybridge (it hashes on the host); reported because tokens differ',
    mechanismName: 'CKM_SHA256_RSA_PKCS',
    mechanism: { mechanism: pkcs11js.CKM_SHA256_RSA_PKCS },
    input: (message) => message,
    pss: false,
  },
  {
    id: 'rsa.pss.sign',
    purpose: 'RSASSA_PSS_SHA_*: CKM_RSA_PKCS_PSS over a digest, salt as long as the digest',
    mechanismName: 'CKM_RSA_PKCS_PSS',
    mechanism: { mechanism: pkcs11js.CKM_RSA_PKCS_PSS, parameter: PSS_SHA256 },
    input: sha256,
    pss: true,
  },
];

export const RSA_CHECKS: readonly ContractCheck[] = [
  ...[2048, 3072, 4096].map(
    (bits): ContractCheck => ({
      id: `rsa.generate.${bits}`,
      purpose: `RSA_${bits} KMS keys: the private key sensitive and never extractable`,
      mechanisms: ['CKM_RSA_PKCS_KEY_PAIR_GEN'],
      run(ctx) {
        const pair = rsaKeyPair(ctx, bits, SIGN);
        checkProtected(ctx, pair.privateKey, pkcs11js.CKA_PRIVATE_EXPONENT);
        const modulus = ctx.pkcs11.C_GetAttributeValue(ctx.session(), pair.publicKey, [{ type: pkcs11js.CKA_MODULUS }])[0]!.value as Buffer;
        expect(modulus.length * 8 === bits, `the modulus has ${modulus.length * 8} bits`);
        return pass();
      },
    }),
  ),
  ...SIGNATURE_SCHEMES.map(
    (scheme): ContractCheck => ({
      id: scheme.id,
      purpose: scheme.purpose,
      mechanisms: ['CKM_RSA_PKCS_KEY_PAIR_GEN', scheme.mechanismName],
      run(ctx) {
        const pair = rsaKeyPair(ctx, 2048, SIGN);
        const message = randomBytes(64);
        const signature = sign(ctx, scheme.mechanism, pair.privateKey, scheme.input(message));
        const publicKey = rsaPublicKey(ctx.pkcs11, ctx.session(), pair.publicKey);
        const key = scheme.pss ? { key: publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 } : publicKey;
        expect(verify('sha256', message, key, signature), 'Node does not verify the signature');
        return pass();
      },
    }),
  ),
  ...(['sha1', 'sha256'] as const).map(
    (hash): ContractCheck => ({
      id: `rsa.oaep-${hash}.decrypt`,
      purpose: `RSAES_OAEP_${hash === 'sha1' ? 'SHA_1' : 'SHA_256'} Decrypt in the token`,
      mechanisms: ['CKM_RSA_PKCS_KEY_PAIR_GEN', 'CKM_RSA_PKCS_OAEP'],
      run(ctx) {
        const pair = rsaKeyPair(ctx, 2048, DECRYPT);
        const plaintext = randomBytes(48);
        const ciphertext = publicEncrypt({ key: rsaPublicKey(ctx.pkcs11, ctx.session(), pair.publicKey), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash }, plaintext);
        expect(decrypt(ctx, oaepMechanism(hash), pair.privateKey, ciphertext).equals(plaintext), 'decrypting gives other bytes');
        return pass();
      },
    }),
  ),
  {
    id: 'rsa.x509.decrypt',
    purpose: 'raw RSA decryption, for RSAES_OAEP_SHA_256 completed on the host where the token lacks it',
    mechanisms: ['CKM_RSA_PKCS_KEY_PAIR_GEN', 'CKM_RSA_X_509'],
    run(ctx) {
      const pair = rsaKeyPair(ctx, 2048, DECRYPT);
      const block = Buffer.concat([Buffer.from([0]), randomBytes(255)]);
      const ciphertext = publicEncrypt({ key: rsaPublicKey(ctx.pkcs11, ctx.session(), pair.publicKey), padding: constants.RSA_NO_PADDING }, block);
      const plain = decrypt(ctx, { mechanism: pkcs11js.CKM_RSA_X_509 }, pair.privateKey, ciphertext);
      // Tokens may strip leading zero bytes; the value is what counts.
      expect(Buffer.concat([Buffer.alloc(256 - plain.length), plain]).equals(block), 'decrypting gives other bytes');
      return pass();
    },
  },
];
