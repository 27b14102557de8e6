// Grants: the records, their tokens, and the pure rules that decide what a grant allows and who
// may retire it (AWS KMS Developer Guide, "Grants in AWS KMS" and "Using grant constraints").
//
// keybridge's store is strongly consistent: a grant is effective the moment CreateGrant returns,
// so a grant token adds nothing to what a grant allows. Tokens still identify a grant (RetireGrant
// takes one) and must be unforgeable: each carries an HMAC under a key kept with its grant, so a
// token for one grant cannot be edited into a token for another.

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const GRANT_OPERATIONS = [
  'Decrypt',
  'Encrypt',
  'GenerateDataKey',
  'GenerateDataKeyWithoutPlaintext',
  'ReEncryptFrom',
  'ReEncryptTo',
  'Sign',
  'Verify',
  'GetPublicKey',
  'CreateGrant',
  'RetireGrant',
  'DescribeKey',
  'GenerateDataKeyPair',
  'GenerateDataKeyPairWithoutPlaintext',
  'GenerateMac',
  'VerifyMac',
  'DeriveSharedSecret',
] as const;

export type GrantOperation = (typeof GRANT_OPERATIONS)[number];

/**
 * Grant operations whose requests carry an EncryptionContext: the only ones an encryption-context
 * constraint applies to. DescribeKey, RetireGrant and CreateGrant may share a grant with a
 * constraint (it does not apply to them); the others may not.
 */
export const CONTEXT_OPERATIONS: ReadonlySet<GrantOperation> = new Set<GrantOperation>([
  'Decrypt',
  'Encrypt',
  'GenerateDataKey',
  'GenerateDataKeyWithoutPlaintext',
  'ReEncryptFrom',
  'ReEncryptTo',
  'GenerateDataKeyPair',
  'GenerateDataKeyPairWithoutPlaintext',
]);

/** Operations that may appear in a grant that has an encryption-context constraint. */
export const CONSTRAINABLE_OPERATIONS: ReadonlySet<GrantOperation> = new Set<GrantOperation>([
  ...CONTEXT_OPERATIONS,
  'DescribeKey',
  'RetireGrant',
  'CreateGrant',
]);

/** AWS's limits on each constraint map (reference §5.3). */
export const MAX_CONSTRAINT_PAIRS = 8;
export const MAX_CONSTRAINT_VALUE_LENGTH = 384;
export const MAX_GRANTS_PER_KEY = 50_000;

export interface GrantConstraints {
  /** The request's context must have exactly these pairs. */
  readonly encryptionContextEquals?: Readonly<Record<string, string>>;
  /** The request's context must include these pairs (it may have more). */
  readonly encryptionContextSubset?: Readonly<Record<string, string>>;
}

export interface GrantRecord {
  /** 64 lowercase hex characters. */
  readonly grantId: string;
  readonly keyId: string;
  readonly name: string | null;
  readonly granteePrincipal: string;
  readonly retiringPrincipal: string | null;
  readonly operations: readonly GrantOperation[];
  /** null when the grant has no (non-empty) constraint. */
  readonly constraints: GrantConstraints | null;
  /** The issuing account's root ARN, as AWS reports it: arn:aws:iam::111122223333:root. */
  readonly issuingAccount: string;
  readonly createdAt: number;
  /** Hex HMAC key of this grant's tokens. Not a caller secret; never sent on the wire. */
  readonly tokenKey: string;
}

// ---- ids and tokens ---------------------------------------------------------------------------

export function newGrantId(): string {
  return randomBytes(32).toString('hex');
}

export function newGrantTokenKey(): string {
  return randomBytes(32).toString('hex');
}

export function isGrantId(text: string): boolean {
  return /^[0-9a-f]{64}$/.test(text);
}

const TOKEN_VERSION = 1;
const TOKEN_NONCE_BYTES = 16;
const TOKEN_MAC_BYTES = 32;
const TOKEN_BYTES = 1 + 32 + TOKEN_NONCE_BYTES + TOKEN_MAC_BYTES;

function tokenMac(tokenKey: string, grantId: Buffer, nonce: Buffer): Buffer {
  return createHmac('sha256', Buffer.from(tokenKey, 'hex'))
    .update(`keybridge grant token v${TOKEN_VERSION}\0`)
    .update(grantId)
    .update(nonce)
    .digest();
}

/**
 * A fresh token for the grant: base64url(version ‖ grant id ‖ nonce ‖ HMAC). Every call gives a
 * different token (AWS: "the returned grant token is unique with every CreateGrant request");
 * all of a grant's tokens are interchangeable.
 */
