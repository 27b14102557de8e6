import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { MAX_CUSTOM_KEY_STORES, type CustomKeyStoreRecord } from '../domain/custom-key-store.js';
import { KmsError } from '../domain/errors.js';
import { StoreError } from '../ports/store.js';
import {
  checkClusterIdFormat,
  checkTrustAnchor,
  cloudHsmClusterIdMember,
  customKeyStoreNameMember,
  keyStorePasswordMember,
  refuseCloudHsm,
  refuseXks,
  xksMembers,
} from './custom-key-store-wire.js';
import { checkProxy, checkUriNotInUse, newProxyConfiguration, type XksProxyMembers } from './external-key-store.js';
import { hsmCall } from './hsm-errors.js';
import { defineOperation, type OperationDeps } from './operation.js';
import { str } from './wire.js';

export const createCustomKeyStore = defineOperation({
  name: 'CreateCustomKeyStore',
  input: z.object({
    CustomKeyStoreName: customKeyStoreNameMember,
    CloudHsmClusterId: cloudHsmClusterIdMember.optional(),
    TrustAnchorCertificate: str(1, 5000).optional(),
    KeyStorePassword: keyStorePasswordMember.optional(),
    CustomKeyStoreType: z.enum(['AWS_CLOUDHSM', 'EXTERNAL_KEY_STORE']).optional(),
    ...xksMembers,
  }),
  async run(_ctx, deps, input) {
    if (input.CustomKeyStoreType === 'EXTERNAL_KEY_STORE') return createExternalKeyStore(deps, input);
    refuseXks(input);
    const { CloudHsmClusterId: clusterId, TrustAnchorCertificate: trustAnchor, KeyStorePassword: password } = input;
    for (const [member, value] of [['cloudHsmClusterId', clusterId], ['trustAnchorCertificate', trustAnchor], ['keyStorePassword', password]] as const) {
      if (value === undefined) {
        throw new KmsError('ValidationException', `1 validation error detected: Value null at '${member}' failed to satisfy constraint: Member must not be null for an AWS_CLOUDHSM key store`);
      }
    }
    checkClusterIdFormat(clusterId!);
    const cluster = deps.keyStores.cluster(clusterId!);
    if (!cluster) throw new KmsError('CloudHsmClusterNotFoundException', `Cluster ${clusterId} is not defined in keybridge's hsm-config/clusters.`);
    checkTrustAnchor(trustAnchor!, cluster.trustAnchorCertificate, clusterId!);

    // A retry with the same properties returns the store it created (AWS's idempotence).
    const sameName = await deps.store.getCustomKeyStoreByName(input.CustomKeyStoreName);
    if (sameName) {
      const same = sameName.clusterId === clusterId && sameName.trustAnchorCertificate === trustAnchor && (await hsmCall(() => deps.keyStores.passwordMatches(sameName, password!)));
      if (same) return { CustomKeyStoreId: sameName.id };
      throw new KmsError('CustomKeyStoreNameInUseException', `A custom key store named ${input.CustomKeyStoreName} already exists.`);
    }
    if (await clusterInUse(deps, clusterId!)) {
      throw new KmsError('CloudHsmClusterInUseException', `Cluster ${clusterId} is already associated with a custom key store.`);
    }
    if ((await deps.store.countCustomKeyStores()) >= MAX_CUSTOM_KEY_STORES) {
      throw new KmsError('LimitExceededException', `An account can have at most ${MAX_CUSTOM_KEY_STORES} custom key stores.`);
    }

    const id = `cks-${randomBytes(9).toString('hex').slice(0, 17)}`;
    const record: CustomKeyStoreRecord = {
      id,
      name: input.CustomKeyStoreName,
      type: 'AWS_CLOUDHSM',
      clusterId: clusterId!,
      trustAnchorCertificate: trustAnchor!,
      sealedPassword: await hsmCall(() => deps.keyStores.sealPassword(id, password!)),
      createdAt: deps.clock.now(),
      connectionState: 'DISCONNECTED',
      connectionErrorCode: null,
      wantConnected: false,
    };
    return saveNewStore(deps, record);
  },
});

