// Who may do what: every KMS request is authorized here, after its input is validated and before
// the operation runs (so a denied request changes nothing, DryRun included).
//
// The decision is AWS's (src/domain/policy): an explicit Deny anywhere wins; the key policy must
// allow, directly or by delegating to the account (then the caller's IAM identity policies
// decide); cross-account callers need both; a grant turns an implicit deny into an allow for the
// operations it names. Operations without a key resource (CreateKey, ListKeys, GenerateRandom,
// custom key stores, …) are decided by identity policies alone; the account root may do them.
//
// A request whose key does not exist (or whose ciphertext names none) is not decided here: the
// operation answers NotFoundException / InvalidCiphertextException as AWS does.

import { parseBlob } from '../domain/ciphertext-blob.js';
import { KmsError } from '../domain/errors.js';
import { grantAllows, type GrantOperation, GRANT_OPERATIONS } from '../domain/grant.js';
import type { KeyRecord } from '../domain/key.js';
import { parseKeyRef } from '../domain/key-ref.js';
import {
  accessDeniedError,
  allowByGrant,
  assertNoLockout,
  authorize,
  authorizeIdentityOnly,
  kmsConditionKeys,
  parsePolicy,
  type AuthorizationResult,
  type ConditionKeys,
  type KmsRequestFacts,
  type PolicyDocument,
  type RequestContext as PolicyRequest,
  type RequestPrincipal,
} from '../domain/policy/index.js';
import type { Principal } from '../ports/principals.js';
import type { OperationDeps, RequestContext } from './operation.js';

/** Where an operation's key comes from, if it has one. */
type KeySource =
  | { readonly kind: 'none' }
  | { readonly kind: 'member'; readonly member: string }
  /** Decrypt: KeyId when given, else the key the ciphertext names. */
  | { readonly kind: 'ciphertext'; readonly member: string; readonly keyMember?: string }
  /** DeleteAlias: the key the alias points at. */
  | { readonly kind: 'alias'; readonly member: string };

interface Rule {
  readonly source: KeySource;
  /** IAM action; kms:<Operation> when absent. */
  readonly action?: string;
}

const NONE: Rule = { source: { kind: 'none' } };
const KEY_ID: Rule = { source: { kind: 'member', member: 'KeyId' } };

const RULES: Readonly<Record<string, Rule>> = {
  CreateKey: NONE,
  ListKeys: NONE,
  ListAliases: NONE,
  GenerateRandom: NONE,
  ListRetirableGrants: NONE,
  CreateCustomKeyStore: NONE,
  DescribeCustomKeyStores: NONE,
  ConnectCustomKeyStore: NONE,
  DisconnectCustomKeyStore: NONE,
  UpdateCustomKeyStore: NONE,
  DeleteCustomKeyStore: NONE,
  // Authorized by the grant itself (its retiring principal or grantee), in the operation.
  RetireGrant: NONE,
  Decrypt: { source: { kind: 'ciphertext', member: 'CiphertextBlob', keyMember: 'KeyId' } },
  CreateAlias: { source: { kind: 'member', member: 'TargetKeyId' } },
  UpdateAlias: { source: { kind: 'member', member: 'TargetKeyId' } },
  DeleteAlias: { source: { kind: 'alias', member: 'AliasName' } },
};

/** Operations a grant may allow, by name (kms:ReEncryptFrom / To are checked by ReEncrypt). */
const GRANTABLE: ReadonlySet<string> = new Set<string>(GRANT_OPERATIONS);

const POLICY_CACHE_MAX = 2_000;
const policyCache = new Map<string, PolicyDocument>();

/** Parses a stored policy once; a stored document that no longer parses denies (fail closed). */
function parsed(text: string, kind: 'key' | 'identity'): PolicyDocument {
  const cacheKey = `${kind}\u0000${text}`;
  const hit = policyCache.get(cacheKey);
  if (hit !== undefined) return hit;
  let doc: PolicyDocument;
  try {
    doc = parsePolicy(text, { kind });
  } catch (err) {
    throw new KmsError('AccessDeniedException', `A ${kind} policy that applies to this request is not valid; access is denied.`, { cause: err });
  }
  if (policyCache.size >= POLICY_CACHE_MAX) policyCache.delete(policyCache.keys().next().value!);
  policyCache.set(cacheKey, doc);
  return doc;
}

