// The ImportToken of GetParametersForImport: what ImportKeyMaterial needs to find the wrapping key
// again, sealed (AES-GCM under the default key store's internal sealing key, secret-sealer.ts) so
// that a client can neither forge nor alter one. It names the KMS key, the wrapping key pair in
// the HSM, the algorithm and key spec it was issued for, and when it stops being valid (24 hours,
// as AWS). The token carries no secret: sealing protects its integrity, not its confidentiality.

import { z } from 'zod';

import { HsmError, type ImportWrappingAlgorithm, type ImportWrappingKeySpec } from '../ports/hsm.js';
import type { SecretSealer } from './secret-sealer.js';

export interface ImportTokenContents {
  readonly keyId: string;
  /** Hex CKA_ID of the wrapping key pair. */
  readonly wrappingKeyId: string;
  readonly algorithm: ImportWrappingAlgorithm;
  readonly wrappingKeySpec: ImportWrappingKeySpec;
  readonly issuedAt: number;
  readonly validTo: number;
}

// Binds the sealed bytes to their purpose: a sealed custom key store password is not a token.
const SEAL_CONTEXT = 'kms import token v1';

const CONTENTS = z.object({
  keyId: z.string(),
  wrappingKeyId: z.string().regex(/^[0-9a-f]{64}$/u),
  algorithm: z.enum(['RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256', 'RSA_AES_KEY_WRAP_SHA_1', 'RSA_AES_KEY_WRAP_SHA_256']),
  wrappingKeySpec: z.enum(['RSA_2048', 'RSA_3072', 'RSA_4096']),
  issuedAt: z.number(),
  validTo: z.number(),
});

export async function sealImportToken(sealer: SecretSealer, contents: ImportTokenContents): Promise<Buffer> {
  return Buffer.from(await sealer.seal(JSON.stringify(contents), SEAL_CONTEXT), 'base64');
}

/** The token's contents; undefined for anything keybridge did not seal as an import token. */
export async function openImportToken(sealer: SecretSealer, token: Buffer): Promise<ImportTokenContents | undefined> {
  let text: string;
  try {
    text = await sealer.unseal(token.toString('base64'), SEAL_CONTEXT);
  } catch (err) {
    // An HSM that cannot answer is not a bad token: the client must hear that, not "invalid".
    if (err instanceof HsmError && err.code !== 'HSM_DECRYPT_FAILED' && err.code !== 'HSM_KEY_NOT_FOUND') throw err;
    return undefined;
  }
  try {
    const parsed = CONTENTS.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
