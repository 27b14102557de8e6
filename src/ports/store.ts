// The metadata store port: keys, aliases, tags, custom key stores, principals and grants. No key material ever passes through it.
//
// Owned by the composition root; closed last, after the HSM. Adapters (store/sqlite, later
// store/postgres) must make every method atomic and durable before it resolves (SQLite: WAL with
// synchronous=FULL). Methods throw StoreError; callers map CONFLICT / NOT_FOUND to KMS errors.

import type { CustomKeyStoreRecord } from '../domain/custom-key-store.js';
import type { GrantRecord } from '../domain/grant.js';
import type { KeyRecord } from '../domain/key.js';
import type { SymmetricSuite } from '../domain/symmetric-suite.js';

export interface AliasRecord {
  /** With its `alias/` prefix. */
  readonly aliasName: string;
  readonly keyId: string;
  readonly createdAt: number;
  readonly updatedAt: number;
}

export interface Tag {
  readonly key: string;
  readonly value: string;
}

export type CustomKeyStorePatch = Partial<
  Pick<CustomKeyStoreRecord, 'name' | 'clusterId' | 'sealedPassword' | 'connectionState' | 'connectionErrorCode' | 'wantConnected' | 'xksProxy'>
>;

/** An IAM-style user or role of some account (keybridge's own principals, not AWS's). */
export interface PrincipalRecord {
  /** arn:aws:iam::<account>:user/<name> or …:role/<name>. */
  readonly arn: string;
  readonly accountId: string;
  readonly type: 'User' | 'Role';
  readonly name: string;
  /** Always "/" for now. */
  readonly path: string;
  readonly createdAt: number;
  /** Identity policies by name: JSON documents stored as given. */
  readonly policies: Readonly<Record<string, string>>;
}

export type AccessKeyStatus = 'Active' | 'Inactive';

export interface AccessKeyRecord {
  readonly accessKeyId: string;
  readonly principalArn: string;
  /** The secret access key sealed by SecretSealer; never plaintext. */
  readonly sealedSecret: string;
  readonly status: AccessKeyStatus;
  readonly createdAt: number;
}

/** One HSM object a key has (had) as its material (AWS: a KeyMaterialId and its rotation). */
export interface KeyMaterialRecord {
  readonly keyId: string;
  /** 1 for the key's first material, then one more per rotation. */
  readonly ordinal: number;
  /** Hex of the HSM object's CKA_ID (the backing key id); AWS's KeyMaterialId. */
  readonly materialId: string;
  readonly createdAt: number;
  /** Null for the first material. */
  readonly rotationDate: number | null;
  readonly rotationType: 'AUTOMATIC' | 'ON_DEMAND' | null;
  /** Imported material (origin EXTERNAL) only; absent for generated material. */
  readonly imported?: ImportedMaterialDetails;
  /** How it encrypts (symmetric keys); absent means AES_256_GCM. */
  readonly suite?: SymmetricSuite;
}

export type ExpirationModel = 'KEY_MATERIAL_EXPIRES' | 'KEY_MATERIAL_DOES_NOT_EXPIRE';

/** What AWS reports about imported key material (ListKeyRotations, DescribeKey). */
export interface ImportedMaterialDetails {
  /** IMPORTED while the HSM holds it; PENDING_IMPORT once deleted or expired (it may be imported again). */
  readonly importState: 'IMPORTED' | 'PENDING_IMPORT';
  readonly expirationModel: ExpirationModel;
  /** When the material expires (KEY_MATERIAL_EXPIRES); null otherwise. */
  readonly validTo: number | null;
  readonly description: string;
}

/** An import ImportKeyMaterial has made in the HSM, to record. */
export interface KeyMaterialImport {
  readonly materialId: string;
  readonly importedAt: number;
  readonly expirationModel: ExpirationModel;
  readonly validTo: number | null;
  /** Undefined keeps the description the material had (AWS: "the previous value is retained"). */
  readonly description: string | undefined;
  /** Key pairs: the public key derived in the HSM (DER SPKI, base64), recorded with the first import. */
  readonly publicKey?: string;
}

/** The RSA key pair one GetParametersForImport made in the HSM; destroyed once it expires. */
export interface ImportWrappingKeyRecord {
  /** Hex CKA_ID of the key pair's objects. */
  readonly wrappingKeyId: string;
  readonly keyId: string;
  readonly validTo: number;
}

