import { z } from 'zod';
import { assertDisconnected, type CustomKeyStoreRecord, type XksProxyConfiguration } from '../domain/custom-key-store.js';
import { KmsError } from '../domain/errors.js';
import { StoreError, type CustomKeyStorePatch } from '../ports/store.js';
import { findCustomKeyStore } from './custom-key-store-access.js';
import {
  checkClusterIdFormat,
  cloudHsmClusterIdMember,
  customKeyStoreIdMember,
  customKeyStoreNameMember,
  keyStorePasswordMember,
  checkRawSecret,
  refuseCloudHsm,
  refuseXks,
  xksMembers,
} from './custom-key-store-wire.js';
import { checkConnectivity, checkProxy, checkUriNotInUse, type XksProxyMembers } from './external-key-store.js';
import { hsmCall } from './hsm-errors.js';
import { defineOperation, type OperationDeps } from './operation.js';

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
    const store = await findCustomKeyStore(deps, input.CustomKeyStoreId);
    if (store.type === 'EXTERNAL_KEY_STORE') return updateExternalKeyStore(deps, store, input);
    refuseXks(input);
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
    await save(deps, store.id, patch, input.NewCustomKeyStoreName);
    return {};
  },
});

type Patch = { -readonly [K in keyof CustomKeyStorePatch]: CustomKeyStorePatch[K] };

async function save(deps: OperationDeps, id: string, patch: Patch, newName: string | undefined): Promise<void> {
  if (Object.keys(patch).length === 0) return;
  try {
    await deps.store.updateCustomKeyStore(id, patch);
  } catch (err) {
    if (err instanceof StoreError && err.code === 'CONFLICT') {
      // The store's unique constraints: the name, or (another node saving at the same moment) the cluster.
      const named = patch.name === undefined ? undefined : await deps.store.getCustomKeyStoreByName(patch.name);
      if (named !== undefined && named.id !== id) throw new KmsError('CustomKeyStoreNameInUseException', `A custom key store named ${newName} already exists.`);
      throw new KmsError('CloudHsmClusterInUseException', `Cluster ${patch.clusterId} is already associated with another custom key store.`);
    }
    throw err;
  }
}

/**
 * An external key store: the name, the credential and the URI path may change in any state (as in
 * AWS KMS); the endpoint and the connectivity only while DISCONNECTED. A changed proxy
 * configuration is checked against the proxy (GetHealthStatus) before it is saved, and a connected
 * store uses it from then on.
 */
async function updateExternalKeyStore(deps: OperationDeps, store: CustomKeyStoreRecord, input: XksProxyMembers & Record<string, unknown> & { NewCustomKeyStoreName?: string | undefined }): Promise<Record<string, never>> {
  refuseCloudHsm(input);
  const current = { ...store, connectionState: deps.keyStores.stateOf(store) };
  if (input.XksProxyUriEndpoint !== undefined || input.XksProxyConnectivity !== undefined || input.XksProxyVpcEndpointServiceName !== undefined || input.XksProxyVpcEndpointServiceOwner !== undefined) {
    assertDisconnected(current, 'change the proxy endpoint or connectivity');
  }
  if (input.XksProxyConnectivity !== undefined) checkConnectivity(input, input.XksProxyConnectivity);
  const patch: Patch = {};
  const before = store.xksProxy!;
  const credential = input.XksProxyAuthenticationCredential;
  if (credential !== undefined) checkRawSecret(credential.RawSecretAccessKey);
  const proxy: XksProxyConfiguration = {
    connectivity: 'PUBLIC_ENDPOINT',
    uriEndpoint: input.XksProxyUriEndpoint ?? before.uriEndpoint,
    uriPath: input.XksProxyUriPath ?? before.uriPath,
    accessKeyId: credential?.AccessKeyId ?? before.accessKeyId,
  };
  const proxyChanged = JSON.stringify(proxy) !== JSON.stringify(before) || credential !== undefined;
  if (proxyChanged) {
    await checkUriNotInUse(deps, proxy, store.id);
    const secret = credential?.RawSecretAccessKey ?? (await hsmCall(() => deps.keyStores.unsealPassword(store)));
    await checkProxy(deps, proxy, secret, 'UpdateCustomKeyStore');
    patch.xksProxy = proxy;
    if (credential !== undefined) patch.sealedPassword = await hsmCall(() => deps.keyStores.sealPassword(store.id, credential.RawSecretAccessKey));
    if (input.NewCustomKeyStoreName !== undefined && input.NewCustomKeyStoreName !== store.name) patch.name = input.NewCustomKeyStoreName;
    await save(deps, store.id, patch, input.NewCustomKeyStoreName);
    // A connected store signs its next request with what was just saved.
    deps.keyStores.replaceProxy(store.id, proxy, secret);
    return {};
  }
  if (input.NewCustomKeyStoreName !== undefined && input.NewCustomKeyStoreName !== store.name) patch.name = input.NewCustomKeyStoreName;
  await save(deps, store.id, patch, input.NewCustomKeyStoreName);
  return {};
}
