import { z } from 'zod';
import { assertDisconnected } from '../domain/custom-key-store.js';
import { KmsError } from '../domain/errors.js';
import { StoreError } from '../ports/store.js';
import { findCustomKeyStore } from './custom-key-store-access.js';
import { customKeyStoreIdMember } from './custom-key-store-wire.js';
import { defineOperation } from './operation.js';

export const deleteCustomKeyStore = defineOperation({
  name: 'DeleteCustomKeyStore',
  input: z.object({ CustomKeyStoreId: customKeyStoreIdMember }),
  async run(_ctx, deps, input) {
    const store = await findCustomKeyStore(deps, input.CustomKeyStoreId);
    assertDisconnected({ ...store, connectionState: deps.keyStores.stateOf(store) }, 'delete a custom key store');
    const hasKeys = () => new KmsError('CustomKeyStoreHasCMKsException', `Custom key store ${store.id} still contains KMS keys; delete them first (ScheduleKeyDeletion).`);
    if ((await deps.store.countKeysInCustomKeyStore(store.id)) > 0) throw hasKeys();
    const xksKeys = (await deps.xksStore?.listXksKeys())?.filter((k) => k.customKeyStoreId === store.id) ?? [];
    if (xksKeys.length > 0) {
      throw new KmsError('CustomKeyStoreHasCMKsException', `Custom key store ${store.id} still holds ${xksKeys.length} XKS proxy key(s); delete them first (keybridge xks keys delete).`);
    }
    try {
      await deps.store.deleteCustomKeyStore(store.id);
    } catch (err) {
      if (err instanceof StoreError && err.code === 'CONFLICT') throw hasKeys();
      throw err;
    }
    return {};
  },
});