export type NewKeyMaterial = Pick<KeyMaterialRecord, 'materialId' | 'createdAt' | 'suite'> & {
  readonly rotationDate: number;
  readonly rotationType: 'AUTOMATIC' | 'ON_DEMAND';
};

export interface RotationSchedule {
  /** Null: automatic rotation is off. */
  readonly periodDays: number | null;
  readonly nextRotationAt: number | null;
  readonly onDemandRotations: number;
}

export type KeyPatch = Partial<Pick<KeyRecord, 'state' | 'description' | 'deletionDate' | 'pendingWindowDays' | 'policy'>>;

/**
 * What nodes keep in memory and must reload when any node changes it: `principals` (principals,
 * their policies and access keys), `xks-credentials`, `xks-keys`, `custom-key-stores`. `resync`:
 * changes may have been missed (the feed was cut off and is back); reload everything.
 */
export type StoreChange = 'principals' | 'xks-credentials' | 'xks-keys' | 'custom-key-stores' | 'resync';

/** Tells listeners about committed changes, made by this node or another on the same database. */
export interface ChangeFeed {
  /** Calls `listener` after each committed change (several changes may arrive as one). Returns the unsubscribe. */
  subscribe(listener: (change: StoreChange) => void): () => void;
}

/** What one node says about itself for operators: a JSON text about a subject (a custom key store's health). */
export interface NodeReport {
  readonly node: string;
  readonly subject: string;
  readonly report: string;
  readonly reportedAt: number;
}

export interface MetadataStore {
  /** Changes of what nodes cache, from every node sharing the store. */
  readonly changes: ChangeFeed;

  /**
   * Claims one item of background work (`item` names it, e.g. `delete:<keyId>`) for `owner` until
   * `now + leaseMs`. True when the item was free, its lease had ended, or `owner` held it already:
   * then no other owner gets it before the lease ends. Several nodes running the same job thus do
   * each item once, and an item whose owner died goes to another once its lease is over.
   */
  claimWork(item: string, owner: string, now: number, leaseMs: number): Promise<boolean>;
  /** Gives the item up (done, or no longer due); a no-op unless `owner` holds it. */
  releaseWork(item: string, owner: string): Promise<void>;

  /** Records (replacing) what `report.node` says about `report.subject`. */
  putNodeReport(report: NodeReport): Promise<void>;
  /** The reports about `subject` made at or after `since` (epoch ms), ordered by node. */
  nodeReports(subject: string, since: number): Promise<NodeReport[]>;
  /** Removes the reports of `node` (it stops), or every report made before `before` (nodes that died). */
  deleteNodeReports(which: { readonly node: string } | { readonly before: number }): Promise<void>;


  /** Inserts a key and its tags in one transaction. CONFLICT if the key id exists. */
  createKey(key: KeyRecord, tags: readonly Tag[]): Promise<void>;
  getKey(keyId: string): Promise<KeyRecord | undefined>;
  /** Keys ordered by key id, strictly after `afterKeyId` when given. */
  listKeys(afterKeyId: string | undefined, limit: number): Promise<KeyRecord[]>;
  /** Applies the patch and returns the updated record. NOT_FOUND if the key does not exist. */
  updateKey(keyId: string, patch: KeyPatch): Promise<KeyRecord>;
  /** Removes the key, its aliases, its tags and its grants in one transaction. */
  deleteKey(keyId: string): Promise<void>;
  /** Keys in PendingDeletion whose deletion date is at or before `now` (epoch ms). */
  keysDueForDeletion(now: number): Promise<KeyRecord[]>;
  /**
   * Every backing key id of every key that the HSM should hold: current and earlier materials
   * (reconciliation, resync); not imported materials that were deleted or expired.
   */
  allBackingKeyIds(): Promise<Array<{ keyId: string; backingKeyId: string }>>;

