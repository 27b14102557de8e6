import { z } from 'zod';
import { findCustomKeyStore } from './custom-key-store-access.js';
import { customKeyStoreIdMember } from './custom-key-store-wire.js';
import { defineOperation } from './operation.js';

export const disconnectCustomKeyStore = defineOperation({
  name: 'DisconnectCustomKeyStore',
  input: z.object({ CustomKeyStoreId: customKeyStoreIdMember }),
  async run(_ctx, deps, input) {
    // Returns at once; sessions drain and the store moves DISCONNECTING → DISCONNECTED.
    await deps.keyStores.disconnect(await findCustomKeyStore(deps, input.CustomKeyStoreId));
    return {};
  },
});
