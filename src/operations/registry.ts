// Every KMS operation keybridge serves. Routing (X-Amz-Target), docs and tests are driven from
// this list; an operation that is not here answers UnknownOperationException.

import { cancelKeyDeletion } from './cancel-key-deletion.js';
import { connectCustomKeyStore } from './connect-custom-key-store.js';
import { createCustomKeyStore } from './create-custom-key-store.js';
import { deleteCustomKeyStore } from './delete-custom-key-store.js';
import { describeCustomKeyStores } from './describe-custom-key-stores.js';
import { disconnectCustomKeyStore } from './disconnect-custom-key-store.js';
import { updateCustomKeyStore } from './update-custom-key-store.js';
import { createAlias } from './create-alias.js';
import { createKey } from './create-key.js';
import { createGrant } from './create-grant.js';
import { listGrants } from './list-grants.js';
import { listRetirableGrants } from './list-retirable-grants.js';
import { retireGrant } from './retire-grant.js';
import { revokeGrant } from './revoke-grant.js';
import { decrypt } from './decrypt.js';
import { deleteAlias } from './delete-alias.js';
import { describeKey } from './describe-key.js';
import { disableKey } from './disable-key.js';
import { disableKeyRotation } from './disable-key-rotation.js';
import { enableKey } from './enable-key.js';
import { enableKeyRotation } from './enable-key-rotation.js';
import { getKeyRotationStatus } from './get-key-rotation-status.js';
import { listKeyRotations } from './list-key-rotations.js';
import { rotateKeyOnDemand } from './rotate-key-on-demand.js';
import { getParametersForImport } from './get-parameters-for-import.js';
import { importKeyMaterial } from './import-key-material.js';
import { deleteImportedKeyMaterial } from './delete-imported-key-material.js';
import { encrypt } from './encrypt.js';
import { generateDataKey } from './generate-data-key.js';
import { generateDataKeyWithoutPlaintext } from './generate-data-key-without-plaintext.js';
import { generateRandom } from './generate-random.js';
import { getKeyPolicy } from './get-key-policy.js';
import { listAliases } from './list-aliases.js';
import { listKeyPolicies } from './list-key-policies.js';
import { listKeys } from './list-keys.js';
import { listResourceTags } from './list-resource-tags.js';
import type { Operation } from './operation.js';
import { deriveSharedSecret } from './derive-shared-secret.js';
import { generateDataKeyPair } from './generate-data-key-pair.js';
import { generateDataKeyPairWithoutPlaintext } from './generate-data-key-pair-without-plaintext.js';
import { generateMac } from './generate-mac.js';
import { getPublicKey } from './get-public-key.js';
import { sign } from './sign.js';
import { verify } from './verify.js';
import { verifyMac } from './verify-mac.js';
import { putKeyPolicy } from './put-key-policy.js';
import { reEncrypt } from './re-encrypt.js';
import { scheduleKeyDeletion } from './schedule-key-deletion.js';
import { tagResource } from './tag-resource.js';
import { untagResource } from './untag-resource.js';
import { updateAlias } from './update-alias.js';
import { updateKeyDescription } from './update-key-description.js';

export const OPERATIONS: readonly Operation[] = [
  createKey,
  describeKey,
  listKeys,
  enableKey,
  disableKey,
  scheduleKeyDeletion,
  cancelKeyDeletion,
  updateKeyDescription,
  encrypt,
  decrypt,
  reEncrypt,
  generateDataKey,
  generateDataKeyWithoutPlaintext,
  generateRandom,
  // Asymmetric, HMAC and key-agreement keys (issue #8).
  getPublicKey,
  sign,
  verify,
  generateMac,
  verifyMac,
  deriveSharedSecret,
  generateDataKeyPair,
  generateDataKeyPairWithoutPlaintext,
  createAlias,
  updateAlias,
  deleteAlias,
  listAliases,
  tagResource,
  untagResource,
  listResourceTags,
  getKeyPolicy,
  putKeyPolicy,
  listKeyPolicies,
  // Rotation (issue #14).
  enableKeyRotation,
  disableKeyRotation,
  getKeyRotationStatus,
  rotateKeyOnDemand,
  getParametersForImport,
  importKeyMaterial,
  deleteImportedKeyMaterial,
  listKeyRotations,
  createGrant,
  listGrants,
  listRetirableGrants,
  retireGrant,
  revokeGrant,
  createCustomKeyStore,
  describeCustomKeyStores,
  connectCustomKeyStore,
  disconnectCustomKeyStore,
  updateCustomKeyStore,
  deleteCustomKeyStore,
] as Operation[];

export const OPERATIONS_BY_NAME: ReadonlyMap<string, Operation> = new Map(OPERATIONS.map((op) => [op.name, op]));
