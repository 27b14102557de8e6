import { z } from 'zod';
import { KmsError } from '../domain/errors.js';
import { checkAlgorithm, encryptionAlgorithm } from './encryption-algorithm.js';
import { namedAsymmetricKey, rsaOpen, rsaSeal } from './asymmetric-access.js';
import { resolveKey } from './key-access.js';
import { keyMaterialId } from './key-metadata.js';
import { defineOperation } from './operation.js';
import { assertCryptoUsable, dryRunSucceeded, keyForBlob, open, seal } from './symmetric-crypto.js';
import { blob, dryRun, encryptionContext, grantTokens, keyIdMember } from './wire.js';

export const reEncrypt = defineOperation({
  name: 'ReEncrypt',
  input: z.object({
    CiphertextBlob: blob(1, 6144).optional(),
    SourceEncryptionContext: encryptionContext.optional(),
    SourceKeyId: keyIdMember.optional(),
    DestinationKeyId: keyIdMember,
    DestinationEncryptionContext: encryptionContext.optional(),
    SourceEncryptionAlgorithm: encryptionAlgorithm.optional(),
    DestinationEncryptionAlgorithm: encryptionAlgorithm.optional(),
    GrantTokens: grantTokens.optional(),
    DryRun: dryRun.optional(),
    DryRunModifiers: z.array(z.enum(['IGNORE_CIPHERTEXT'])).optional(),
  }),
  async run(ctx, deps, input) {
    if (input.CiphertextBlob === undefined) {
      throw new KmsError('ValidationException', "1 validation error detected: Value null at 'ciphertextBlob' failed to satisfy constraint: Member must not be null");
    }
    const request = { blob: input.CiphertextBlob, context: input.SourceEncryptionContext, contextMember: 'SourceEncryptionContext', keyIdText: input.SourceKeyId };
    // An RSA source is named by SourceKeyId (its ciphertext carries no key id).
    const asymmetricSource = await namedAsymmetricKey(deps, input.SourceKeyId);
    if (asymmetricSource !== undefined) assertCryptoUsable(deps, asymmetricSource);
    const source = asymmetricSource ?? (await keyForBlob(deps, request));
    const sourceAlgorithm = checkAlgorithm(source, input.SourceEncryptionAlgorithm);
    const destination = await resolveKey(deps, input.DestinationKeyId);
    assertCryptoUsable(deps, destination);
    const destinationAlgorithm = checkAlgorithm(destination, input.DestinationEncryptionAlgorithm);
    if (input.DryRun) throw dryRunSucceeded();
    const opened =
      sourceAlgorithm === 'SYMMETRIC_DEFAULT'
        ? await open(deps, source, request, { ctx, kmsOperation: 'ReEncrypt' })
        : { plaintext: await rsaOpen(deps, source, sourceAlgorithm, input.CiphertextBlob, input.SourceEncryptionContext, 'SourceEncryptionContext'), keyMaterialId: undefined };
    const plaintext = opened.plaintext;
    try {
      const ciphertext =
        destinationAlgorithm === 'SYMMETRIC_DEFAULT'
          ? await seal(deps, destination, plaintext, input.DestinationEncryptionContext, 'DestinationEncryptionContext', { ctx, kmsOperation: 'ReEncrypt' })
          : await rsaSeal(deps, destination, destinationAlgorithm, plaintext, input.DestinationEncryptionContext, 'DestinationEncryptionContext');
      return {
        CiphertextBlob: ciphertext.toString('base64'),
        SourceKeyId: source.arn,
        KeyId: destination.arn,
        SourceEncryptionAlgorithm: sourceAlgorithm,
        DestinationEncryptionAlgorithm: destinationAlgorithm,
        ...keyMaterialId(source, 'SourceKeyMaterialId', opened.keyMaterialId),
        ...keyMaterialId(destination, 'DestinationKeyMaterialId'),
      };
    } finally {
      plaintext.fill(0);
    }
  },
});