const NO_CONDITION_KEYS: ConditionKeys = new Map();
const readsContextCache = new WeakMap<PolicyDocument, boolean>();

/**
 * Whether evaluating this policy can read the request's condition keys: a statement with a
 * Condition, or a policy variable (${...}) in a Resource or NotResource. Principal and Action
 * take no variables.
 */
function readsContext(doc: PolicyDocument): boolean {
  let reads = readsContextCache.get(doc);
  if (reads === undefined) {
    reads = doc.statements.some(
      (st) => st.conditions.length > 0 || [...(st.resource ?? []), ...(st.notResource ?? [])].some((r) => r.includes('${')),
    );
    readsContextCache.set(doc, reads);
  }
  return reads;
}

export function requestPrincipal(principal: Principal): RequestPrincipal {
  return {
    arn: principal.arn,
    accountId: principal.accountId,
    type: principal.type,
    ...(principal.userName === undefined ? {} : { userName: principal.userName }),
  };
}

export function identityPoliciesOf(principal: Principal): PolicyDocument[] {
  return (principal.identityPolicies ?? []).map((text) => parsed(text, 'identity'));
}

/**
 * Authorizes one request. Resolves the key the decision was about (undefined for operations
 * without one, or when the key does not exist); throws AccessDeniedException when denied.
 * `onKey` hears of the key before the decision, so a denied call's audit record names the key
 * (CloudTrail's resources) as AWS's does.
 */
export async function authorizeRequest(
  ctx: RequestContext,
  deps: OperationDeps,
  operation: string,
  input: Record<string, unknown>,
  onKey?: (key: KeyRecord) => void,
): Promise<KeyRecord | undefined> {
  if (operation === 'ReEncrypt') {
    const source = await keyOfCiphertext(deps, input['CiphertextBlob'], input['SourceKeyId']);
    if (source !== undefined) onKey?.(source);
    if (source !== undefined) await decide(ctx, deps, 'kms:ReEncryptFrom', 'ReEncryptFrom', source, input, input['SourceEncryptionContext']);
    const destination = await keyNamed(deps, input['DestinationKeyId']);
    if (destination !== undefined) await decide(ctx, deps, 'kms:ReEncryptTo', 'ReEncryptTo', destination, input, input['DestinationEncryptionContext']);
    return source ?? destination;
  }
  const rule = RULES[operation] ?? KEY_ID;
  const action = rule.action ?? `kms:${operation}`;
  const source = rule.source;
  let key: KeyRecord | undefined;
  switch (source.kind) {
    case 'none':
      if (operation !== 'RetireGrant') decideWithoutKey(ctx, deps, action, input);
      return undefined;
    case 'member':
      key = await keyNamed(deps, input[source.member]);
      break;
    case 'ciphertext':
      key = (await keyNamed(deps, input[source.keyMember ?? ''])) ?? (await keyOfCiphertext(deps, input[source.member], undefined));
      break;
    case 'alias':
      key = await keyOfAlias(deps, input[source.member]);
      break;
  }
  if (key === undefined) return undefined;
  onKey?.(key);
  await decide(ctx, deps, action, operation, key, input, input['EncryptionContext']);
  return key;
}

