import { z } from 'zod';
import { assertDisconnected } from '../domain/custom-key-store.js';
import { KmsError } from '../domain/errors.js';
import { StoreError, type CustomKeyStorePatch } from '../ports/store.js';
import { findCustomKeyStore } from './custom-key-store-access.js';
import {
  checkClusterIdFormat,
  cloudHsmClusterIdMember,
  customKeyStoreIdMember,
  customKeyStoreNameMember,
  keyStorePasswordMember,
  refuseXks,
  xksMembers,
} from './custom-key-store-wire.js';
import { hsmCall } from './hsm-errors.js';
import { defineOperation } from './operation.js';

export const updateCustomKeyStore = defineOperation({
  name: 'UpdateCustomKeyStore',
  input: z.object({
    CustomKeyStoreId: customKeyStoreIdMember,
    NewCustomKeyStoreName: customKeyStoreNameMember.optional(),
    KeyStorePassword: keyStorePasswordMember.optional(),
    CloudHsmClusterId: cloudHsmClusterIdMember.optional(),
    ...xksMembers,
  }),
  async run(_ctx, deps, input) {
    refuseXks(input);
    const store = await findCustomKeyStore(deps, input.CustomKeyStoreId);
    const current = { ...store, connectionState: deps.keyStores.stateOf(store) };
    const patch: { -readonly [K in keyof CustomKeyStorePatch]: CustomKeyStorePatch[K] } = {};
    // The name may change in any state; the password and the cluster only while DISCONNECTED.
    if (input.KeyStorePassword !== undefined || input.CloudHsmClusterId !== undefined) {
      assertDisconnected(current, 'change the password or the cluster');
    }
    if (input.CloudHsmClusterId !== undefined && input.CloudHsmClusterId !== store.clusterId) {
      checkClusterIdFormat(input.CloudHsmClusterId);
      if (!deps.keyStores.cluster(input.CloudHsmClusterId)) {
        throw new KmsError('CloudHsmClusterNotFoundException', `Cluster ${input.CloudHsmClusterId} is not defined in keybridge's hsm-config/clusters.`);
      }
      // A replacement cluster must hold every backing key of the store (AWS: a related cluster).
      const withPassword = input.KeyStorePassword === undefined ? store : { ...store, sealedPassword: await hsmCall(() => deps.keyStores.sealPassword(store.id, input.KeyStorePassword!)) };
      const present = await hsmCall(() => deps.keyStores.backingKeyIdsOn(input.CloudHsmClusterId!, withPassword));
      for (const { keyId, backingKeyId } of await deps.store.allBackingKeyIds()) {
        const key = await deps.store.getKey(keyId);
        if (key?.customKeyStoreId === store.id && !present.has(backingKeyId)) {
          throw new KmsError('CloudHsmClusterNotRelatedException', `Cluster ${input.CloudHsmClusterId} does not hold the key material of ${key.arn}; it is not related to cluster ${store.clusterId}.`);
        }
      }
      patch.clusterId = input.CloudHsmClusterId;
    }
    if (input.KeyStorePassword !== undefined) patch.sealedPassword = await hsmCall(() => deps.keyStores.sealPassword(store.id, input.KeyStorePassword!));
    if (input.NewCustomKeyStoreName !== undefined && input.NewCustomKeyStoreName !== store.name) patch.name = input.NewCustomKeyStoreName;
    if (Object.keys(patch).length > 0) {
      try {
        await deps.store.updateCustomKeyStore(store.id, patch);
      } catch (err) {
        if (err instanceof StoreError && err.code === 'CONFLICT') {
          throw new KmsError('CustomKeyStoreNameInUseException', `A custom key store named ${input.NewCustomKeyStoreName} already exists.`);
        }
        throw err;
      }
    }
    return {};
  },
});