  /** The key's materials, first one first (createKey records the first). */
  listKeyMaterials(keyId: string): Promise<KeyMaterialRecord[]>;
  /** The key's rotation schedule; automatic rotation off and no on-demand rotation when never set. */
  getRotationSchedule(keyId: string): Promise<RotationSchedule>;
  /** Turns automatic rotation on (`periodDays` and the next date) or off (nulls). NOT_FOUND without the key. */
  setRotationSchedule(keyId: string, periodDays: number | null, nextRotationAt: number | null): Promise<void>;
  /**
   * Makes `material` the key's current material in one transaction: records it, points the key at
   * it, and for an AUTOMATIC rotation sets the next rotation date to `nextRotationAt`, for an
   * ON_DEMAND one counts it. CONFLICT when the key's current material is no longer
   * `fromMaterialId` (another rotation came first); NOT_FOUND without the key.
   */
  rotateKeyMaterial(keyId: string, fromMaterialId: string, material: NewKeyMaterial, nextRotationAt?: number): Promise<KeyRecord>;
  /** Enabled keys with automatic rotation on whose next rotation is at or before `now`. */
  keysDueForRotation(now: number): Promise<KeyRecord[]>;

  /**
   * Records imported material in one transaction: the first import makes it the key's material
   * (and sets the public key of a key pair); a re-import of the same material marks it IMPORTED
   * again with the new expiration (and description, when given). A PendingImport key whose
   * materials are all IMPORTED becomes Enabled. CONFLICT when the key has another material.
   */
  recordImportedMaterial(keyId: string, material: KeyMaterialImport): Promise<KeyRecord>;
  /**
   * Records that the material is gone from the HSM (DeleteImportedKeyMaterial, or expiry): it is
   * PENDING_IMPORT, and the key PendingImport unless it is PendingDeletion. NOT_FOUND without the
   * key or that material.
   */
  recordImportedMaterialDeleted(keyId: string, materialId: string): Promise<KeyRecord>;
  /** IMPORTED materials that expire at or before `now`, with their keys. */
  importedMaterialsExpiredBy(now: number): Promise<Array<{ key: KeyRecord; material: KeyMaterialRecord }>>;
  addImportWrappingKey(record: ImportWrappingKeyRecord): Promise<void>;
  /** Wrapping keys whose validity ended at or before `now`. */
  importWrappingKeysExpiredBy(now: number): Promise<ImportWrappingKeyRecord[]>;
  deleteImportWrappingKey(wrappingKeyId: string): Promise<void>;

  getAlias(aliasName: string): Promise<AliasRecord | undefined>;
  /**
   * CONFLICT if the alias exists; LIMIT_EXCEEDED when `limits` is given and the key has
   * `maxPerKey` aliases already (counted and inserted atomically, across nodes too).
   */
  createAlias(alias: AliasRecord, limits?: PerKeyLimit): Promise<void>;
  /**
   * NOT_FOUND if the alias does not exist, or — given `expectedKeyId` — no longer points at that
   * key (compare-and-set: a request changes the alias only as it was authorized to).
   */
  updateAlias(aliasName: string, keyId: string, updatedAt: number, expectedKeyId?: string, limits?: PerKeyLimit): Promise<void>;
  /** Resolves false if the alias did not exist, or — given `expectedKeyId` — points at another key. */
  deleteAlias(aliasName: string, expectedKeyId?: string): Promise<boolean>;
  /** Aliases ordered by name, strictly after `afterAliasName`, optionally only those of one key. */
  listAliases(options: { keyId?: string; afterAliasName?: string; limit: number }): Promise<AliasRecord[]>;
  countAliases(keyId: string): Promise<number>;

  /** Inserts or overwrites tags by key. */
  putTags(keyId: string, tags: readonly Tag[]): Promise<void>;
  /** Removes the named tags; names that are not present are ignored. */
  removeTags(keyId: string, tagKeys: readonly string[]): Promise<void>;
  /** Tags ordered by tag key, strictly after `afterTagKey`. */
  listTags(keyId: string, afterTagKey: string | undefined, limit: number): Promise<Tag[]>;

  /**
   * CONFLICT if the id or the name is taken; LIMIT_EXCEEDED when `maxStores` stores exist already,
   * counted and inserted atomically (two nodes creating at once cannot pass the limit together).
   */
  createCustomKeyStore(store: CustomKeyStoreRecord, maxStores?: number): Promise<void>;
  getCustomKeyStore(id: string): Promise<CustomKeyStoreRecord | undefined>;
  getCustomKeyStoreByName(name: string): Promise<CustomKeyStoreRecord | undefined>;
  /** Ordered by id, strictly after `afterId`. */
  listCustomKeyStores(afterId: string | undefined, limit: number): Promise<CustomKeyStoreRecord[]>;
  /** NOT_FOUND if absent; CONFLICT if a new name is taken. Returns the updated record. */
  updateCustomKeyStore(id: string, patch: CustomKeyStorePatch): Promise<CustomKeyStoreRecord>;
  /** Resolves false if it did not exist. CONFLICT if keys still refer to it. */
  deleteCustomKeyStore(id: string): Promise<boolean>;
  countCustomKeyStores(): Promise<number>;
  /** Keys (in any state) whose customKeyStoreId is `id`. */
  countKeysInCustomKeyStore(id: string): Promise<number>;

