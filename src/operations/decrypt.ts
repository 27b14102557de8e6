import { z } from 'zod';
import { KmsError } from '../domain/errors.js';
import { encryptionAlgorithm, checkAlgorithm } from './encryption-algorithm.js';
import { keyMaterialId } from './key-metadata.js';
import { defineOperation } from './operation.js';
import { namedAsymmetricKey, rsaOpen } from './asymmetric-access.js';
import { assertCryptoUsable, dryRunSucceeded, keyForBlob, open } from './symmetric-crypto.js';
import { blob, dryRun, encryptionContext, grantTokens, keyIdMember } from './wire.js';

export const decrypt = defineOperation({
  name: 'Decrypt',
  input: z.object({
    // Optional in the model only for DryRun with IGNORE_CIPHERTEXT; required otherwise.
    CiphertextBlob: blob(1, 6144).optional(),
    EncryptionContext: encryptionContext.optional(),
    GrantTokens: grantTokens.optional(),
    KeyId: keyIdMember.optional(),
    EncryptionAlgorithm: encryptionAlgorithm.optional(),
    Recipient: z.object({}).passthrough().optional(),
    DryRun: dryRun.optional(),
    DryRunModifiers: z.array(z.enum(['IGNORE_CIPHERTEXT'])).optional(),
  }),
  async run(ctx, deps, input) {
    if (input.Recipient !== undefined) {
      throw new KmsError('UnsupportedOperationException', 'Recipient (Nitro Enclaves attestation) is not supported by keybridge.');
    }
    if (input.CiphertextBlob === undefined) {
      throw new KmsError('ValidationException', "1 validation error detected: Value null at 'ciphertextBlob' failed to satisfy constraint: Member must not be null");
    }
    // Asymmetric ciphertexts carry no key id (raw RSAES-OAEP output): the KeyId names the key.
    const asymmetricKey = await namedAsymmetricKey(deps, input.KeyId);
    if (asymmetricKey !== undefined) {
      assertCryptoUsable(deps, asymmetricKey);
      const rsaAlgorithm = checkAlgorithm(asymmetricKey, input.EncryptionAlgorithm);
      if (input.DryRun) throw dryRunSucceeded();
      const plaintext = await rsaOpen(deps, asymmetricKey, rsaAlgorithm, input.CiphertextBlob, input.EncryptionContext);
      return { KeyId: asymmetricKey.arn, Plaintext: plaintext.toString('base64'), EncryptionAlgorithm: rsaAlgorithm };
    }
    const request = { blob: input.CiphertextBlob, context: input.EncryptionContext, contextMember: 'EncryptionContext', keyIdText: input.KeyId };
    const key = await keyForBlob(deps, request);
    const algorithm = checkAlgorithm(key, input.EncryptionAlgorithm);
    if (input.DryRun) throw dryRunSucceeded();
    const { plaintext, keyMaterialId: material } = await open(deps, key, request, { ctx, kmsOperation: 'Decrypt' });
    return { KeyId: key.arn, Plaintext: plaintext.toString('base64'), EncryptionAlgorithm: algorithm, ...keyMaterialId(key, 'KeyMaterialId', material) };
  },
});
