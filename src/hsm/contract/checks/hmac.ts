// HMAC keys: generic secrets generated in the token, and HMAC-SHA-224/256/384/512 compared with
// Node (GenerateMac/VerifyMac).

import { createHmac, randomBytes } from 'node:crypto';

import pkcs11js from 'pkcs11js';

import { ckrCodeOf, describeError, expect, pass, type ContractCheck } from '../check.js';
import type { ContractSession } from '../session.js';
import { checkProtected, findSecretKey, knownSecretKey, protectedSecretTemplate } from './objects.js';

type Handle = Buffer;

const HASHES = [
  { name: 'sha224', mechanism: 'CKM_SHA224_HMAC', bytes: 28 },
  { name: 'sha256', mechanism: 'CKM_SHA256_HMAC', bytes: 32 },
  { name: 'sha384', mechanism: 'CKM_SHA384_HMAC', bytes: 48 },
  { name: 'sha512', mechanism: 'CKM_SHA512_HMAC', bytes: 64 },
] as const;

function hmacKey(ctx: ContractSession, bytes: number): { key: Handle; value?: Buffer; note?: string } {
  const value = randomBytes(bytes);
  try {
    return { key: knownSecretKey(ctx, pkcs11js.CKK_GENERIC_SECRET, value, ['sign']), value };
  } catch (err) {
    const note = `round trip only: the token does not take a known secret (${describeError(err)})`;
    const provisioned = ctx.options.hmacKeyLabel === undefined ? undefined : findSecretKey(ctx, ctx.options.hmacKeyLabel);
    if (provisioned !== undefined) return { key: provisioned, note: `${note}; provisioned key used` };
    const template = protectedSecretTemplate(ctx, pkcs11js.CKK_GENERIC_SECRET, bytes, ['sign']);
    return { key: ctx.track(ctx.pkcs11.C_GenerateKey(ctx.session(), { mechanism: pkcs11js.CKM_GENERIC_SECRET_KEY_GEN }, template)), note };
  }
}

export const HMAC_CHECKS: readonly ContractCheck[] = [
  {
    id: 'hmac.generate',
    purpose: 'HMAC KMS keys: a generic secret generated in the token, sensitive, never extractable',
    mechanisms: ['CKM_GENERIC_SECRET_KEY_GEN'],
    run(ctx) {
      const template = protectedSecretTemplate(ctx, pkcs11js.CKK_GENERIC_SECRET, 32, ['sign']);
      const key = ctx.track(ctx.pkcs11.C_GenerateKey(ctx.session(), { mechanism: pkcs11js.CKM_GENERIC_SECRET_KEY_GEN }, template));
      checkProtected(ctx, key, pkcs11js.CKA_VALUE);
      return pass();
    },
  },
  ...HASHES.map(
    (hash): ContractCheck => ({
      id: `hmac.${hash.name}`,
      purpose: `GenerateMac/VerifyMac with HMAC_${hash.name.slice(3)}`,
      mechanisms: [hash.mechanism],
      run(ctx) {
        const mechanism = { mechanism: (pkcs11js as unknown as Record<string, number>)[hash.mechanism]! };
        const { key, value, note } = hmacKey(ctx, hash.bytes);
        const message = randomBytes(100);
        ctx.pkcs11.C_SignInit(ctx.session(), mechanism, key);
        const mac = Buffer.from(ctx.pkcs11.C_Sign(ctx.session(), message, Buffer.alloc(64)));
        if (value !== undefined) expect(mac.equals(createHmac(hash.name, value).update(message).digest()), "the MAC differs from Node's");
        expect(mac.length === hash.bytes, `the MAC has ${mac.length} bytes`);
        ctx.pkcs11.C_VerifyInit(ctx.session(), mechanism, key);
        expect(ctx.pkcs11.C_Verify(ctx.session(), message, mac), 'C_Verify refuses the right MAC');
        const wrong = Buffer.from(mac);
        wrong[0]! ^= 1;
        ctx.pkcs11.C_VerifyInit(ctx.session(), mechanism, key);
        // pkcs11js answers false or throws CKR_SIGNATURE_INVALID; both are a refusal.
        let verdict: string;
        try {
          expect(!ctx.pkcs11.C_Verify(ctx.session(), message, wrong), 'C_Verify accepts a changed MAC');
          verdict = 'a changed MAC is refused (false)';
        } catch (err) {
          const code = ckrCodeOf(err);
          if (code === undefined) throw err;
          verdict = `a changed MAC is refused with 0x${code.toString(16)}`;
        }
        return pass([verdict, note].filter(Boolean).join('; '));
      },
    }),
  ),
];
