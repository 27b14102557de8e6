// keybridge's admin API: principals and their access keys and identity policies, the health of
// custom key stores' cluster members, backups and the audit trail's events, on the same
// endpoint as KMS (POST /, AWS JSON 1.1, SigV4) under X-Amz-Target: KeybridgeAdmin.<Operation>.
// Only the root principal of the server's own account (the operator's credentials) may call it,
// except operations marked anyPrincipal (GetCallerIdentity: any caller may ask who it is).

import { KmsError } from '../domain/errors.js';
import type { RequestContext } from '../operations/operation.js';
import { parseInput } from '../operations/wire.js';
import { createAccessKey } from './create-access-key.js';
import { createBackup } from './create-backup.js';
import { createPrincipal } from './create-principal.js';
import { deleteAccessKey } from './delete-access-key.js';
import { deletePrincipal } from './delete-principal.js';
import { deletePrincipalPolicy } from './delete-principal-policy.js';
import { describeKeyStoreHealth } from './describe-key-store-health.js';
import { describeRequestMetrics } from './describe-request-metrics.js';
import { getCallerIdentity } from './get-caller-identity.js';
import { getPrincipal } from './get-principal.js';
import { listPrincipals } from './list-principals.js';
import { lookupEventsOperation } from './lookup-events.js';
import type { AdminDeps, AdminOperation } from './operation.js';
import { putPrincipalPolicy } from './put-principal-policy.js';
import { rotateAccessKey } from './rotate-access-key.js';
import { updateAccessKey } from './update-access-key.js';
import { verifyAuditTrail } from './verify-audit-trail.js';
import { createXksCredential, deleteXksCredential, listXksCredentials } from './xks-credentials.js';
import { createXksKey, deleteXksKey, describeXksKey, disableXksKey, enableXksKey, listXksKeys } from './xks-keys.js';

export const ADMIN_TARGET_PREFIX = 'KeybridgeAdmin.';

export const ADMIN_OPERATIONS: readonly AdminOperation[] = [
  createPrincipal,
  listPrincipals,
  getPrincipal,
  deletePrincipal,
  createAccessKey,
  updateAccessKey,
  deleteAccessKey,
  rotateAccessKey,
  putPrincipalPolicy,
  deletePrincipalPolicy,
  describeKeyStoreHealth,
  createBackup,
  lookupEventsOperation,
  verifyAuditTrail,
  describeRequestMetrics,
  getCallerIdentity,
  createXksCredential,
  listXksCredentials,
  deleteXksCredential,
  createXksKey,
  listXksKeys,
  describeXksKey,
  enableXksKey,
  disableXksKey,
  deleteXksKey,
] as AdminOperation[];

export const ADMIN_OPERATIONS_BY_NAME: ReadonlyMap<string, AdminOperation> = new Map(ADMIN_OPERATIONS.map((op) => [op.name, op]));

/** The operation name when X-Amz-Target addresses the admin API, else undefined. */
export function adminOperationNameOf(target: string | string[] | undefined): string | undefined {
  return typeof target === 'string' && target.startsWith(ADMIN_TARGET_PREFIX) ? target.slice(ADMIN_TARGET_PREFIX.length) : undefined;
}

/**
 * Runs one admin call for an authenticated caller. Order: known operation → root of this account
 * (any authenticated caller for an anyPrincipal operation) → schema → `beforeRun` (the HTTP layer
 * records the call's intent there) → run. `deps` is undefined when the server was built without
 * the admin API.
 */
export async function runAdminOperation(
  name: string,
  ctx: RequestContext,
  deps: AdminDeps | undefined,
  body: Record<string, unknown>,
  beforeRun?: () => Promise<void>,
): Promise<unknown> {
  const operation = deps === undefined ? undefined : ADMIN_OPERATIONS_BY_NAME.get(name);
  if (!operation || !deps) throw new KmsError('UnknownOperationException', `Unknown operation: ${ADMIN_TARGET_PREFIX}${name.slice(0, 64)}`);
  const { principal } = ctx;
  if (operation.anyPrincipal !== true && (principal.type !== 'Root' || principal.accountId !== deps.account.accountId)) {
    throw new KmsError('AccessDeniedException', `User: ${principal.arn} is not authorized to perform: keybridge-admin:${operation.name}; only the account's root principal may.`);
  }
  const input = parseInput(operation.input, body);
  await beforeRun?.();
  return operation.run(ctx, deps, input);
}
