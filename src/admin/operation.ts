// The shape of keybridge's admin operations (X-Amz-Target: KeybridgeAdmin.<Operation>): the same
// as a KMS operation (a wire schema and `run`), with the principal directory in its deps.

import type { z } from 'zod';
import type { PrincipalCredentials } from '../auth/principal-credentials.js';
import type { LookupSource } from '../audit/lookup.js';
import type { TrailVerifier } from '../audit/trail-verifier.js';
import type { RecentRequests } from '../http/recent-requests.js';
import type { BackupSource } from '../backup/create.js';
import type { XksCredentials } from '../xks/credentials.js';
import type { XksKeys } from '../xks/keys.js';
import type { OperationDeps, RequestContext } from '../operations/operation.js';

export interface AdminDeps extends OperationDeps {
  /** The live credentials table; refreshed after every change so new keys work at once. */
  readonly principals: PrincipalCredentials;
  /** The XKS proxy's keys and credentials (KeybridgeAdmin.*Xks*). */
  readonly xks: { readonly keys: XksKeys; readonly credentials: XksCredentials };
  /** This node's name (host:pid:random), as in its work claims and reports. */
  readonly node: string;
  /** KeybridgeAdmin.CreateBackup: what it copies (undefined with the reason when nothing: a PostgreSQL store) and where it writes. */
  readonly backups: { readonly source: BackupSource | undefined; readonly refusal: string | undefined; readonly directory: string };
  /** KeybridgeAdmin.LookupEvents: where the audit trail is read (the trail file, or PostgreSQL). */
  readonly auditLookup: LookupSource | undefined;
  /** KeybridgeAdmin.DescribeRequestMetrics: this process's record of its recent requests (undefined: not kept). */
  readonly recentRequests?: RecentRequests;
  /** KeybridgeAdmin.VerifyAuditTrail: verifies this node's trail (the file, or PostgreSQL) as `keybridge audit verify` does (undefined: no trail). */
  readonly auditVerifier?: TrailVerifier;
}

export interface AdminOperation<Schema extends z.ZodType = z.ZodType, Output = unknown> {
  /** The name after `KeybridgeAdmin.` in X-Amz-Target. */
  readonly name: string;
  readonly input: Schema;
  /**
   * Any authenticated principal may call it, not only the account's root (GetCallerIdentity,
   * which tells callers who they are). Such an operation must reveal nothing but the caller's own
   * facts.
   */
  readonly anyPrincipal?: true;
  run(ctx: RequestContext, deps: AdminDeps, input: z.output<Schema>): Promise<Output | undefined>;
}

export function defineAdminOperation<Schema extends z.ZodType, Output>(op: AdminOperation<Schema, Output>): AdminOperation<Schema, Output> {
  return op;
}
