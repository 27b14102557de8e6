// Not a test file: a program the three-token test runs inside a lab token's environment
// (argv: module path, token label, PIN). It drives keybridge's own HSM adapter (Pkcs11Hsm) on that
// token — what CreateKey asks (missingMechanism) for every key spec, and for the specs the token
// can serve, a key generated and used through the adapter — and prints the outcome as JSON.

import { createHash, createPublicKey, verify } from 'node:crypto';

import type { KeySpec, KeyUsage } from '../../../src/domain/key-spec.js';
import { Pkcs11Hsm } from '../../../src/hsm/pkcs11/pkcs11-hsm.js';
import { loadVendorProfile, newBackingKeyRef } from '../../support/softhsm.js';

export interface AdapterSmokeResult {
  /** `${spec}/${usage}` → the missing mechanism CreateKey would name, or null when the token can. */
  readonly refusals: Record<string, string | null>;
  /** What the keys generated through the adapter did. */
  readonly used: Record<string, 'ok' | string>;
}

const ASKED: ReadonlyArray<[KeySpec, KeyUsage]> = [
  ['SYMMETRIC_DEFAULT', 'ENCRYPT_DECRYPT'],
  ['RSA_2048', 'SIGN_VERIFY'],
  ['RSA_2048', 'ENCRYPT_DECRYPT'],
  ['RSA_4096', 'SIGN_VERIFY'],
  ['ECC_NIST_P256', 'SIGN_VERIFY'],
  ['ECC_NIST_P256', 'KEY_AGREEMENT'],
  ['ECC_NIST_EDWARDS25519', 'SIGN_VERIFY'],
  ['HMAC_256', 'GENERATE_VERIFY_MAC'],
];

async function main(): Promise<void> {
  const [modulePath, tokenLabel, pin] = process.argv.slice(2) as [string, string, string];
  const hsm = await Pkcs11Hsm.open({ modulePath, tokenLabel, pin, profile: loadVendorProfile('generic'), maxSessions: 2 });
  const result: AdapterSmokeResult = { refusals: {}, used: {} };
  try {
    for (const [spec, usage] of ASKED) result.refusals[`${spec}/${usage}`] = (await hsm.missingMechanism(spec, usage)) ?? null;
    const choice = await hsm.symmetricSuite();
    if (result.refusals['SYMMETRIC_DEFAULT/ENCRYPT_DECRYPT'] === null && 'suite' in choice) {
      // The suite the token gets on its own (AES-GCM, or CBC-HMAC without it): a round trip, and for
      // CBC-HMAC a changed tag refused by the MAC check in the token.
      result.used[`SYMMETRIC_DEFAULT ${choice.suite}`] = await attempt(async () => {
        const ref = newBackingKeyRef();
        await hsm.generateSymmetricKey(ref, choice.suite);
        try {
          const message = Buffer.from('keybridge adapter smoke');
          const aad = Buffer.from('header and context');
          const sealed = await hsm.encrypt(ref, message, aad, choice.suite);
          if (!(await hsm.decrypt(ref, sealed.iv, sealed.ciphertext, sealed.tag, aad, choice.suite)).equals(message)) return 'decrypts to other bytes';
          // A bad GCM tag's CKR is the vendor profile's business (badTagCkrs; this runs with `generic`).
          if (choice.suite === 'AES_256_GCM') return 'ok';
          const tag = Buffer.from(sealed.tag);
          tag[0]! ^= 1;
          const refused = await hsm.decrypt(ref, sealed.iv, sealed.ciphertext, tag, aad, choice.suite).then(
            () => 'a changed tag decrypted',
            (err: unknown) => ((err as { code?: string }).code === 'HSM_DECRYPT_FAILED' ? 'ok' : `a changed tag: ${String(err)}`),
          );
          return refused;
        } finally {
          await hsm.destroySymmetricKey(ref);
        }
      });
    }
    if (result.refusals['RSA_2048/SIGN_VERIFY'] === null) {
      result.used['RSA_2048 RSASSA_PSS_SHA_256'] = await attempt(async () => {
        const ref = newBackingKeyRef();
        const spki = await hsm.generateKeyPair(ref, 'RSA_2048', 'SIGN_VERIFY');
        try {
          const message = Buffer.from('keybridge adapter smoke');
          const signature = await hsm.sign(ref, 'RSASSA_PSS_SHA_256', createHash('sha256').update(message).digest());
          const key = { key: createPublicKey({ key: spki, format: 'der', type: 'spki' }), padding: 6, saltLength: 32 };
          return verify('sha256', message, key, signature) ? 'ok' : 'Node does not verify the signature';
        } finally {
          await hsm.destroySymmetricKey(ref);
        }
      });
    }
    if (result.refusals['HMAC_256/GENERATE_VERIFY_MAC'] === null) {
      result.used['HMAC_256 HMAC_SHA_256'] = await attempt(async () => {
        const ref = newBackingKeyRef();
        await hsm.generateMacKey(ref, 'HMAC_256');
        try {
          const message = Buffer.from('keybridge adapter smoke');
          const tag = await hsm.mac(ref, 'HMAC_SHA_256', message);
          return (await hsm.verifyMac(ref, 'HMAC_SHA_256', message, tag)) && tag.length === 32 ? 'ok' : 'the MAC does not verify';
        } finally {
          await hsm.destroySymmetricKey(ref);
        }
      });
    }
  } finally {
    await hsm.close();
  }
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

async function attempt(fn: () => Promise<string>): Promise<string> {
  try {
    return await fn();
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

await main();
