// Who may do what: every KMS request is authorized here, after its input is validated and before
// the operation runs (so a denied request changes nothing, DryRun included).
//
// One decision per request, on exactly what runs: the rule table below names, for every
// registered operation, which keys it acts on and who may call it. Authorization resolves those
// keys once (ResolvedKeys), decides on those records, and hands them to the operation, which
// never looks a key up itself. An operation without a rule is refused (default deny); a test
// fails when a registered operation has none.
//
// The decision is AWS's (src/domain/policy): an explicit Deny anywhere wins; the key policy must
// allow, directly or by delegating to the account (then the caller's IAM identity policies
// decide); cross-account callers need both; a grant turns an implicit deny into an allow for the
// operations it names. Operations without a key resource (CreateKey, ListKeys, GenerateRandom,
// custom key stores, …) are decided by identity policies alone; the account root may do them.
//
// Tenancy: this node serves one account (deps.account). Account-level operations act on the
// caller's account, so a caller of another account is refused them (AccessDeniedException):
// keybridge keeps no resources of that account. A caller of another account may use this
// account's keys only with the operations AWS allows across accounts ("Allowing users in other
// accounts to use a KMS key"), naming the key by ARN, when the key policy AND its own identity
// policies allow. A key id or alias name it sends names a key of its own account, which does
// not exist here.

import { KmsError, wireMemberPath } from '../domain/errors.js';
import { grantAllows, normaliseConstraints, type GrantConstraints, type GrantOperation, GRANT_OPERATIONS } from '../domain/grant.js';
import type { KeyRecord } from '../domain/key.js';
import { isKeyId } from '../domain/key-ref.js';
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
import { ResolvedKeys } from './key-access.js';

/** Where a key the decision is about comes from. */
type KeySource =
  /** A KeyId-shaped member; `allowAlias` as the operation accepts (key id/ARN only, or aliases too). */
  | { readonly kind: 'member'; readonly member: string; readonly allowAlias: boolean }
  /** Decrypt, ReEncrypt: the key member when given (it must then be the key that made the blob), else the blob's key. */
  | { readonly kind: 'ciphertext'; readonly blobMember: string; readonly keyMember: string }
  /** The key an alias points at (DeleteAlias, UpdateAlias's current target). */
  | { readonly kind: 'alias'; readonly member: string };

interface KeyDecision {
  readonly source: KeySource;
  /** IAM action; kms:<Operation> when absent. */
  readonly action?: string;
  /** The operation a grant must name; the operation's own name when absent. */
  readonly grantOperation?: string;
  /** The member holding the encryption context that condition keys and grant constraints read. */
  readonly contextMember?: string;
}

type Rule =
  /** Account-level: identity policies alone, the caller's account only. `filter`: a key the result is narrowed to (resolved, not decided). */
  | { readonly kind: 'account'; readonly filter?: { readonly member: string } }
  /** On keys: each decided with its key policy, grants and the caller's identity policies. */
  | { readonly kind: 'keys'; readonly crossAccount: boolean; readonly keys: readonly KeyDecision[] }
  /** RetireGrant: the grant itself decides who may retire it (in the operation); the key is only resolved. */
  | { readonly kind: 'grant'; readonly key: { readonly member: string } };

const ACCOUNT: Rule = { kind: 'account' };
/** Key id, key ARN, alias name or alias ARN; usable across accounts (by ARN). */
const USE_KEY: Rule = { kind: 'keys', crossAccount: true, keys: [{ source: { kind: 'member', member: 'KeyId', allowAlias: true }, contextMember: 'EncryptionContext' }] };
/** Key id or key ARN; usable across accounts (grants). */
const SHARED_BY_ID: Rule = { kind: 'keys', crossAccount: true, keys: [{ source: { kind: 'member', member: 'KeyId', allowAlias: false } }] };
/** Key id or key ARN; the key's own account only (management). */
const MANAGE_KEY: Rule = { kind: 'keys', crossAccount: false, keys: [{ source: { kind: 'member', member: 'KeyId', allowAlias: false } }] };

/**
 * Every registered operation, explicitly. Cross-account: AWS's list (CreateGrant, Decrypt,
 * DescribeKey, DeriveSharedSecret, Encrypt, GenerateDataKey*, GenerateMac, GetPublicKey,
 * ListGrants, ReEncrypt*, RetireGrant, RevokeGrant, Sign, Verify, VerifyMac).
 */
