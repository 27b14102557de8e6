// Wire members and response shapes shared by the grant operations (reference §1.5, §2.1).

import { z } from 'zod';
import { keyArn, type Account } from '../domain/arn.js';
import { KmsError } from '../domain/errors.js';
import {
  CONSTRAINABLE_OPERATIONS,
  CONTEXT_OPERATIONS,
  GRANT_OPERATIONS,
  isGrantId,
  isPrincipalArn,
  MAX_CONSTRAINT_PAIRS,
  MAX_CONSTRAINT_VALUE_LENGTH,
  parseGrantToken,
  type GrantConstraints,
  type GrantOperation,
  type GrantRecord,
} from '../domain/grant.js';
import type { KeyRecord } from '../domain/key.js';
import { epochSeconds } from './key-metadata.js';
import { encryptionContext, str } from './wire.js';

/** GranteePrincipal, RetiringPrincipal: the model's pattern; the ARN shape is checked after. */
export const principalMember = str(1, 256).regex(/^[\w+=,.@:/-]+$/);
export const servicePrincipalMember = str(1, 128).regex(/^([A-Za-z0-9-]+)\.([A-Za-z0-9-]+)(\.[A-Za-z0-9-]+)+$/);
export const grantIdMember = str(1, 128);
export const grantTokenMember = str(1, 8192);
export const grantNameMember = str(1, 256).regex(/^[a-zA-Z0-9:/_-]+$/);
export const grantOperationsMember = z.array(z.enum(GRANT_OPERATIONS)).min(1);
export const grantConstraintsMember = z.object({
  EncryptionContextSubset: encryptionContext.optional(),
  EncryptionContextEquals: encryptionContext.optional(),
  SourceArn: str(20, 512).optional(),
});

/** InvalidArnException unless `text` names an AWS principal (account, user, role, session). */
export function checkPrincipalArn(member: string, text: string): void {
  if (!isPrincipalArn(text)) {
    throw new KmsError('InvalidArnException', `${member} ${text} is not a valid principal ARN. Use the ARN of an AWS account, IAM user, IAM role, federated user or assumed-role session.`);
  }
}

export function checkGrantId(grantId: string): void {
  if (!isGrantId(grantId)) throw new KmsError('InvalidGrantIdException', 'Invalid grant ID.');
}

/** Every presented token must be one of ours (the grants they name may since have gone). */
export function checkGrantTokens(tokens: readonly string[] | undefined): void {
  for (const token of tokens ?? []) {
    if (parseGrantToken(token) === undefined) throw new KmsError('InvalidGrantTokenException', 'The grant token is not valid.');
  }
}

/** The grant operations a key of this usage and spec can be granted. */
export function grantOperationsFor(key: Pick<KeyRecord, 'keyUsage' | 'keySpec'>): ReadonlySet<GrantOperation> {
  const common: GrantOperation[] = ['DescribeKey', 'CreateGrant', 'RetireGrant'];
  const usage: string = key.keyUsage;
  const spec: string = key.keySpec;
  let ops: GrantOperation[];
  if (usage === 'ENCRYPT_DECRYPT' && spec === 'SYMMETRIC_DEFAULT') {
    ops = ['Encrypt', 'Decrypt', 'ReEncryptFrom', 'ReEncryptTo', 'GenerateDataKey', 'GenerateDataKeyWithoutPlaintext', 'GenerateDataKeyPair', 'GenerateDataKeyPairWithoutPlaintext'];
  } else if (usage === 'ENCRYPT_DECRYPT') {
    ops = ['Encrypt', 'Decrypt', 'ReEncryptFrom', 'ReEncryptTo', 'GetPublicKey'];
  } else if (usage === 'SIGN_VERIFY') {
    ops = ['Sign', 'Verify', 'GetPublicKey'];
  } else if (usage === 'GENERATE_VERIFY_MAC') {
    ops = ['GenerateMac', 'VerifyMac'];
  } else if (usage === 'KEY_AGREEMENT') {
    ops = ['DeriveSharedSecret', 'GetPublicKey'];
  } else {
    ops = [];
  }
  return new Set([...ops, ...common]);
}

/**
 * The constraint rules AWS applies on CreateGrant: at most 8 pairs per map and 384 characters
 * per value; an encryption-context constraint only on a symmetric encryption key and only with
 * operations that carry a context (plus DescribeKey, RetireGrant, CreateGrant).
 */
export function checkConstraints(constraints: GrantConstraints | null, operations: readonly GrantOperation[], key: Pick<KeyRecord, 'keyUsage' | 'keySpec'>): void {
  if (constraints === null) return;
  for (const [member, map] of [
    ['constraints.encryptionContextEquals', constraints.encryptionContextEquals],
    ['constraints.encryptionContextSubset', constraints.encryptionContextSubset],
  ] as const) {
    if (map === undefined) continue;
    if (Object.keys(map).length > MAX_CONSTRAINT_PAIRS) {
      throw new KmsError('ValidationException', `1 validation error detected: Value at '${member}' failed to satisfy constraint: Map must have at most ${MAX_CONSTRAINT_PAIRS} entries`);
    }
    if (Object.values(map).some((v) => v.length > MAX_CONSTRAINT_VALUE_LENGTH)) {
      throw new KmsError('ValidationException', `1 validation error detected: Value at '${member}' failed to satisfy constraint: Map value must have length less than or equal to ${MAX_CONSTRAINT_VALUE_LENGTH}`);
    }
  }
  const misfits = operations.filter((op) => !CONSTRAINABLE_OPERATIONS.has(op));
  if (misfits.length > 0) {
    throw new KmsError('ValidationException', `Grant constraints are not supported with the grant operation(s) ${misfits.join(', ')}: they take no encryption context.`);
  }
  const symmetric = (key.keyUsage as string) === 'ENCRYPT_DECRYPT' && (key.keySpec as string) === 'SYMMETRIC_DEFAULT';
  if (!symmetric && operations.some((op) => CONTEXT_OPERATIONS.has(op))) {
    throw new KmsError('ValidationException', 'Encryption context grant constraints are supported only for symmetric encryption KMS keys.');
  }
}

/** GrantListEntry exactly as AWS answers it; optional members only when set. */
export function grantListEntry(account: Account, g: GrantRecord) {
  return {
    KeyId: keyArn(account, g.keyId),
    GrantId: g.grantId,
    ...(g.name !== null ? { Name: g.name } : {}),
    CreationDate: epochSeconds(g.createdAt),
    GranteePrincipal: g.granteePrincipal,
    ...(g.retiringPrincipal !== null ? { RetiringPrincipal: g.retiringPrincipal } : {}),
    IssuingAccount: g.issuingAccount,
    Operations: [...g.operations],
    ...(g.constraints !== null
      ? {
          Constraints: {
            ...(g.constraints.encryptionContextSubset ? { EncryptionContextSubset: g.constraints.encryptionContextSubset } : {}),
            ...(g.constraints.encryptionContextEquals ? { EncryptionContextEquals: g.constraints.encryptionContextEquals } : {}),
          },
        }
      : {}),
  };
}
