// The AES_256_CBC_HMAC_SHA_256 suite for tokens without AES-GCM (docs/ciphertext-format.md):
// encrypt-then-MAC with two key objects per material, both used inside the HSM only.
//
// - The encryption key is the AES-256 backing key itself (CKA_ID = the material id, only
//   CKA_ENCRYPT/CKA_DECRYPT), made with the same template as a GCM material's key.
// - The MAC key is a 32-byte generic secret (only CKA_SIGN/CKA_VERIFY) beside it, whose CKA_ID is
//   the material id followed by one byte, MAC_OBJECT_ID_SUFFIX: a lookup by the material id alone
//   (class and CKA_ID) still finds exactly one object, the encryption key, and listings that take
//   32-byte ids as backing keys never mistake the MAC key for a material of its own.
//
// The construction is AEAD_AES_256_CBC_HMAC_SHA_512's (draft-mcgrew-aead-aes-cbc-hmac-sha2) with
// SHA-256 and the whole 32-byte tag: tag = HMAC(macKey, A ‖ IV ‖ C ‖ AL), A the associated data
// (blob header ‖ canonical encryption context), AL its length in bits as 64-bit big-endian, so no
// bytes can move between A and C. Decrypt verifies the tag with C_Verify before it decrypts
// anything; every failure is the same HSM_DECRYPT_FAILED, and the host never sees a padding check
// of unauthenticated data. The IV is 16 bytes from the token's RNG.
//
// CBC padding (PKCS#7) is done on the host over raw CKM_AES_CBC wherever the token has it: the
// plaintext is the caller's anyway, only authenticated ciphertexts are ever decrypted, and a
// malformed pad is then found by our code, the same way on every token (SoftHSM2 answers a bad pad
// under CKM_AES_CBC_PAD with CKR_GENERAL_ERROR; tpm2-pkcs11's CKM_AES_CBC_PAD fails on whole
// blocks). Only a token without raw CBC pads itself (CKM_AES_CBC_PAD).

import pkcs11js from 'pkcs11js';

import { CBC_BLOCK_BYTES, CBC_IV_BYTES, HMAC_TAG_BYTES } from '../../domain/ciphertext-blob.js';
import type { SymmetricSuite } from '../../domain/symmetric-suite.js';
import type { BackingKeyRef } from '../../ports/hsm.js';
import { HsmError } from '../../ports/hsm.js';
import { hmac, hmacVerify } from './asymmetric-ops.js';
import { nonNullData } from './buffers.js';
import { CKR, ckrName, ckrOf } from './ckr.js';
import { hmacKeyTemplate } from './asymmetric-templates.js';
import { backingKeyId } from './key-templates.js';
import type { Handle, Pkcs11 } from './module.js';

/** The byte after the material id in the MAC key's CKA_ID ('M'). */
export const MAC_OBJECT_ID_SUFFIX = 0x4d;
export const MAC_OBJECT_ID_BYTES = 33;

/** The MAC key's CKA_ID: the material id ‖ MAC_OBJECT_ID_SUFFIX. */
export function macObjectId(ref: BackingKeyRef): Buffer {
  return Buffer.concat([backingKeyId(ref), Buffer.from([MAC_OBJECT_ID_SUFFIX])]);
}

/** The material id (hex) a MAC key's CKA_ID belongs to; undefined when the id is not a MAC key's. */
export function materialIdOfMacObject(id: Buffer): string | undefined {
  return id.length === MAC_OBJECT_ID_BYTES && id[MAC_OBJECT_ID_BYTES - 1] === MAC_OBJECT_ID_SUFFIX ? id.subarray(0, MAC_OBJECT_ID_BYTES - 1).toString('hex') : undefined;
}

/**
 * The MAC key: an HMAC_256 key's template (sensitive, non-extractable, sign and verify only) under
 * the MAC key's CKA_ID.
 */
export function macKeyTemplate(ref: BackingKeyRef): pkcs11js.Template {
  const id = macObjectId(ref);
  return hmacKeyTemplate(ref, 'HMAC_256').map((attr) => (attr.type === pkcs11js.CKA_ID ? { type: pkcs11js.CKA_ID, value: id } : attr));
}

/**
 * The AES key's template for a material of `suite`: a CBC-HMAC material's encryption key may not
 * sign, verify or derive (tokens default CKA_SIGN to true on AES keys: CMAC), so each of the two
 * keys does one thing. A GCM material's template is left as it is.
 */
export function encryptionKeyTemplate(suite: SymmetricSuite, template: pkcs11js.Template): pkcs11js.Template {
  if (suite !== 'AES_256_CBC_HMAC_SHA_256') return template;
  const denied = new Set<number>([pkcs11js.CKA_SIGN, pkcs11js.CKA_VERIFY, pkcs11js.CKA_DERIVE]);
  return [...template.filter((attr) => !denied.has(attr.type)), ...[...denied].map((type) => ({ type, value: false }))];
}

/** What the HMAC covers: A ‖ IV ‖ C ‖ AL (AL = bit length of A, 64-bit big-endian). */
export function macInput(aad: Buffer, iv: Buffer, ciphertext: Buffer): Buffer {
  const al = Buffer.alloc(8);
  al.writeBigUInt64BE(BigInt(aad.length) * 8n);
  return Buffer.concat([aad, iv, ciphertext, al]);
}