export function issueGrantToken(grant: Pick<GrantRecord, 'grantId' | 'tokenKey'>): string {
  const id = Buffer.from(grant.grantId, 'hex');
  const nonce = randomBytes(TOKEN_NONCE_BYTES);
  return Buffer.concat([Buffer.from([TOKEN_VERSION]), id, nonce, tokenMac(grant.tokenKey, id, nonce)]).toString('base64url');
}

export interface ParsedGrantToken {
  readonly grantId: string;
  readonly nonce: Buffer;
  readonly mac: Buffer;
}

/** The grant a token names, or undefined when the text is not a keybridge grant token. */
export function parseGrantToken(token: string): ParsedGrantToken | undefined {
  if (!/^[A-Za-z0-9_-]+$/.test(token)) return undefined;
  const bytes = Buffer.from(token, 'base64url');
  if (bytes.length !== TOKEN_BYTES || bytes[0] !== TOKEN_VERSION) return undefined;
  // Canonical encoding only: trailing bits that decode to the same bytes would be a second spelling.
  if (bytes.toString('base64url') !== token) return undefined;
  return {
    grantId: bytes.subarray(1, 33).toString('hex'),
    nonce: bytes.subarray(33, 33 + TOKEN_NONCE_BYTES),
    mac: bytes.subarray(33 + TOKEN_NONCE_BYTES),
  };
}

/** True when `token` was issued for `grant` (constant-time MAC comparison). */
export function grantTokenMatches(token: string, grant: Pick<GrantRecord, 'grantId' | 'tokenKey'>): boolean {
  const parsed = parseGrantToken(token);
  if (parsed === undefined || parsed.grantId !== grant.grantId) return false;
  const expected = tokenMac(grant.tokenKey, Buffer.from(grant.grantId, 'hex'), parsed.nonce);
  return timingSafeEqual(expected, parsed.mac);
}

// ---- principals -------------------------------------------------------------------------------

/**
 * The principal ARNs a grant may name as grantee or retiring principal: an account
 * (arn:aws:iam::111122223333:root), an IAM user or role (with an optional path), an assumed-role
 * session or a federated user. Service principals travel in separate members.
 */
export function isPrincipalArn(text: string): boolean {
  if (text.length > 256 || !/^[\w+=,.@:/-]+$/.test(text)) return false;
  const m = /^arn:(aws[a-z-]*):(iam|sts)::(\d{12}):(.+)$/.exec(text);
  if (!m) return false;
  const [, , service, , resource] = m as unknown as [string, string, string, string, string];
  if (service === 'iam') return resource === 'root' || /^(user|role)\/([\w+=,.@-]+\/)*[\w+=,.@-]+$/.test(resource);
  return /^assumed-role\/[\w+=,.@-]+\/[\w+=,.@-]+$/.test(resource) || /^federated-user\/[\w+=,.@-]+$/.test(resource);
}

// ---- constraints ------------------------------------------------------------------------------

/**
 * In a constraint the keys match case-insensitively and the values case-sensitively (AWS's
 * GrantConstraints docs). Keys are folded with toLowerCase for the comparison.
 */
function folded(context: Readonly<Record<string, string>>): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [k, v] of Object.entries(context)) {
    const key = k.toLowerCase();
    out.set(key, [...(out.get(key) ?? []), v]);
  }
  return out;
}

/** Every pair of `required` is in `context` (keys case-insensitive, values exact). */
function includesPairs(context: Readonly<Record<string, string>>, required: Readonly<Record<string, string>>): boolean {
  const have = folded(context);
  return Object.entries(required).every(([k, v]) => have.get(k.toLowerCase())?.includes(v) ?? false);
}

function samePairs(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  return Object.keys(a).length === Object.keys(b).length && includesPairs(a, b) && includesPairs(b, a);
}

/** Whether a request's encryption context satisfies a grant's constraints. */
export function constraintsSatisfied(given: LooseConstraints, context: Readonly<Record<string, string>> | undefined): boolean {
  const constraints = normaliseConstraints(given);
  if (constraints === null) return true;
  const ctx = context ?? {};
  if (constraints.encryptionContextEquals !== undefined && !samePairs(ctx, constraints.encryptionContextEquals)) return false;
  if (constraints.encryptionContextSubset !== undefined && !includesPairs(ctx, constraints.encryptionContextSubset)) return false;
  return true;
}

/**
 * Whether `child` is at least as strict as `parent`: every context `child` admits, `parent`
 * admits too. A grant that allows CreateGrant only lets its grantee create grants like that.
 */
