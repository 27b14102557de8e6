// KeyMetadata as AWS returns it from CreateKey and DescribeKey.

import type { KeyRecord } from '../domain/key.js';
import { SYMMETRIC_ENCRYPTION_ALGORITHMS } from '../domain/key.js';

/** Wire timestamps are epoch seconds, fractional. */
export function epochSeconds(ms: number): number {
  return ms / 1000;
}

export function keyMetadata(key: KeyRecord): Record<string, unknown> {
  return {
    AWSAccountId: key.accountId,
    KeyId: key.keyId,
    Arn: key.arn,
    CreationDate: epochSeconds(key.createdAt),
    Enabled: key.state === 'Enabled',
    Description: key.description,
    KeyUsage: key.keyUsage,
    KeyState: key.state,
    ...(key.deletionDate !== null ? { DeletionDate: epochSeconds(key.deletionDate) } : {}),
    ...(key.pendingWindowDays !== null ? { PendingDeletionWindowInDays: key.pendingWindowDays } : {}),
    Origin: key.origin,
    KeyManager: 'CUSTOMER',
    CustomerMasterKeySpec: key.keySpec,
    KeySpec: key.keySpec,
    EncryptionAlgorithms: [...SYMMETRIC_ENCRYPTION_ALGORITHMS],
    MultiRegion: false,
    CurrentKeyMaterialId: key.backingKeyId,
  };
}
