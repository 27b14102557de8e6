// Finding the custom key store a request names, and describing it as AWS does.

import { KmsError } from '../domain/errors.js';
import type { CustomKeyStoreRecord } from '../domain/custom-key-store.js';
import { epochSeconds } from './key-metadata.js';
import type { OperationDeps } from './operation.js';

export async function findCustomKeyStore(deps: OperationDeps, id: string): Promise<CustomKeyStoreRecord> {
  const store = await deps.store.getCustomKeyStore(id);
  if (!store) throw notFound(id);
  return store;
}

export function notFound(idOrName: string): KmsError {
  return new KmsError('CustomKeyStoreNotFoundException', `Custom key store ${idOrName} does not exist.`);
}

/** A CustomKeyStoresListEntry. ConnectionErrorCode appears only while FAILED. */
export function customKeyStoreEntry(deps: OperationDeps, store: CustomKeyStoreRecord): Record<string, unknown> {
  const state = deps.keyStores.stateOf(store);
  return {
    CustomKeyStoreId: store.id,
    CustomKeyStoreName: store.name,
    // Each type shows its own configuration only (AWS's CustomKeyStoresListEntry); never a secret.
    ...(store.type === 'AWS_CLOUDHSM' ? { CloudHsmClusterId: store.clusterId, TrustAnchorCertificate: store.trustAnchorCertificate } : {}),
    ...(store.xksProxy === undefined
      ? {}
      : {
          XksProxyConfiguration: {
            Connectivity: store.xksProxy.connectivity,
            AccessKeyId: store.xksProxy.accessKeyId,
            UriEndpoint: store.xksProxy.uriEndpoint,
            UriPath: store.xksProxy.uriPath,
          },
        }),
    ConnectionState: state,
    ...(state === 'FAILED' && deps.keyStores.errorCodeOf(store) !== null ? { ConnectionErrorCode: deps.keyStores.errorCodeOf(store) } : {}),
    CreationDate: epochSeconds(store.createdAt),
    CustomKeyStoreType: store.type,
  };
}
