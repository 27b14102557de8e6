import { z } from 'zod';
import { encryptionAlgorithm, checkAlgorithm } from './encryption-algorithm.js';
import { rsaSeal } from './asymmetric-access.js';
import { resolveKey } from './key-access.js';
import { defineOperation } from './operation.js';
import { assertCryptoUsable, dryRunSucceeded, seal } from './symmetric-crypto.js';
import { blob, dryRun, encryptionContext, grantTokens, keyIdMember } from './wire.js';

export const encrypt = defineOperation({
  name: 'Encrypt',
  input: z.object({
    KeyId: keyIdMember,
    Plaintext: blob(1, 4096),
    EncryptionContext: encryptionContext.optional(),
    GrantTokens: grantTokens.optional(),
    EncryptionAlgorithm: encryptionAlgorithm.optional(),
    DryRun: dryRun.optional(),
  }),
  async run(ctx, deps, input) {
    const key = await resolveKey(deps, input.KeyId);
    assertCryptoUsable(deps, key);
    const algorithm = checkAlgorithm(key, input.EncryptionAlgorithm);
    if (input.DryRun) throw dryRunSucceeded();
    const ciphertext =
      algorithm === 'SYMMETRIC_DEFAULT'
        ? await seal(deps, key, input.Plaintext, input.EncryptionContext, 'EncryptionContext', { ctx, kmsOperation: 'Encrypt' })
        : await rsaSeal(deps, key, algorithm, input.Plaintext, input.EncryptionContext);
    return { CiphertextBlob: ciphertext.toString('base64'), KeyId: key.arn, EncryptionAlgorithm: algorithm };
  },
});
