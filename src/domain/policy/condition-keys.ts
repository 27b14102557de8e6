// The request context a policy is evaluated against: who is calling, what, on which key, and the
// condition keys (aws:* globals and kms:* service keys) with their values.
//
// Condition key NAMES are case-insensitive everywhere in IAM ("aws:SourceIP" is "AWS:SourceIp"),
// including the part after `kms:EncryptionContext:` — the KMS developer guide says the condition
// key "consists of the kms:EncryptionContext: prefix and the context-key replacement, is not case
// sensitive", and that to require a case-sensitive context KEY you test kms:EncryptionContextKeys,
// whose values are the keys. Values keep their case; the operator decides (StringEquals vs
// StringEqualsIgnoreCase). If an encryption context has two keys that differ only by case, the
// condition key kms:EncryptionContext:<key> holds both values (a plain operator then matches if
// either value matches; a negated one only if neither does).

export type ContextScalar = string | number | boolean;
/** A single value, or a list for multi-valued keys (kms:EncryptionContextKeys, aws:TagKeys, …). */
export type ContextValue = ContextScalar | readonly ContextScalar[];

export type PrincipalType = 'Root' | 'IAMUser' | 'AssumedRole' | 'FederatedUser' | 'Service';

export interface RequestPrincipal {
  /**
   * The caller's ARN as AWS reports it: arn:aws:iam::111122223333:root, …:user/path/bob,
   * arn:aws:sts::111122223333:assumed-role/Role/session, …:federated-user/name. For a service
   * principal, its name (logs.us-east-2.amazonaws.com).
   */
  readonly arn: string;
  /** The caller's account; empty for a service principal. */
  readonly accountId: string;
  readonly type: PrincipalType;
  /** IAM users only: the user's name (aws:username). */
  readonly userName?: string;
  /**
   * AssumedRole only: the role's IAM ARN, with its path (arn:aws:iam::111122223333:role/ops/Admin).
   * The session ARN drops the path; without this a policy naming the role is matched by account
   * and role name. When `arn` is itself the role's IAM ARN (keybridge roles calling with their
   * own access keys, no STS session), leave this out: `arn` is used.
   */
  readonly roleArn?: string;
}

export interface RequestContext {
  readonly principal: RequestPrincipal;
  /** `kms:Encrypt`. */
  readonly action: string;
  /** The key ARN; absent for actions with no resource (kms:CreateKey, kms:ListKeys, …). */
  readonly resource?: string;
  /** The account that owns the key. */
  readonly resourceAccount?: string;
  /** Keys in any case; lookups ignore case. Absent and `undefined` mean "not in the request". */
  readonly conditionKeys: ConditionKeys;
}

export type ConditionKeys = ReadonlyMap<string, ContextValue | undefined> | Readonly<Record<string, ContextValue | undefined>>;

/** Case-insensitive read access to a request's condition keys. Build once per request. */
export class ConditionContext {
  readonly #values = new Map<string, ContextValue>();

  constructor(keys: ConditionKeys) {
    const entries = keys instanceof Map ? keys.entries() : Object.entries(keys);
    for (const [name, value] of entries as Iterable<[string, ContextValue | undefined]>) {
      if (value === undefined) continue;
      const lower = name.toLowerCase();
      const existing = this.#values.get(lower);
      // Two names differing only by case (only possible for encryption-context and tag keys):
      // keep every value.
      this.#values.set(lower, existing === undefined ? value : [...toList(existing), ...toList(value)]);
    }
  }

  get(name: string): ContextValue | undefined {
    return this.#values.get(name.toLowerCase());
  }
}

export function toList(value: ContextValue): readonly ContextScalar[] {
  return Array.isArray(value) ? value : [value as ContextScalar];
}

/** Everything the KMS condition keys are built from. Omit what the operation does not have. */
export interface KmsRequestFacts {
  readonly principal: RequestPrincipal;
  /** When the request is evaluated (aws:CurrentTime, aws:EpochTime). */
  readonly now: Date;
  readonly sourceIp?: string;
  readonly secureTransport?: boolean;
  /** The request's EncryptionContext (kms:EncryptionContext:<key>, kms:EncryptionContextKeys). */
  readonly encryptionContext?: Readonly<Record<string, string>>;
  /**
   * The KMS key the operation uses (KMS key resource operations), or for CreateKey the KeySpec,
   * KeyUsage and Origin the request asks for (AWS fills in the defaults when they are not sent).
   */
  readonly key?: {
    readonly keySpec?: string;
    readonly keyUsage?: string;
    readonly origin?: string;
    readonly multiRegion?: boolean;
    /** Alias names with their `alias/` prefix (kms:ResourceAliases). */
    readonly aliases?: readonly string[];
    /** aws:ResourceTag/<key>. */
    readonly tags?: Readonly<Record<string, string>>;
  };
  /** The alias the caller named the key by, with its `alias/` prefix (kms:RequestAlias). */
  readonly requestAlias?: string;
  /** aws:RequestTag/<key> and aws:TagKeys (TagResource, CreateKey with Tags). */
  readonly requestTags?: Readonly<Record<string, string>>;
  /** CreateGrant: the grant's Operations (kms:GrantOperations). */
  readonly grantOperations?: readonly string[];
  /** CreateGrant/ListGrants/RevokeGrant: true when an AWS service creates the grant. */
  readonly grantIsForAwsResource?: boolean;
  readonly granteePrincipal?: string;
  readonly retiringPrincipal?: string;
  /** The service that made the call on the caller's behalf (kms:ViaService). */
  readonly viaService?: string;
  readonly encryptionAlgorithm?: string;
  /** EnableKeyRotation: the request's RotationPeriodInDays, when sent (kms:RotationPeriodInDays). */
  readonly rotationPeriodInDays?: number;
  /** GetParametersForImport: kms:WrappingAlgorithm and kms:WrappingKeySpec. */
  readonly wrappingAlgorithm?: string;
  readonly wrappingKeySpec?: string;
  /** ImportKeyMaterial: kms:ExpirationModel (the request's, or its default KEY_MATERIAL_EXPIRES). */
  readonly expirationModel?: string;
  /** CreateKey/PutKeyPolicy: the request's BypassPolicyLockoutSafetyCheck, when sent. */
  readonly bypassPolicyLockoutSafetyCheck?: boolean;
}

