// The metadata store port: keys, aliases and tags. No key material ever passes through it.
//
// Owned by the composition root; closed last, after the HSM. Adapters (store/sqlite, later
// store/postgres) must make every method atomic and durable before it resolves (SQLite: WAL with
// synchronous=FULL). Methods throw StoreError; callers map CONFLICT / NOT_FOUND to KMS errors.

import type { CustomKeyStoreRecord } from '../domain/custom-key-store.js';
import type { KeyRecord } from '../domain/key.js';

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
  Pick<CustomKeyStoreRecord, 'name' | 'clusterId' | 'sealedPassword' | 'connectionState' | 'connectionErrorCode' | 'wantConnected'>
>;

export type KeyPatch = Partial<Pick<KeyRecord, 'state' | 'description' | 'deletionDate' | 'pendingWindowDays' | 'policy'>>;

export interface MetadataStore {
  /** Inserts a key and its tags in one transaction. CONFLICT if the key id exists. */
  createKey(key: KeyRecord, tags: readonly Tag[]): Promise<void>;
  getKey(keyId: string): Promise<KeyRecord | undefined>;
  /** Keys ordered by key id, strictly after `afterKeyId` when given. */
  listKeys(afterKeyId: string | undefined, limit: number): Promise<KeyRecord[]>;
  /** Applies the patch and returns the updated record. NOT_FOUND if the key does not exist. */
  updateKey(keyId: string, patch: KeyPatch): Promise<KeyRecord>;
  /** Removes the key, its aliases and its tags in one transaction. */
  deleteKey(keyId: string): Promise<void>;
  /** Keys in PendingDeletion whose deletion date is at or before `now` (epoch ms). */
  keysDueForDeletion(now: number): Promise<KeyRecord[]>;
  /** Every key id (for start-up reconciliation against the HSM). */
  allBackingKeyIds(): Promise<Array<{ keyId: string; backingKeyId: string }>>;

  getAlias(aliasName: string): Promise<AliasRecord | undefined>;
  /** CONFLICT if the alias exists. */
  createAlias(alias: AliasRecord): Promise<void>;
  /** NOT_FOUND if the alias does not exist. */
  updateAlias(aliasName: string, keyId: string, updatedAt: number): Promise<void>;
  /** Resolves false if the alias did not exist. */
  deleteAlias(aliasName: string): Promise<boolean>;
  /** Aliases ordered by name, strictly after `afterAliasName`, optionally only those of one key. */
  listAliases(options: { keyId?: string; afterAliasName?: string; limit: number }): Promise<AliasRecord[]>;
  countAliases(keyId: string): Promise<number>;

  /** Inserts or overwrites tags by key. */
  putTags(keyId: string, tags: readonly Tag[]): Promise<void>;
  /** Removes the named tags; names that are not present are ignored. */
  removeTags(keyId: string, tagKeys: readonly string[]): Promise<void>;
  /** Tags ordered by tag key, strictly after `afterTagKey`. */
  listTags(keyId: string, afterTagKey: string | undefined, limit: number): Promise<Tag[]>;

  /** CONFLICT if the id or the name is taken. */
  createCustomKeyStore(store: CustomKeyStoreRecord): Promise<void>;
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

  close(): Promise<void>;
}

export type StoreErrorCode = 'CONFLICT' | 'NOT_FOUND' | 'STORE_FAILED';

export class StoreError extends Error {
  readonly code: StoreErrorCode;
  constructor(code: StoreErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreError';
    this.code = code;
  }
}