  /** Inserts a principal with its policies. CONFLICT if the ARN exists. */
  createPrincipal(principal: PrincipalRecord): Promise<void>;
  getPrincipal(arn: string): Promise<PrincipalRecord | undefined>;
  /** Ordered by ARN, strictly after `afterArn`. */
  listPrincipals(afterArn: string | undefined, limit: number): Promise<PrincipalRecord[]>;
  /**
   * Removes the principal, its policies and its access keys in one transaction; the access key
   * ids are remembered as deleted. Resolves false if it did not exist.
   */
  deletePrincipal(arn: string): Promise<boolean>;
  /** Inserts or replaces one identity policy. NOT_FOUND if the principal does not exist. */
  putPrincipalPolicy(arn: string, policyName: string, document: string): Promise<void>;
  /** Resolves false if the principal or the policy did not exist. */
  deletePrincipalPolicy(arn: string, policyName: string): Promise<boolean>;

  /** NOT_FOUND if the principal does not exist; CONFLICT if the id exists or was ever deleted. */
  createAccessKey(key: AccessKeyRecord): Promise<void>;
  getAccessKey(accessKeyId: string): Promise<AccessKeyRecord | undefined>;
  /** One principal's keys, or every key when `principalArn` is undefined; ordered by id. */
  listAccessKeys(principalArn?: string): Promise<AccessKeyRecord[]>;
  /** NOT_FOUND if the key does not exist. */
  setAccessKeyStatus(accessKeyId: string, status: AccessKeyStatus): Promise<void>;
  /** Removes the key and remembers its id as deleted. Resolves false if it did not exist. */
  deleteAccessKey(accessKeyId: string): Promise<boolean>;
  /** True for the id of a key that existed and was deleted (directly or with its principal). */
  isAccessKeyDeleted(accessKeyId: string): Promise<boolean>;

  /**
   * CONFLICT if the grant id exists; NOT_FOUND if the key does not exist; LIMIT_EXCEEDED when
   * `limits` is given and the key has `maxPerKey` grants already (counted and inserted atomically).
   */
  createGrant(grant: GrantRecord, limits?: PerKeyLimit): Promise<void>;
  /** Grant ids are unique across keys. */
  getGrant(grantId: string): Promise<GrantRecord | undefined>;
  /**
   * One key's grants ordered by grant id, strictly after `afterGrantId`, optionally only those
   * with this grant id or this grantee principal.
   */
  listGrants(options: { keyId: string; afterGrantId?: string; grantId?: string; granteePrincipal?: string; limit: number }): Promise<GrantRecord[]>;
  /** Grants of every key whose retiring principal is `retiringPrincipal`, ordered by grant id. */
  listRetirableGrants(options: { retiringPrincipal: string; afterGrantId?: string; limit: number }): Promise<GrantRecord[]>;
  /** A key's grants with this name (for CreateGrant's idempotency), oldest first. */
  findGrantsByName(keyId: string, name: string): Promise<GrantRecord[]>;
  /** Every grant of one key for one grantee (what authorization evaluates). */
  grantsForGrantee(keyId: string, granteePrincipal: string): Promise<GrantRecord[]>;
  countGrants(keyId: string): Promise<number>;
  /** Resolves false if it did not exist. Grants also go with their key (deleteKey). */
  deleteGrant(grantId: string): Promise<boolean>;

  close(): Promise<void>;
}

export type StoreErrorCode = 'CONFLICT' | 'NOT_FOUND' | 'LIMIT_EXCEEDED' | 'STORE_FAILED';

/** A quota on one key's aliases or grants, held by the store against concurrent writers. */
export interface PerKeyLimit {
  readonly maxPerKey: number;
}

export class StoreError extends Error {
  readonly code: StoreErrorCode;
  constructor(code: StoreErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreError';
    this.code = code;
  }
}