const PRINCIPAL_TYPE: Record<PrincipalType, string | undefined> = {
  Root: 'Account',
  IAMUser: 'User',
  AssumedRole: 'AssumedRole',
  FederatedUser: 'FederatedUser',
  Service: undefined,
};

/**
 * The condition keys KMS puts in the request context. Keys the request does not have are left
 * out, which is what makes `…IfExists`, `Null` and `ForAllValues` behave as AWS documents.
 */
export function kmsConditionKeys(facts: KmsRequestFacts): Map<string, ContextValue> {
  const keys = new Map<string, ContextValue>();
  const set = (name: string, value: ContextValue | undefined): void => {
    if (value !== undefined) keys.set(name, value);
  };
  const { principal } = facts;

  if (principal.type !== 'Service') {
    set('aws:PrincipalArn', principalArnKey(principal));
    set('aws:PrincipalAccount', principal.accountId);
    set('aws:PrincipalType', PRINCIPAL_TYPE[principal.type]);
    set('kms:CallerAccount', principal.accountId);
    if (principal.type === 'IAMUser') set('aws:username', principal.userName ?? lastPathPart(principal.arn));
  } else {
    set('aws:PrincipalServiceName', principal.arn);
  }
  set('aws:CurrentTime', facts.now.toISOString().replace(/\.\d{3}Z$/, 'Z'));
  set('aws:EpochTime', Math.floor(facts.now.getTime() / 1000));
  set('aws:SourceIp', facts.sourceIp);
  set('aws:SecureTransport', facts.secureTransport);

  const context = facts.encryptionContext;
  if (context && Object.keys(context).length > 0) {
    for (const [k, v] of Object.entries(context)) {
      // Two context keys differing by case land on one condition key; ConditionContext merges
      // them, so keep both here under their own spelling.
      keys.set(`kms:EncryptionContext:${k}`, v);
    }
    set('kms:EncryptionContextKeys', Object.keys(context));
  }

  const key = facts.key;
  if (key) {
    set('kms:KeySpec', key.keySpec);
    set('kms:CustomerMasterKeySpec', key.keySpec);
    set('kms:KeyUsage', key.keyUsage);
    set('kms:CustomerMasterKeyUsage', key.keyUsage);
    set('kms:KeyOrigin', key.origin);
    set('kms:MultiRegion', key.multiRegion);
    if (key.aliases && key.aliases.length > 0) set('kms:ResourceAliases', [...key.aliases]);
    for (const [k, v] of Object.entries(key.tags ?? {})) keys.set(`aws:ResourceTag/${k}`, v);
  }
  set('kms:RequestAlias', facts.requestAlias);
  if (facts.requestTags && Object.keys(facts.requestTags).length > 0) {
    for (const [k, v] of Object.entries(facts.requestTags)) keys.set(`aws:RequestTag/${k}`, v);
    set('aws:TagKeys', Object.keys(facts.requestTags));
  }
  if (facts.grantOperations && facts.grantOperations.length > 0) set('kms:GrantOperations', [...facts.grantOperations]);
  set('kms:GrantIsForAWSResource', facts.grantIsForAwsResource);
  set('kms:GranteePrincipal', facts.granteePrincipal);
  set('kms:RetiringPrincipal', facts.retiringPrincipal);
  set('kms:ViaService', facts.viaService);
  set('kms:EncryptionAlgorithm', facts.encryptionAlgorithm);
  set('kms:RotationPeriodInDays', facts.rotationPeriodInDays);
  set('kms:WrappingAlgorithm', facts.wrappingAlgorithm);
  set('kms:WrappingKeySpec', facts.wrappingKeySpec);
  set('kms:ExpirationModel', facts.expirationModel);
  set('kms:BypassPolicyLockoutSafetyCheck', facts.bypassPolicyLockoutSafetyCheck);
  return keys;
}

/**
 * aws:PrincipalArn: for a role session AWS reports the ROLE's ARN, not the session's ("For IAM
 * roles, the request context returns the ARN of the role, not the ARN of the user that assumed
 * the role").
 */
export function principalArnKey(principal: RequestPrincipal): string {
  if (principal.type !== 'AssumedRole') return principal.arn;
  if (principal.roleArn) return principal.roleArn;
  const parsed = /^arn:([^:]+):sts::(\d{12}):assumed-role\/([^/]+)\//.exec(principal.arn);
  return parsed ? `arn:${parsed[1]}:iam::${parsed[2]}:role/${parsed[3]}` : principal.arn;
}

function lastPathPart(arn: string): string {
  const resource = arn.split(':').slice(5).join(':');
  return resource.slice(resource.lastIndexOf('/') + 1);
}
