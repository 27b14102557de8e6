import { z } from 'zod';
import { KmsError } from '../domain/errors.js';
import { hsmCall } from './hsm-errors.js';
import { findCustomKeyStore } from './custom-key-store-access.js';
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
    // The model leaves NumberOfBytes optional but the service has no default.
    if (input.NumberOfBytes === undefined) {
      throw new KmsError('ValidationException', "1 validation error detected: Value null at 'numberOfBytes' failed to satisfy constraint: Member must not be null");
    }
    let hsm = deps.hsm;
    if (input.CustomKeyStoreId !== undefined) {
      // Random bytes from the store's cluster, which must be CONNECTED (CloudHSM key stores).
      const store = await findCustomKeyStore(deps, input.CustomKeyStoreId);
      if (store.type === 'EXTERNAL_KEY_STORE') {
        throw new KmsError('UnsupportedOperationException', `Custom key store ${store.id} is an external key store; GenerateRandom takes only a CloudHSM-type key store.`);
      }
      hsm = deps.keyStores.hsmForStore(store.id);
    }
    const bytes = await hsmCall(() => hsm.random(input.NumberOfBytes!));
    return { Plaintext: bytes.toString('base64') };
  },
});