async function decide(
  ctx: RequestContext,
  deps: OperationDeps,
  action: string,
  grantOperation: string,
  key: KeyRecord,
  input: Record<string, unknown>,
  encryptionContext: unknown,
): Promise<void> {
  const principal = requestPrincipal(ctx.principal);
  const identityPolicies = identityPoliciesOf(ctx.principal);
  const keyPolicy = parsed(key.policy, 'key');
  let conditionKeys: ConditionKeys = NO_CONDITION_KEYS;
  // Condition keys are read only by Condition blocks and policy variables: most requests (the
  // default key policy, no conditions) skip building them.
  if (readsContext(keyPolicy) || identityPolicies.some(readsContext)) {
    const needs = (what: string) => key.policy.includes(what) || (ctx.principal.identityPolicies ?? []).some((p) => p.includes(what));
    const facts: KmsRequestFacts = {
      ...baseFacts(ctx, deps, principal, input),
      ...(isContext(encryptionContext) ? { encryptionContext } : {}),
      key: {
        keySpec: key.keySpec,
        keyUsage: key.keyUsage,
        origin: key.origin,
        ...(needs('ResourceAliases') ? { aliases: await aliasesOf(deps, key.keyId) } : {}),
        ...(needs('ResourceTag') ? { tags: await tagsOf(deps, key.keyId) } : {}),
      },
      ...(requestAlias(input) === undefined ? {} : { requestAlias: requestAlias(input)! }),
    };
    conditionKeys = kmsConditionKeys(facts);
  }
  const request: PolicyRequest = {
    principal,
    action,
    resource: key.arn,
    resourceAccount: deps.account.accountId,
    conditionKeys,
  };
  let result: AuthorizationResult = authorize({ request, keyPolicy, identityPolicies });
  if (result.decision === 'ImplicitDeny' && GRANTABLE.has(grantOperation)) {
    const grants = await deps.store.grantsForGrantee(key.keyId, principal.arn);
    const grant =
      grants.length === 0
        ? undefined
        : grantAllows(grants, {
            principalArn: principal.arn,
            operation: grantOperation as GrantOperation,
            ...(isContext(encryptionContext) ? { encryptionContext } : {}),
            ...(Array.isArray(input['GrantTokens']) ? { grantTokens: input['GrantTokens'] as string[] } : {}),
            ...(grantOperation === 'CreateGrant' ? { newGrant: newGrantOf(input) } : {}),
          });
    result = allowByGrant(result, grant !== undefined);
  }
  if (result.decision !== 'Allow') throw accessDeniedError(request, result);
}

function decideWithoutKey(ctx: RequestContext, deps: OperationDeps, action: string, input: Record<string, unknown>): void {
  const principal = requestPrincipal(ctx.principal);
  const facts: KmsRequestFacts = {
    ...baseFacts(ctx, deps, principal, input),
    ...(action === 'kms:CreateKey'
      ? {
          key: {
            keySpec: typeof input['KeySpec'] === 'string' ? input['KeySpec'] : typeof input['CustomerMasterKeySpec'] === 'string' ? input['CustomerMasterKeySpec'] : 'SYMMETRIC_DEFAULT',
            keyUsage: typeof input['KeyUsage'] === 'string' ? input['KeyUsage'] : 'ENCRYPT_DECRYPT',
            origin: typeof input['Origin'] === 'string' ? input['Origin'] : 'AWS_KMS',
          },
        }
      : {}),
  };
  const request: PolicyRequest = { principal, action, conditionKeys: kmsConditionKeys(facts) };
  const result = authorizeIdentityOnly(request, identityPoliciesOf(ctx.principal));
  if (result.decision !== 'Allow') throw accessDeniedError(request, result);
}

function baseFacts(ctx: RequestContext, deps: OperationDeps, principal: RequestPrincipal, input: Record<string, unknown>): KmsRequestFacts {
  const tags = requestTags(input);
  const operations = Array.isArray(input['Operations']) ? (input['Operations'] as string[]) : undefined;
  return {
    principal,
    now: new Date(deps.clock.now()),
    sourceIp: ctx.sourceIp,
    secureTransport: ctx.secureTransport,
    ...(tags === undefined ? {} : { requestTags: tags }),
    ...(operations === undefined ? {} : { grantOperations: operations }),
    ...(typeof input['GranteePrincipal'] === 'string' ? { granteePrincipal: input['GranteePrincipal'] } : {}),
    ...(typeof input['RetiringPrincipal'] === 'string' ? { retiringPrincipal: input['RetiringPrincipal'] } : {}),
    ...(typeof input['EncryptionAlgorithm'] === 'string' ? { encryptionAlgorithm: input['EncryptionAlgorithm'] } : {}),
    ...(typeof input['BypassPolicyLockoutSafetyCheck'] === 'boolean' ? { bypassPolicyLockoutSafetyCheck: input['BypassPolicyLockoutSafetyCheck'] } : {}),
    ...(operations === undefined ? {} : { grantIsForAwsResource: false }),
  };
}