export const RULES: Readonly<Record<string, Rule>> = {
  CreateKey: ACCOUNT,
  ListKeys: ACCOUNT,
  GenerateRandom: ACCOUNT,
  ListRetirableGrants: ACCOUNT,
  CreateCustomKeyStore: ACCOUNT,
  DescribeCustomKeyStores: ACCOUNT,
  ConnectCustomKeyStore: ACCOUNT,
  DisconnectCustomKeyStore: ACCOUNT,
  UpdateCustomKeyStore: ACCOUNT,
  DeleteCustomKeyStore: ACCOUNT,
  ListAliases: { kind: 'account', filter: { member: 'KeyId' } },

  DescribeKey: USE_KEY,
  Encrypt: USE_KEY,
  GenerateDataKey: USE_KEY,
  GenerateDataKeyWithoutPlaintext: USE_KEY,
  GenerateDataKeyPair: USE_KEY,
  GenerateDataKeyPairWithoutPlaintext: USE_KEY,
  GenerateMac: USE_KEY,
  VerifyMac: USE_KEY,
  Sign: USE_KEY,
  Verify: USE_KEY,
  GetPublicKey: USE_KEY,
  DeriveSharedSecret: USE_KEY,
  Decrypt: {
    kind: 'keys',
    crossAccount: true,
    keys: [{ source: { kind: 'ciphertext', blobMember: 'CiphertextBlob', keyMember: 'KeyId' }, contextMember: 'EncryptionContext' }],
  },
  ReEncrypt: {
    kind: 'keys',
    crossAccount: true,
    keys: [
      {
        source: { kind: 'ciphertext', blobMember: 'CiphertextBlob', keyMember: 'SourceKeyId' },
        action: 'kms:ReEncryptFrom',
        grantOperation: 'ReEncryptFrom',
        contextMember: 'SourceEncryptionContext',
      },
      {
        source: { kind: 'member', member: 'DestinationKeyId', allowAlias: true },
        action: 'kms:ReEncryptTo',
        grantOperation: 'ReEncryptTo',
        contextMember: 'DestinationEncryptionContext',
      },
    ],
  },
  CreateGrant: SHARED_BY_ID,
  ListGrants: SHARED_BY_ID,
  RevokeGrant: SHARED_BY_ID,
  RetireGrant: { kind: 'grant', key: { member: 'KeyId' } },

  EnableKey: MANAGE_KEY,
  DisableKey: MANAGE_KEY,
  ScheduleKeyDeletion: MANAGE_KEY,
  CancelKeyDeletion: MANAGE_KEY,
  UpdateKeyDescription: MANAGE_KEY,
  TagResource: MANAGE_KEY,
  UntagResource: MANAGE_KEY,
  ListResourceTags: MANAGE_KEY,
  GetKeyPolicy: MANAGE_KEY,
  PutKeyPolicy: MANAGE_KEY,
  ListKeyPolicies: MANAGE_KEY,
  EnableKeyRotation: MANAGE_KEY,
  DisableKeyRotation: MANAGE_KEY,
  GetKeyRotationStatus: MANAGE_KEY,
  RotateKeyOnDemand: MANAGE_KEY,
  ListKeyRotations: MANAGE_KEY,
  GetParametersForImport: MANAGE_KEY,
  ImportKeyMaterial: MANAGE_KEY,
  DeleteImportedKeyMaterial: MANAGE_KEY,
  CreateAlias: { kind: 'keys', crossAccount: false, keys: [{ source: { kind: 'member', member: 'TargetKeyId', allowAlias: false } }] },
  // AWS requires kms:UpdateAlias on the alias's current key and on the new one.
  UpdateAlias: {
    kind: 'keys',
    crossAccount: false,
    keys: [{ source: { kind: 'alias', member: 'AliasName' } }, { source: { kind: 'member', member: 'TargetKeyId', allowAlias: false } }],
  },
  DeleteAlias: { kind: 'keys', crossAccount: false, keys: [{ source: { kind: 'alias', member: 'AliasName' } }] },
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

/** What authorization hands the HTTP layer: the keys it resolved, and the one the request is about. */
export interface Decision {
  readonly keys: ResolvedKeys;
  /** The first key decided on (ReEncrypt: the source), for the audit record; undefined for account-level operations. */
  readonly key: KeyRecord | undefined;
  /** ReEncrypt's destination key, for the audit record. */
  readonly destinationKey?: KeyRecord;
}

/**
 * Authorizes one request and resolves every key it acts on, once. Throws AccessDeniedException
 * when denied, and the operation's own NotFoundException / InvalidCiphertextException when a key
 * it names does not exist (nothing is decided, nothing runs). `onKey` hears of each key before
 * its decision, so a denied call's audit record names the key (CloudTrail's resources) as AWS's
 * does.
 */
export async function authorizeRequest(
  ctx: RequestContext,
  deps: OperationDeps,
  operation: string,
  input: Record<string, unknown>,
  onKey?: (key: KeyRecord) => void,
): Promise<Decision> {
  const rule = Object.hasOwn(RULES, operation) ? RULES[operation] : undefined;
  // Default deny: an operation nobody wrote a rule for never runs.
  if (rule === undefined) throw new KmsError('AccessDeniedException', `keybridge has no authorization rule for ${operation.slice(0, 64)}; the request is refused.`);
  const keys = new ResolvedKeys();
  const foreign = ctx.principal.accountId !== deps.account.accountId;
  switch (rule.kind) {
    case 'account': {
      if (foreign) throw otherAccountDenied(ctx, deps, `kms:${operation}`);
      decideWithoutKey(ctx, deps, `kms:${operation}`, input);
      const filter = rule.filter === undefined ? undefined : input[rule.filter.member];
      if (typeof filter === 'string') await keys.resolve(deps, filter, false);
      return { keys, key: undefined };
    }
    case 'grant': {
      // Who may retire is the grant's to say (mayRetireGrant, in the operation); a caller of
      // another account may retire a grant it is the retiring principal or grantee of.
      const text = input[rule.key.member];
      let key: KeyRecord | undefined;
      if (typeof text === 'string') {
        assertNamesThisAccount(ctx, deps, text, false);
        key = await keys.resolve(deps, text, false);
        onKey?.(key);
      }
      return { keys, key };
    }
    case 'keys': {
      if (foreign && !rule.crossAccount) throw otherAccountDenied(ctx, deps, `kms:${operation}`);
      const decided: KeyRecord[] = [];
      for (const spec of rule.keys) {
        const key = await resolveFor(ctx, deps, keys, spec.source, input);
        onKey?.(key);
        const contextValue = spec.contextMember === undefined ? undefined : input[spec.contextMember];
        await decide(ctx, deps, spec.action ?? `kms:${operation}`, spec.grantOperation ?? operation, key, input, contextValue);
        if (spec.source.kind === 'ciphertext' && typeof input[spec.source.keyMember] === 'string') {
          // The named key was decided on; the blob's own key is resolved only for the operation's
          // comparison (IncorrectKeyException when another key made it), never used unless equal.
          const blob = input[spec.source.blobMember];
          if (Buffer.isBuffer(blob)) await keys.noteCiphertext(deps, blob);
        }
        decided.push(key);
      }
      return { keys, key: decided[0], ...(decided.length > 1 && operation === 'ReEncrypt' ? { destinationKey: decided[1]! } : {}) };
    }
  }
}

/** Resolves the key one decision is about, as the operation will find it in ResolvedKeys. */
async function resolveFor(ctx: RequestContext, deps: OperationDeps, keys: ResolvedKeys, source: KeySource, input: Record<string, unknown>): Promise<KeyRecord> {
  switch (source.kind) {
    case 'member': {
      const text = input[source.member];
      if (typeof text !== 'string') throw memberMissing(source.member);
      assertNamesThisAccount(ctx, deps, text, source.allowAlias);
      return keys.resolve(deps, text, source.allowAlias);
    }
    case 'ciphertext': {
      const text = input[source.keyMember];
      if (typeof text === 'string') {
        assertNamesThisAccount(ctx, deps, text, true);
        return keys.resolve(deps, text, true);
      }
      const blob = input[source.blobMember];
      if (!Buffer.isBuffer(blob)) throw memberMissing(source.blobMember);
      return keys.resolveCiphertext(deps, blob);
    }
    case 'alias': {
      const name = input[source.member];
      if (typeof name !== 'string') throw memberMissing(source.member);
      if (ctx.principal.accountId !== deps.account.accountId) throw aliasOfCallerNotFound(ctx, deps, name);
      return keys.resolveAlias(deps, name);
    }
  }
}

/**
 * A caller of another account names this account's keys only by ARN: a key id or alias name
 * names a key of its own account, which keybridge does not hold (NotFoundException, as AWS
 * answers for a key that does not exist in the caller's account).
 */
function assertNamesThisAccount(ctx: RequestContext, deps: OperationDeps, text: string, allowAlias: boolean): void {
  if (ctx.principal.accountId === deps.account.accountId || text.startsWith('arn:')) return;
  if (allowAlias && text.startsWith('alias/')) throw aliasOfCallerNotFound(ctx, deps, text);
  if (isKeyId(text)) {
    const arn = `arn:${deps.account.partition}:kms:${deps.account.region}:${ctx.principal.accountId}:key/${text}`;
    throw new KmsError('NotFoundException', `Key '${arn}' does not exist`);
  }
  throw new KmsError('NotFoundException', `Invalid keyId ${text}`);
}

function aliasOfCallerNotFound(ctx: RequestContext, deps: OperationDeps, aliasName: string): KmsError {
  return new KmsError('NotFoundException', `Alias arn:${deps.account.partition}:kms:${deps.account.region}:${ctx.principal.accountId}:${aliasName} is not found.`);
}

/** Account-level operations and key management act in the caller's account only. */
function otherAccountDenied(ctx: RequestContext, deps: OperationDeps, action: string): KmsError {
  return new KmsError(
    'AccessDeniedException',
    `User: ${ctx.principal.arn} is not authorized to perform: ${action} because this keybridge serves account ${deps.account.accountId} only ` +
      `and ${action} does not allow access across accounts`,
  );
}

/** The schema left an optional member absent that this operation needs (as the operation would say). */
function memberMissing(member: string): KmsError {
  return new KmsError('ValidationException', `1 validation error detected: Value null at '${wireMemberPath(member)}' failed to satisfy constraint: Member must not be null`);
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
      ...baseFacts(ctx, deps, principal, action, input),
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
    ...baseFacts(ctx, deps, principal, action, input),
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

function baseFacts(ctx: RequestContext, deps: OperationDeps, principal: RequestPrincipal, action: string, input: Record<string, unknown>): KmsRequestFacts {
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
    ...(typeof input['RotationPeriodInDays'] === 'number' ? { rotationPeriodInDays: input['RotationPeriodInDays'] } : {}),
    ...(typeof input['WrappingAlgorithm'] === 'string' ? { wrappingAlgorithm: input['WrappingAlgorithm'] } : {}),
    ...(typeof input['WrappingKeySpec'] === 'string' ? { wrappingKeySpec: input['WrappingKeySpec'] } : {}),
    // AWS's default when ImportKeyMaterial omits it (the request then also needs ValidTo).
    ...(action === 'kms:ImportKeyMaterial' ? { expirationModel: typeof input['ExpirationModel'] === 'string' ? input['ExpirationModel'] : 'KEY_MATERIAL_EXPIRES' } : {}),
    ...(typeof input['BypassPolicyLockoutSafetyCheck'] === 'boolean' ? { bypassPolicyLockoutSafetyCheck: input['BypassPolicyLockoutSafetyCheck'] } : {}),
    ...(operations === undefined ? {} : { grantIsForAwsResource: false }),
  };
}

/**
 * The grant CreateGrant would make, in the domain's form: absent, null and empty constraint maps
 * all mean "no constraint" (normaliseConstraints), so comparing it with the grant that allows it
 * never meets a null map.
 */
function newGrantOf(input: Record<string, unknown>): { operations: GrantOperation[]; constraints: GrantConstraints | null } | undefined {
  if (!Array.isArray(input['Operations'])) return undefined;
  const wire = input['Constraints'] as { EncryptionContextEquals?: Record<string, string> | null; EncryptionContextSubset?: Record<string, string> | null } | null | undefined;
  const equals = wire?.EncryptionContextEquals ?? undefined;
  const subset = wire?.EncryptionContextSubset ?? undefined;
  return {
    operations: input['Operations'] as GrantOperation[],
    constraints: normaliseConstraints(
      wire === undefined || wire === null ? undefined : { ...(equals ? { encryptionContextEquals: equals } : {}), ...(subset ? { encryptionContextSubset: subset } : {}) },
    ),
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
