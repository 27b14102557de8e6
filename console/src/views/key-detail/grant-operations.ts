// The grant operations a key can be granted, by its usage and spec (the server refuses the others
// with ValidationException), and the encryption-context constraint lines of the create form.

import type { GrantOperation, KeyMetadata } from '@aws-sdk/client-kms';

const COMMON: GrantOperation[] = ['DescribeKey', 'CreateGrant', 'RetireGrant'];

export function grantOperationsFor(metadata: Pick<KeyMetadata, 'KeySpec' | 'KeyUsage'> | undefined): GrantOperation[] {
  if (metadata === undefined) return COMMON;
  const { KeySpec: spec, KeyUsage: usage } = metadata;
  let ops: GrantOperation[] = [];
  if (usage === 'ENCRYPT_DECRYPT' && spec === 'SYMMETRIC_DEFAULT') {
    ops = ['Decrypt', 'Encrypt', 'GenerateDataKey', 'GenerateDataKeyPair', 'GenerateDataKeyPairWithoutPlaintext', 'GenerateDataKeyWithoutPlaintext', 'ReEncryptFrom', 'ReEncryptTo'];
  } else if (usage === 'ENCRYPT_DECRYPT') {
    ops = ['Decrypt', 'Encrypt', 'ReEncryptFrom', 'ReEncryptTo', 'GetPublicKey'];
  } else if (usage === 'SIGN_VERIFY') {
    ops = ['Sign', 'Verify', 'GetPublicKey'];
  } else if (usage === 'GENERATE_VERIFY_MAC') {
    ops = ['GenerateMac', 'VerifyMac'];
  } else if (usage === 'KEY_AGREEMENT') {
    ops = ['DeriveSharedSecret', 'GetPublicKey'];
  }
  return [...ops, ...COMMON];
}

/** Encryption-context constraints exist only for symmetric encryption keys. */
export function takesContextConstraints(metadata: Pick<KeyMetadata, 'KeySpec' | 'KeyUsage'> | undefined): boolean {
  return metadata?.KeySpec === 'SYMMETRIC_DEFAULT' && metadata.KeyUsage === 'ENCRYPT_DECRYPT';
}

/** "key=value" lines (blank lines skipped) as a map; throws an Error naming the first bad line. */
export function parseContextLines(text: string): Record<string, string> {
  const pairs: Record<string, string> = {};
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (line === '') continue;
    const eq = line.indexOf('=');
    if (eq <= 0) throw new Error(`Line ${i + 1} ("${line}") is not key=value.`);
    pairs[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  }
  return pairs;
}
