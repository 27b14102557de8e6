// How a client names a KMS key: key id, key ARN, alias name or alias ARN (reference §1.1).
// Cryptographic operations and DescribeKey accept all four; management operations accept only the
// key id or key ARN. Keys of another account or region do not exist here.

import type { Account } from './arn.js';
import { parseArn } from './arn.js';
import { KmsError } from './errors.js';

export type KeyRef =
  | { readonly kind: 'key'; readonly keyId: string; readonly display: string }
  | { readonly kind: 'alias'; readonly aliasName: string; readonly display: string };

const KEY_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function isKeyId(text: string): boolean {
  return KEY_ID.test(text);
}

/**
 * Parses a key identifier. `allowAlias` is false for operations that take only a key id or key
 * ARN. Throws NotFoundException for text that cannot name a key of this account and region, with
 * the messages AWS uses ("Invalid keyId …", "Key '…' does not exist").
 */
export function parseKeyRef(text: string, account: Account, allowAlias: boolean): KeyRef {
  if (text.startsWith('arn:')) {
    const arn = parseArn(text);
    if (!arn || arn.service !== 'kms') {
      throw new KmsError('InvalidArnException', `Invalid ARN: ${text}`);
    }
    const foreign = arn.region !== account.region || arn.accountId !== account.accountId || arn.partition !== account.partition;
    if (arn.resource.startsWith('key/')) {
      const keyId = arn.resource.slice('key/'.length);
      if (foreign || !isKeyId(keyId)) throw new KmsError('NotFoundException', `Key '${text}' does not exist`);
      return { kind: 'key', keyId, display: text };
    }
    if (arn.resource.startsWith('alias/') && allowAlias) {
      if (foreign) throw new KmsError('NotFoundException', `Alias ${text} is not found.`);
      return { kind: 'alias', aliasName: arn.resource, display: text };
    }
    throw new KmsError('NotFoundException', `Invalid keyId ${text}`);
  }
  if (text.startsWith('alias/') && allowAlias) {
    return { kind: 'alias', aliasName: text, display: text };
  }
  if (isKeyId(text)) return { kind: 'key', keyId: text, display: text };
  throw new KmsError('NotFoundException', `Invalid keyId ${text}`);
}
