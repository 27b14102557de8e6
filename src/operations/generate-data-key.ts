import { z } from 'zod';
import { KmsError } from '../domain/errors.js';
import type { KeyRecord } from '../domain/key.js';
import type { EncryptionContext } from '../domain/encryption-context.js';
import { hsmCall } from './hsm-errors.js';
import { resolveKey } from './key-access.js';
import { keyMaterialId } from './key-metadata.js';
import { defineOperation, type OperationDeps } from './operation.js';
import { assertCryptoUsable, dryRunSucceeded, seal, type XksCall } from './symmetric-crypto.js';
import { dryRun, encryptionContext, grantTokens, keyIdMember } from './wire.js';

export const dataKeyInput = z.object({
  KeyId: keyIdMember,
  EncryptionContext: encryptionContext.optional(),
  NumberOfBytes: z.number().int().min(1).max(1024).optional(),
  KeySpec: z.enum(['AES_256', 'AES_128']).optional(),
  GrantTokens: grantTokens.optional(),
  Recipient: z.object({}).passthrough().optional(),
  DryRun: dryRun.optional(),
});

/**
 * The shared core of GenerateDataKey and GenerateDataKeyWithoutPlaintext: the data key comes
 * from the HSM's RNG and is encrypted under the KMS key inside the HSM.
 */
export async function makeDataKey(deps: OperationDeps, input: z.output<typeof dataKeyInput>, call: XksCall): Promise<{ key: KeyRecord; plaintext: Buffer; ciphertext: Buffer }> {
  if (input.Recipient !== undefined) {
    throw new KmsError('UnsupportedOperationException', 'Recipient (Nitro Enclaves attestation) is not supported by keybridge.');
  }
  if ((input.KeySpec === undefined) === (input.NumberOfBytes === undefined)) {
    throw new KmsError('ValidationException', 'Please specify either number of bytes or key spec.');
  }
  const length = input.NumberOfBytes ?? (input.KeySpec === 'AES_128' ? 16 : 32);
  const key = await resolveKey(deps, input.KeyId);
  assertCryptoUsable(deps, key);
  if (input.DryRun) throw dryRunSucceeded();
  const plaintext = await hsmCall(() => deps.hsm.random(length));
  const ciphertext = await seal(deps, key, plaintext, input.EncryptionContext as EncryptionContext | undefined, 'EncryptionContext', call);
  return { key, plaintext, ciphertext };
}

export const generateDataKey = defineOperation({
  name: 'GenerateDataKey',
  input: dataKeyInput,
  async run(ctx, deps, input) {
    const { key, plaintext, ciphertext } = await makeDataKey(deps, input, { ctx, kmsOperation: 'GenerateDataKey' });
    return {
      CiphertextBlob: ciphertext.toString('base64'),
      Plaintext: plaintext.toString('base64'),
      KeyId: key.arn,
      ...keyMaterialId(key),
    };
  },
});
