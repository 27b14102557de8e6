// Wire members and response shapes shared by the admin operations.

import { z } from 'zod';
import { KmsError } from '../domain/errors.js';
import { epochSeconds } from '../operations/key-metadata.js';
import type { AccessKeyRecord, PrincipalRecord } from '../ports/store.js';
import type { AdminDeps } from './operation.js';

export const accountIdMember = z.string().regex(/^\d{12}$/);
/** IAM's user and role name rules: 1–64 of letters, digits and + = , . @ _ -. */
export const principalNameMember = z.string().min(1).max(64).regex(/^[\w+=,.@-]+$/);
export const principalArnMember = z.string().min(20).max(2048);
export const accessKeyIdMember = z.string().regex(/^AKIA[A-Z2-7]{16}$/);
export const policyNameMember = z.string().min(1).max(128).regex(/^[\w+=,.@-]+$/);

/** IAM allows two access keys per user; so do we (RotateAccessKey may briefly hold a third). */
export const MAX_ACCESS_KEYS_PER_PRINCIPAL = 2;

export function principalArn(partition: string, accountId: string, type: 'User' | 'Role', name: string): string {
  return `arn:${partition}:iam::${accountId}:${type === 'User' ? 'user' : 'role'}/${name}`;
}

export async function loadPrincipal(deps: AdminDeps, arn: string): Promise<PrincipalRecord> {
  const principal = await deps.store.getPrincipal(arn);
  if (!principal) throw new KmsError('NotFoundException', `Principal ${arn} does not exist.`);
  return principal;
}

export function principalEntry(p: PrincipalRecord) {
  return {
    Arn: p.arn,
    AccountId: p.accountId,
    Type: p.type,
    Name: p.name,
    Path: p.path,
    CreateDate: epochSeconds(p.createdAt),
    PolicyNames: Object.keys(p.policies).sort(),
  };
}

export function accessKeyEntry(k: AccessKeyRecord) {
  return { AccessKeyId: k.accessKeyId, PrincipalArn: k.principalArn, Status: k.status, CreateDate: epochSeconds(k.createdAt) };
}
