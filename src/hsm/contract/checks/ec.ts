// Elliptic curves: ECDSA on every KMS curve verified by Node, ECDH (DeriveSharedSecret) compared
// with Node's, and Ed25519 (PKCS#11 v3.0's CKM_EDDSA).

import { createECDH, createHash, randomBytes, verify } from 'node:crypto';

import pkcs11js from 'pkcs11js';

import { expect, mechanismNumber, pass, type ContractCheck } from '../check.js';
import { CURVES, ecPublicKey, ED25519_PARAMS, ed25519PublicKey, type Curve } from '../reference.js';
import type { ContractSession } from '../session.js';
import { checkProtected, generateKeyPair } from './objects.js';

function ecKeyPair(ctx: ContractSession, curve: Curve, usage: 'sign' | 'derive'): ReturnType<typeof generateKeyPair> {
  return generateKeyPair(ctx, pkcs11js.CKM_EC_KEY_PAIR_GEN, [{ type: pkcs11js.CKA_EC_PARAMS, value: curve.params }], {
    public: usage === 'sign' ? [pkcs11js.CKA_VERIFY] : [],
    private: usage === 'sign' ? [pkcs11js.CKA_SIGN] : [pkcs11js.CKA_DERIVE],
  });
}

function sign(ctx: ContractSession, mechanism: number, key: Buffer, data: Buffer): Buffer {
  ctx.pkcs11.C_SignInit(ctx.session(), { mechanism }, key);
  return Buffer.from(ctx.pkcs11.C_Sign(ctx.session(), data, Buffer.alloc(256)));
}

export const EC_CHECKS: readonly ContractCheck[] = [
  ...CURVES.map(
    (curve): ContractCheck => ({
      id: `ec.${curve.name}.ecdsa`,
      purpose: `ECC ${curve.jwk} keys: generated in the token, CKM_ECDSA over a digest, verified by Node`,
      mechanisms: ['CKM_EC_KEY_PAIR_GEN', 'CKM_ECDSA'],
      run(ctx) {
        const pair = ecKeyPair(ctx, curve, 'sign');
        checkProtected(ctx, pair.privateKey, pkcs11js.CKA_VALUE);
        const message = randomBytes(64);
        const signature = sign(ctx, pkcs11js.CKM_ECDSA, pair.privateKey, createHash(curve.hash).update(message).digest());
        expect(signature.length === 2 * curve.coordinateBytes, `the signature has ${signature.length} bytes, not r‖s`);
        const key = { key: ecPublicKey(ctx.pkcs11, ctx.session(), pair.publicKey, curve), dsaEncoding: 'ieee-p1363' as const };
        expect(verify(curve.hash, message, key, signature), 'Node does not verify the signature');
        return pass();
      },
    }),
  ),
  {
    id: 'ec.p256.ecdh',
    purpose: 'KEY_AGREEMENT keys: DeriveSharedSecret (CKM_ECDH1_DERIVE, no KDF) equals Node’s ECDH',
    mechanisms: ['CKM_EC_KEY_PAIR_GEN', 'CKM_ECDH1_DERIVE'],
    run(ctx) {
      const curve = CURVES[0]!;
      const pair = ecKeyPair(ctx, curve, 'derive');
      const peer = createECDH(curve.node);
      const peerPoint = peer.generateKeys();
      const parameter: pkcs11js.ECDH1 = { type: pkcs11js.CK_PARAMS_EC_DH, kdf: pkcs11js.CKD_NULL, publicData: peerPoint };
      const secret = ctx.track(
        ctx.pkcs11.C_DeriveKey(ctx.session(), { mechanism: pkcs11js.CKM_ECDH1_DERIVE, parameter }, pair.privateKey, [
          { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
          { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_GENERIC_SECRET },
          { type: pkcs11js.CKA_VALUE_LEN, value: 32 },
          { type: pkcs11js.CKA_TOKEN, value: false },
          { type: pkcs11js.CKA_SENSITIVE, value: false },
          { type: pkcs11js.CKA_EXTRACTABLE, value: true },
        ]),
      );
      const value = ctx.pkcs11.C_GetAttributeValue(ctx.session(), secret, [{ type: pkcs11js.CKA_VALUE }])[0]!.value as Buffer;
      const point = ecPublicKey(ctx.pkcs11, ctx.session(), pair.publicKey, curve).export({ format: 'jwk' });
      const tokenPoint = Buffer.concat([Buffer.from([4]), Buffer.from(point.x!, 'base64url'), Buffer.from(point.y!, 'base64url')]);
      expect(value.equals(peer.computeSecret(tokenPoint)), "the shared secret differs from Node's");
      return pass();
    },
  },
  {
    id: 'ed25519.eddsa',
    purpose: 'ECC_NIST_EDWARDS25519 keys: CKM_EC_EDWARDS_KEY_PAIR_GEN and CKM_EDDSA (PKCS#11 v3.0), verified by Node',
    mechanisms: ['CKM_EC_EDWARDS_KEY_PAIR_GEN', 'CKM_EDDSA'],
    run(ctx) {
      const pair = generateKeyPair(ctx, mechanismNumber('CKM_EC_EDWARDS_KEY_PAIR_GEN'), [{ type: pkcs11js.CKA_EC_PARAMS, value: ED25519_PARAMS }], {
        public: [pkcs11js.CKA_VERIFY],
        private: [pkcs11js.CKA_SIGN],
      });
      checkProtected(ctx, pair.privateKey, pkcs11js.CKA_VALUE);
      const message = randomBytes(64);
      const signature = sign(ctx, mechanismNumber('CKM_EDDSA'), pair.privateKey, message);
      expect(verify(null, message, ed25519PublicKey(ctx.pkcs11, ctx.session(), pair.publicKey), signature), 'Node does not verify the signature');
      return pass();
    },
  },
];
