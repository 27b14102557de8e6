// CreateKey's check of an external key (Origin EXTERNAL_KEY_STORE), as AWS KMS makes it: the
// proxy's GetKeyMetadata must name an AES_256 key that is ENABLED and can ENCRYPT and DECRYPT.

import { KmsError } from '../domain/errors.js';
import type { KeyRecord } from '../domain/key.js';
import { createKeyFailure } from '../xks-client/kms-answers.js';
import type { OperationDeps, RequestContext } from './operation.js';

export async function checkExternalKey(deps: OperationDeps, key: KeyRecord, ctx: RequestContext): Promise<void> {
  const proxy = deps.keyStores.xksProxyFor(key);
  let metadata;
  try {
    // CreateKey sends no kmsKeyArn: the KMS key does not exist until the external key is accepted.
    metadata = await proxy.getKeyMetadata(key.xksKeyId!, { kmsRequestId: ctx.requestId, kmsOperation: 'CreateKey', awsPrincipalArn: ctx.principal.arn });
  } catch (err) {
    deps.logger.warn({ err, xksKeyId: key.xksKeyId, customKeyStoreId: key.customKeyStoreId }, 'CreateKey: the external key store proxy could not describe the external key');
    throw createKeyFailure(err);
  }
  const faults = [
    metadata.keySpec !== 'AES_256' ? `its key spec is ${metadata.keySpec}, not AES_256` : undefined,
    !metadata.keyUsage.includes('ENCRYPT') || !metadata.keyUsage.includes('DECRYPT') ? `its key usage ${JSON.stringify(metadata.keyUsage)} lacks ENCRYPT or DECRYPT` : undefined,
    metadata.keyStatus !== 'ENABLED' ? `its status is ${metadata.keyStatus}, not ENABLED` : undefined,
  ].filter((f): f is string => f !== undefined);
  if (faults.length > 0) {
    throw new KmsError('XksKeyInvalidConfigurationException', `External key ${key.xksKeyId} cannot back a KMS key: ${faults.join('; ')}.`);
  }
}