function newGrantOf(input: Record<string, unknown>): { operations: GrantOperation[]; constraints: null } | undefined {
  if (!Array.isArray(input['Operations'])) return undefined;
  const constraints = input['Constraints'] as { EncryptionContextEquals?: Record<string, string>; EncryptionContextSubset?: Record<string, string> } | undefined;
  return {
    operations: input['Operations'] as GrantOperation[],
    constraints: (constraints === undefined
      ? null
      : { encryptionContextEquals: constraints.EncryptionContextEquals ?? null, encryptionContextSubset: constraints.EncryptionContextSubset ?? null }) as never,
  };
}

function requestTags(input: Record<string, unknown>): Record<string, string> | undefined {
  const tags = input['Tags'];
  if (!Array.isArray(tags)) return undefined;
  const out: Record<string, string> = {};
  for (const tag of tags as Array<{ TagKey?: unknown; TagValue?: unknown }>) {
    if (typeof tag.TagKey === 'string') out[tag.TagKey] = typeof tag.TagValue === 'string' ? tag.TagValue : '';
  }
  return out;
}

function requestAlias(input: Record<string, unknown>): string | undefined {
  const keyId = input['KeyId'];
  if (typeof keyId !== 'string') return undefined;
  if (keyId.startsWith('alias/')) return keyId;
  const at = keyId.indexOf(':alias/');
  return at >= 0 ? keyId.slice(at + 1) : undefined;
}

function isContext(value: unknown): value is Record<string, string> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The key a KeyId-shaped member names; undefined when absent, malformed or not found. */
async function keyNamed(deps: OperationDeps, text: unknown): Promise<KeyRecord | undefined> {
  if (typeof text !== 'string') return undefined;
  let ref;
  try {
    ref = parseKeyRef(text, deps.account, true);
  } catch {
    return undefined;
  }
  let keyId: string;
  if (ref.kind === 'alias') {
    const alias = await deps.store.getAlias(ref.aliasName);
    if (alias === undefined) return undefined;
    keyId = alias.keyId;
  } else {
    keyId = ref.keyId;
  }
  return deps.store.getKey(keyId);
}

async function keyOfCiphertext(deps: OperationDeps, blob: unknown, keyIdText: unknown): Promise<KeyRecord | undefined> {
  const named = await keyNamed(deps, keyIdText);
  if (named !== undefined) return named;
  if (!Buffer.isBuffer(blob)) return undefined;
  try {
    return await deps.store.getKey(parseBlob(blob).keyId);
  } catch {
    return undefined;
  }
}

async function keyOfAlias(deps: OperationDeps, aliasName: unknown): Promise<KeyRecord | undefined> {
  if (typeof aliasName !== 'string') return undefined;
  const alias = await deps.store.getAlias(aliasName);
  return alias === undefined ? undefined : deps.store.getKey(alias.keyId);
}

async function aliasesOf(deps: OperationDeps, keyId: string): Promise<string[]> {
  return (await deps.store.listAliases({ keyId, limit: 100 })).map((alias) => alias.aliasName);
}

async function tagsOf(deps: OperationDeps, keyId: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const tag of await deps.store.listTags(keyId, undefined, 50)) out[tag.key] = tag.value;
  return out;
}

/**
 * The policy lockout safety check of CreateKey and PutKeyPolicy: unless the request bypasses it,
 * the caller must be able to call kms:PutKeyPolicy on the key under the new policy.
 */
export function assertCallerKeepsControl(ctx: RequestContext, deps: OperationDeps, policyText: string, keyArnText: string, bypass: boolean | undefined): void {
  if (bypass === true) return;
  const principal = requestPrincipal(ctx.principal);
  assertNoLockout(
    parsePolicy(policyText, { kind: 'key' }),
    {
      principal,
      resource: keyArnText,
      resourceAccount: deps.account.accountId,
      conditionKeys: kmsConditionKeys({ principal, now: new Date(deps.clock.now()), sourceIp: ctx.sourceIp, secureTransport: ctx.secureTransport }),
    },
    identityPoliciesOf(ctx.principal),
  );
}
