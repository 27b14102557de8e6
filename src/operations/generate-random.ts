import { z } from 'zod';
import { KmsError } from '../domain/errors.js';
import { hsmCall } from './hsm-errors.js';
import { defineOperation } from './operation.js';
import { str } from './wire.js';

export const generateRandom = defineOperation({
  name: 'GenerateRandom',
  input: z.object({
    NumberOfBytes: z.number().int().min(1).max(1024).optional(),
    CustomKeyStoreId: str(1, 64).optional(),
    Recipient: z.object({}).passthrough().optional(),
  }),
  async run(_ctx, deps, input) {
    if (input.Recipient !== undefined) {
      throw new KmsError('UnsupportedOperationException', 'Recipient (Nitro Enclaves attestation) is not supported by keybridge.');
    }
    if (input.CustomKeyStoreId !== undefined) {
      throw new KmsError('CustomKeyStoreNotFoundException', `Custom key store ${input.CustomKeyStoreId} does not exist.`);
    }
    // The model leaves NumberOfBytes optional but the service has no default.
    if (input.NumberOfBytes === undefined) {
      throw new KmsError('ValidationException', "1 validation error detected: Value null at 'numberOfBytes' failed to satisfy constraint: Member must not be null");
    }
    const bytes = await hsmCall(() => deps.hsm.random(input.NumberOfBytes!));
    return { Plaintext: bytes.toString('base64') };
  },
});