/** PKCS#7: 1–16 bytes, each the pad's length. */
export function pkcs7Pad(plaintext: Buffer): Buffer {
  const pad = CBC_BLOCK_BYTES - (plaintext.length % CBC_BLOCK_BYTES);
  return Buffer.concat([plaintext, Buffer.alloc(pad, pad)]);
}

/** The plaintext without its PKCS#7 pad; undefined when the pad is malformed. */
export function pkcs7Unpad(padded: Buffer): Buffer | undefined {
  const pad = padded[padded.length - 1] ?? 0;
  if (pad < 1 || pad > CBC_BLOCK_BYTES || pad > padded.length) return undefined;
  for (let at = padded.length - pad; at < padded.length; at += 1) if (padded[at] !== pad) return undefined;
  return padded.subarray(0, padded.length - pad);
}

export interface CbcHmacKeys {
  readonly encryptionKey: Handle;
  readonly macKey: Handle;
}

/** How the token pads: in the token (CKM_AES_CBC_PAD) or on the host over CKM_AES_CBC. */
export type CbcPadding = 'token' | 'host';

/** Encrypts in the HSM, then MACs in the HSM. `iv` is 16 fresh random bytes from the token. */
export async function sealCbcHmac(pkcs11: Pkcs11, session: Handle, keys: CbcHmacKeys, padding: CbcPadding, iv: Buffer, plaintext: Buffer, aad: Buffer): Promise<{ ciphertext: Buffer; tag: Buffer }> {
  if (iv.length !== CBC_IV_BYTES) throw new HsmError('HSM_FAILED', `a CBC IV is ${CBC_IV_BYTES} bytes`);
  const padded = padding === 'host' ? pkcs7Pad(plaintext) : plaintext;
  const expected = padding === 'host' ? padded.length : plaintext.length + CBC_BLOCK_BYTES - (plaintext.length % CBC_BLOCK_BYTES);
  // WARNING: pkcs11js passes the IV by pointer; `iv` stays referenced by the caller until we return.
  pkcs11.C_EncryptInit(session, cbcMechanism(padding, iv), keys.encryptionKey);
  const ciphertext = Buffer.from(await pkcs11.C_Encrypt(session, nonNullData(padded), Buffer.alloc(expected)));
  if (padding === 'host') padded.fill(0);
  if (ciphertext.length !== expected) throw new HsmError('HSM_FAILED', 'C_Encrypt (AES-CBC) returned an unexpected length');
  const tag = await hmac(pkcs11, session, keys.macKey, 'HMAC_SHA_256', macInput(aad, iv, ciphertext));
  if (tag.length !== HMAC_TAG_BYTES) throw new HsmError('HSM_FAILED', 'C_Sign (HMAC-SHA-256) returned an unexpected length');
  return { ciphertext, tag };
}

/**
 * Verifies the tag in the HSM, and only then decrypts in the HSM. HSM_DECRYPT_FAILED for a tag that
 * does not verify, a ciphertext that is not whole blocks, or a malformed pad (which a verified tag
 * rules out unless the MAC key itself is compromised).
 */
export async function openCbcHmac(pkcs11: Pkcs11, session: Handle, keys: CbcHmacKeys, padding: CbcPadding, iv: Buffer, ciphertext: Buffer, tag: Buffer, aad: Buffer): Promise<Buffer> {
  if (iv.length !== CBC_IV_BYTES || tag.length !== HMAC_TAG_BYTES || ciphertext.length === 0 || ciphertext.length % CBC_BLOCK_BYTES !== 0) {
    throw decryptFailed('the CBC IV, the tag or the ciphertext has the wrong length');
  }
  if (!(await hmacVerify(pkcs11, session, keys.macKey, 'HMAC_SHA_256', macInput(aad, iv, ciphertext), tag))) {
    throw decryptFailed('the HMAC does not verify');
  }
  // A private copy of the IV: it is passed by pointer and some devices write into it.
  pkcs11.C_DecryptInit(session, cbcMechanism(padding, Buffer.from(iv)), keys.encryptionKey);
  let out: Buffer;
  try {
    out = Buffer.from(await pkcs11.C_Decrypt(session, ciphertext, Buffer.alloc(ciphertext.length)));
  } catch (err) {
    const code = ckrOf(err);
    if (code === CKR.CKR_ENCRYPTED_DATA_INVALID || code === CKR.CKR_ENCRYPTED_DATA_LEN_RANGE) throw decryptFailed(`C_Decrypt refused the padding (${ckrName(code)})`);
    throw err;
  }
  if (padding === 'token') return out;
  const plaintext = pkcs7Unpad(out);
  if (plaintext === undefined) {
    out.fill(0);
    throw decryptFailed('the CBC padding is malformed');
  }
  return Buffer.from(plaintext);
}

function cbcMechanism(padding: CbcPadding, iv: Buffer): pkcs11js.Mechanism {
  return { mechanism: padding === 'token' ? pkcs11js.CKM_AES_CBC_PAD : pkcs11js.CKM_AES_CBC, parameter: iv };
}

function decryptFailed(message: string): HsmError {
  return new HsmError('HSM_DECRYPT_FAILED', message);
}
