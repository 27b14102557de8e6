// KeyMetadata as AWS returns it from CreateKey and DescribeKey.

import type { KeyRecord } from '../domain/key.js';
import { effectiveKeyState } from '../domain/key.js';
import { algorithmsOf } from '../domain/key-spec.js';
import type { OperationDeps } from './operation.js';

/** Wire timestamps are epoch seconds, fractional. */
export function epochSeconds(ms: number): number {
  return ms / 1000;
}

export async function keyMetadata(deps: OperationDeps, key: KeyRecord): Promise<Record<string, unknown>> {
  const state = effectiveKeyState(key, deps.keyStores.isConnected(key.customKeyStoreId));
  const store = key.customKeyStoreId === null ? undefined : await deps.store.getCustomKeyStore(key.customKeyStoreId);
  return {
    AWSAccountId: key.accountId,
    KeyId: key.keyId,
    Arn: key.arn,
    CreationDate: epochSeconds(key.createdAt),
    Enabled: state === 'Enabled',
    Description: key.description,
    KeyUsage: key.keyUsage,
    KeyState: state,
    ...(key.deletionDate !== null ? { DeletionDate: epochSeconds(key.deletionDate) } : {}),
    ...(key.pendingWindowDays !== null ? { PendingDeletionWindowInDays: key.pendingWindowDays } : {}),
    Origin: key.origin,
    ...(key.customKeyStoreId !== null ? { CustomKeyStoreId: key.customKeyStoreId } : {}),
    ...(store?.type === 'AWS_CLOUDHSM' ? { CloudHsmClusterId: store.clusterId } : {}),
    ...(key.xksKeyId === undefined ? {} : { XksKeyConfiguration: { Id: key.xksKeyId } }),
    KeyManager: 'CUSTOMER',
    // CustomerMasterKeySpec (deprecated) has no value for the newer specs such as Ed25519.
    ...(key.keySpec === 'ECC_NIST_EDWARDS25519' ? {} : { CustomerMasterKeySpec: key.keySpec }),
    KeySpec: key.keySpec,
    ...algorithmLists(key),
    MultiRegion: false,
    // AWS reports CurrentKeyMaterialId only for symmetric AWS_KMS and EXTERNAL origin keys.
    ...keyMaterialId(key, 'CurrentKeyMaterialId'),
    ...(key.origin === 'EXTERNAL' ? await importedMaterialMetadata(deps, key) : {}),
  };
}

/** ExpirationModel and ValidTo of a key with imported material, once material was imported. */
async function importedMaterialMetadata(deps: OperationDeps, key: KeyRecord): Promise<Record<string, unknown>> {
  if (key.backingKeyId === '') return {};
  const current = (await deps.store.listKeyMaterials(key.keyId)).find((m) => m.materialId === key.backingKeyId)?.imported;
  if (current === undefined) return {};
  return {
    ExpirationModel: current.expirationModel,
    ...(current.importState === 'IMPORTED' && current.validTo !== null ? { ValidTo: epochSeconds(current.validTo) } : {}),
  };
}

/**
 * `{ KeyMaterialId }` for symmetric keys of origin AWS_KMS or EXTERNAL (AWS does not report it for
 * custom key stores): the current material, or `materialId` (Decrypt: the material the ciphertext
 * names). Nothing for an EXTERNAL key whose first material was never imported.
 */
export function keyMaterialId(key: KeyRecord, member = 'KeyMaterialId', materialId = key.backingKeyId): Record<string, string> {
  const reported = (key.origin === 'AWS_KMS' || key.origin === 'EXTERNAL') && key.keySpec === 'SYMMETRIC_DEFAULT';
  return reported && materialId !== '' ? { [member]: materialId } : {};
}

/** EncryptionAlgorithms / SigningAlgorithms / MacAlgorithms / KeyAgreementAlgorithms: the ones the key has. */
export function algorithmLists(key: KeyRecord): Record<string, string[]> {
  const lists = algorithmsOf(key.keySpec, key.keyUsage) ?? {};
  return {
    ...(lists.encryption ? { EncryptionAlgorithms: [...lists.encryption] } : {}),
    ...(lists.signing ? { SigningAlgorithms: [...lists.signing] } : {}),
    ...(lists.mac ? { MacAlgorithms: [...lists.mac] } : {}),
    ...(lists.keyAgreement ? { KeyAgreementAlgorithms: [...lists.keyAgreement] } : {}),
  };
}
