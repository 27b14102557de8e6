import { z } from 'zod';
import { findCustomKeyStore } from './custom-key-store-access.js';
import { customKeyStoreIdMember } from './custom-key-store-wire.js';
import { defineOperation } from './operation.js';

export const connectCustomKeyStore = defineOperation({
  name: 'ConnectCustomKeyStore',
  input: z.object({ CustomKeyStoreId: customKeyStoreIdMember }),
  async run(_ctx, deps, input) {
    // Returns at once; the store moves CONNECTING → CONNECTED or FAILED in the background.
    await deps.keyStores.connect(await findCustomKeyStore(deps, input.CustomKeyStoreId));
    return {};
  },
});
