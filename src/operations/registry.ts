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
import { decrypt } from './decrypt.js';
import { deleteAlias } from './delete-alias.js';
import { describeKey } from './describe-key.js';
import { disableKey } from './disable-key.js';
import { enableKey } from './enable-key.js';
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
  createCustomKeyStore,
  describeCustomKeyStores,
  connectCustomKeyStore,
  disconnectCustomKeyStore,
  updateCustomKeyStore,
  deleteCustomKeyStore,
] as Operation[];

export const OPERATIONS_BY_NAME: ReadonlyMap<string, Operation> = new Map(OPERATIONS.map((op) => [op.name, op]));