/**
 * Saves a new store. The store holds what the checks above cannot against another node saving at
 * the same moment: a name taken meanwhile is CustomKeyStoreNameInUseException, a cluster taken
 * meanwhile CloudHsmClusterInUseException, the account's last free store taken meanwhile
 * LimitExceededException (counted and inserted atomically).
 */
async function saveNewStore(deps: OperationDeps, record: CustomKeyStoreRecord): Promise<{ CustomKeyStoreId: string }> {
  try {
    await deps.store.createCustomKeyStore(record, MAX_CUSTOM_KEY_STORES);
  } catch (err) {
    if (err instanceof StoreError && err.code === 'LIMIT_EXCEEDED') {
      throw new KmsError('LimitExceededException', `An account can have at most ${MAX_CUSTOM_KEY_STORES} custom key stores.`);
    }
    if (err instanceof StoreError && err.code === 'CONFLICT') {
      if (record.type === 'AWS_CLOUDHSM' && (await deps.store.getCustomKeyStoreByName(record.name)) === undefined) {
        throw new KmsError('CloudHsmClusterInUseException', `Cluster ${record.clusterId} is already associated with a custom key store.`);
      }
      throw new KmsError('CustomKeyStoreNameInUseException', `A custom key store named ${record.name} already exists.`);
    }
    throw err;
  }
  return { CustomKeyStoreId: record.id };
}

/** An EXTERNAL_KEY_STORE: checked against its proxy (GetHealthStatus) before it is saved, DISCONNECTED. */
async function createExternalKeyStore(deps: OperationDeps, input: { CustomKeyStoreName: string } & XksProxyMembers & Record<string, unknown>): Promise<{ CustomKeyStoreId: string }> {
  refuseCloudHsm(input);
  const { proxy, secret } = newProxyConfiguration(input);
  const sameName = await deps.store.getCustomKeyStoreByName(input.CustomKeyStoreName);
  if (sameName) {
    // A retry with the same properties returns the store it created (AWS's idempotence).
    const same =
      sameName.type === 'EXTERNAL_KEY_STORE' &&
      JSON.stringify(sameName.xksProxy) === JSON.stringify(proxy) &&
      (await hsmCall(() => deps.keyStores.passwordMatches(sameName, secret)));
    if (same) return { CustomKeyStoreId: sameName.id };
    throw new KmsError('CustomKeyStoreNameInUseException', `A custom key store named ${input.CustomKeyStoreName} already exists.`);
  }
  await checkUriNotInUse(deps, proxy);
  if ((await deps.store.countCustomKeyStores()) >= MAX_CUSTOM_KEY_STORES) {
    throw new KmsError('LimitExceededException', `An account can have at most ${MAX_CUSTOM_KEY_STORES} custom key stores.`);
  }
  await checkProxy(deps, proxy, secret, 'CreateCustomKeyStore');
  const id = `cks-${randomBytes(9).toString('hex').slice(0, 17)}`;
  const record: CustomKeyStoreRecord = {
    id,
    name: input.CustomKeyStoreName,
    type: 'EXTERNAL_KEY_STORE',
    clusterId: '',
    trustAnchorCertificate: '',
    sealedPassword: await hsmCall(() => deps.keyStores.sealPassword(id, secret)),
    xksProxy: proxy,
    createdAt: deps.clock.now(),
    connectionState: 'DISCONNECTED',
    connectionErrorCode: null,
    wantConnected: false,
  };
  return saveNewStore(deps, record);
}

async function clusterInUse(deps: Parameters<typeof createCustomKeyStore.run>[1], clusterId: string): Promise<boolean> {
  let after: string | undefined;
  for (;;) {
    const page = await deps.store.listCustomKeyStores(after, 100);
    if (page.some((s) => s.clusterId === clusterId)) return true;
    if (page.length < 100) return false;
    after = page[page.length - 1]!.id;
  }
}
