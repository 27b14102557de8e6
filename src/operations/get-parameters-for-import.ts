import { randomBytes } from 'node:crypto';
import { z } from 'zod';

import { KmsError } from '../domain/errors.js';
import { IMPORT_WRAPPING_KEY_LABEL } from '../ports/hsm.js';
import { sealImportToken } from '../services/import-token.js';
import { hsmCall } from './hsm-errors.js';
import { assertExternalOrigin, assertSymmetricImportable, assertNotPendingDeletionForImport, checkWrapping, IMPORT_PARAMETERS_VALID_MS, WRAPPING_ALGORITHMS, WRAPPING_KEY_SPECS } from './import-access.js';
import { resolveKeyById } from './key-access.js';
import { epochSeconds } from './key-metadata.js';
import { defineOperation } from './operation.js';
import { keyIdMember } from './wire.js';

/**
 * A fresh RSA wrapping key pair, generated in the HSM for this call alone (its private key never
 * leaves the HSM and can only unwrap), and a sealed import token naming it. Both are valid for 24
 * hours; the expiry job destroys the key pair then. A wrapping algorithm the HSM cannot unwrap
 * inside itself is refused here, naming what the HSM lacks, rather than at ImportKeyMaterial.
 */
export const getParametersForImport = defineOperation({
  name: 'GetParametersForImport',
  input: z.object({
    KeyId: keyIdMember,
    WrappingAlgorithm: z.enum(WRAPPING_ALGORITHMS),
    WrappingKeySpec: z.enum(WRAPPING_KEY_SPECS),
  }),
  async run(_ctx, deps, input) {
    const key = await resolveKeyById(deps, input.KeyId);
    assertExternalOrigin(key);
    assertNotPendingDeletionForImport(key);
    const { algorithm, wrappingKeySpec } = checkWrapping(key, input.WrappingAlgorithm, input.WrappingKeySpec);

    const hsm = deps.keyStores.hsmFor(key);
    await assertSymmetricImportable(hsm, key.keySpec);
    const issuedAt = deps.clock.now();
    const validTo = issuedAt + IMPORT_PARAMETERS_VALID_MS;
    const wrappingKey = { id: randomBytes(32).toString('hex'), label: IMPORT_WRAPPING_KEY_LABEL };
    // Recorded before it exists: a crash in between leaves a record whose expiry destroys nothing,
    // never a key pair in the HSM that nothing will destroy.
    await deps.store.addImportWrappingKey({ wrappingKeyId: wrappingKey.id, keyId: key.keyId, validTo });
    let publicKey: Buffer;
    try {
      publicKey = await hsmCall(() => hsm.generateImportWrappingKey(wrappingKey, wrappingKeySpec));
      const refusal = await hsmCall(() => hsm.importAlgorithmRefusal(wrappingKey, algorithm));
      if (refusal !== undefined) {
        throw new KmsError('UnsupportedOperationException', `WrappingAlgorithm ${algorithm} is not supported by the HSM of this key store: ${refusal}. Use ${algorithm.startsWith('RSAES') ? 'RSAES_OAEP_SHA_1' : 'RSA_AES_KEY_WRAP_SHA_1'}.`);
      }
    } catch (err) {
      await hsm.destroySymmetricKey(wrappingKey).catch(() => false);
      await deps.store.deleteImportWrappingKey(wrappingKey.id).catch((cleanupErr: unknown) => {
        deps.logger.error({ err: cleanupErr, wrappingKeyId: wrappingKey.id }, 'could not forget a wrapping key that was not issued; it expires with the others');
      });
      throw err;
    }
    const token = await sealImportToken(deps.sealer, { keyId: key.keyId, wrappingKeyId: wrappingKey.id, algorithm, wrappingKeySpec, issuedAt, validTo });
    return {
      KeyId: key.arn,
      ImportToken: token.toString('base64'),
      PublicKey: publicKey.toString('base64'),
      ParametersValidTo: epochSeconds(validTo),
    };
  },
});