export function atLeastAsStrict(givenChild: LooseConstraints, givenParent: LooseConstraints): boolean {
  const child = normaliseConstraints(givenChild);
  const parent = normaliseConstraints(givenParent);
  if (parent === null) return true;
  if (child === null) return false;
  const { encryptionContextEquals: pe, encryptionContextSubset: ps } = parent;
  const { encryptionContextEquals: ce, encryptionContextSubset: cs } = child;
  if (pe !== undefined && (ce === undefined || !samePairs(ce, pe))) return false;
  if (ps !== undefined) {
    // An exact context that includes the parent's pairs, or a larger required subset.
    const ok = (ce !== undefined && includesPairs(ce, ps)) || (cs !== undefined && includesPairs(cs, ps));
    if (!ok) return false;
  }
  return true;
}

/**
 * Constraints as they may arrive from the wire or a stored row: either map may be absent, null or
 * empty, and so may the whole. Every comparison normalises first, so none of those can reach a
 * map operation.
 */
export type LooseConstraints =
  | { readonly encryptionContextEquals?: Readonly<Record<string, string>> | null; readonly encryptionContextSubset?: Readonly<Record<string, string>> | null }
  | null
  | undefined;

/** Normalises the wire form: absent, null and empty maps count as absent; no constraint at all is null. */
export function normaliseConstraints(c: LooseConstraints): GrantConstraints | null {
  if (c === undefined || c === null) return null;
  const eq = c.encryptionContextEquals && Object.keys(c.encryptionContextEquals).length > 0 ? c.encryptionContextEquals : undefined;
  const sub = c.encryptionContextSubset && Object.keys(c.encryptionContextSubset).length > 0 ? c.encryptionContextSubset : undefined;
  if (eq === undefined && sub === undefined) return null;
  return { ...(eq ? { encryptionContextEquals: eq } : {}), ...(sub ? { encryptionContextSubset: sub } : {}) };
}

// ---- evaluation -------------------------------------------------------------------------------

export interface GrantRequest {
  /** The caller's principal ARN, compared exactly with each grant's grantee principal. */
  readonly principalArn: string;
  readonly operation: GrantOperation;
  readonly encryptionContext?: Readonly<Record<string, string>>;
  /** Grant tokens the request presented. Grants they name are tried first. */
  readonly grantTokens?: readonly string[];
  /** For CreateGrant: the grant being created must be no wider than the grant that allows it. */
  readonly newGrant?: { readonly operations: readonly GrantOperation[]; readonly constraints: GrantConstraints | null };
}

/**
 * The first of `grants` (all of one key) that allows the request, or undefined. A grant allows
 * it when its grantee is the caller, it lists the operation, and (for operations that carry an
 * encryption context) its constraints hold. For CreateGrant the new grant's operations must be
 * a subset of this grant's and its constraints at least as strict.
 *
 * Presented tokens are checked against their grant's MAC; a token that does not verify is simply
 * not preferred (the operation layer reports malformed tokens as InvalidGrantTokenException).
 */
export function grantAllows(grants: readonly GrantRecord[], request: GrantRequest): GrantRecord | undefined {
  const presented = new Set<string>();
  for (const token of request.grantTokens ?? []) {
    const parsed = parseGrantToken(token);
    if (parsed === undefined) continue;
    const grant = grants.find((g) => g.grantId === parsed.grantId);
    if (grant && grantTokenMatches(token, grant)) presented.add(grant.grantId);
  }
  const ordered = [...grants.filter((g) => presented.has(g.grantId)), ...grants.filter((g) => !presented.has(g.grantId))];
  return ordered.find((g) => allowsOne(g, request));
}

function allowsOne(grant: GrantRecord, request: GrantRequest): boolean {
  if (grant.granteePrincipal !== request.principalArn) return false;
  if (!grant.operations.includes(request.operation)) return false;
  if (CONTEXT_OPERATIONS.has(request.operation) && !constraintsSatisfied(grant.constraints, request.encryptionContext)) return false;
  if (request.operation === 'CreateGrant' && request.newGrant) {
    if (!request.newGrant.operations.every((op) => grant.operations.includes(op))) return false;
    if (!atLeastAsStrict(request.newGrant.constraints, grant.constraints)) return false;
  }
  return true;
}

export interface RetiringCaller {
  readonly arn: string;
  readonly accountId: string;
  readonly type: string;
}

/**
 * Who may retire a grant (RetireGrant is authorized by the grant, not by policies): its retiring
 * principal, its grantee when the grant lists RetireGrant, and the account that created it (its
 * root principal).
 */
export function mayRetireGrant(grant: GrantRecord, caller: RetiringCaller): boolean {
  if (grant.retiringPrincipal !== null && grant.retiringPrincipal === caller.arn) return true;
  if (grant.granteePrincipal === caller.arn && grant.operations.includes('RetireGrant')) return true;
  return caller.type === 'Root' && grant.issuingAccount === caller.arn;
}
