// The behaviour every MetadataStore adapter must show. Run it from an adapter's test file:
//
//   runStoreContract('sqlite', async () => ({ store, reopen, cleanup }));
//
// The factory is called once per test and must return an empty store. `reopen`, when given, opens
// a new store on the same data; the suite calls it only after closing `store`, and closes what it
// returns. `cleanup` runs last (after the suite has closed every store) and removes the data.
//
// Ordering is pinned to code-unit order (JavaScript's default sort), i.e. byte order for ASCII:
// a PostgreSQL adapter needs COLLATE "C" on the ordered columns to pass.

import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import type { ConnectionErrorCode, ConnectionState, CustomKeyStoreRecord } from '../../src/domain/custom-key-store.js';
import type { KeyRecord } from '../../src/domain/key.js';
import type { GrantRecord } from '../../src/domain/grant.js';
import {
  StoreError, type AccessKeyRecord, type AliasRecord, type MetadataStore, type PrincipalRecord, type StoreChange, type StoreErrorCode, type Tag,
} from '../../src/ports/store.js';
import type { XksCredentialRecord, XksKeyRecord, XksStore } from '../../src/ports/xks-store.js';

/** Both adapters hand out their XKS records on the same database as `xks`. */
export type ContractStore = MetadataStore & { readonly xks: XksStore };

export interface StoreHarness {
  readonly store: ContractStore;
  readonly reopen?: () => Promise<MetadataStore>;
  /**
   * Opens a second store on the same data while `store` is open (another process or node would);
   * the suite closes what it returns. Absent: the cross-connection tests skip.
   */
  readonly another?: () => Promise<ContractStore>;
  readonly cleanup: () => Promise<void>;
}

export type StoreFactory = () => Promise<StoreHarness>;

const T0 = Date.UTC(2025, 0, 1);
const DAY = 24 * 60 * 60 * 1000;

export function makeKey(overrides: Partial<KeyRecord> = {}): KeyRecord {
  const keyId = overrides.keyId ?? randomUUID();
  return {
    keyId,
    arn: `arn:aws:kms:eu-west-1:111122223333:key/${keyId}`,
    accountId: '111122223333',
    region: 'eu-west-1',
    createdAt: T0,
    description: 'a test key',
    keyUsage: 'ENCRYPT_DECRYPT',
    keySpec: 'SYMMETRIC_DEFAULT',
    origin: 'AWS_KMS',
    state: 'Enabled',
    deletionDate: null,
    pendingWindowDays: null,
    policy: '{"Version":"2012-10-17","Statement":[]}',
    backingKeyId: randomBytes(32).toString('hex'),
    customKeyStoreId: null,
    ...overrides,
  };
}

export function makeCustomKeyStore(overrides: Partial<CustomKeyStoreRecord> = {}): CustomKeyStoreRecord {
  return {
    // Id and name are drawn separately, so that ordering by one is not ordering by the other.
    id: `cks-${randomBytes(9).toString('hex').slice(0, 17)}`,
    name: `store-${randomUUID()}`,
    type: 'AWS_CLOUDHSM',
    // One CloudHSM-type store per cluster: each record gets its own.
    clusterId: `cluster-${randomBytes(6).toString('hex').slice(0, 11)}`,
    trustAnchorCertificate: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
    sealedPassword: randomBytes(48).toString('base64'),
    createdAt: T0,
    connectionState: 'DISCONNECTED',
    connectionErrorCode: null,
    wantConnected: false,
    ...overrides,
  };
}

/** A key in the custom key store `customKeyStoreId`. */
function keyIn(customKeyStoreId: string, overrides: Partial<KeyRecord> = {}): KeyRecord {
  return makeKey({ origin: 'AWS_CLOUDHSM', customKeyStoreId, ...overrides });
}

const CONNECTION_STATES: readonly ConnectionState[] = ['CONNECTED', 'CONNECTING', 'FAILED', 'DISCONNECTED', 'DISCONNECTING'];
const CONNECTION_ERROR_CODES: readonly ConnectionErrorCode[] = [
  'INVALID_CREDENTIALS',
  'CLUSTER_NOT_FOUND',
  'NETWORK_ERRORS',
  'INTERNAL_ERROR',
  'INSUFFICIENT_CLOUDHSM_HSMS',
  'USER_LOCKED_OUT',
  'USER_NOT_FOUND',
  'USER_LOGGED_IN',
];

function alias(aliasName: string, keyId: string, at = T0): AliasRecord {
  return { aliasName, keyId, createdAt: at, updatedAt: at };
}

export function makePrincipal(overrides: Partial<PrincipalRecord> = {}): PrincipalRecord {
  const name = overrides.name ?? `user-${randomBytes(4).toString('hex')}`;
  const accountId = overrides.accountId ?? '111122223333';
  const type = overrides.type ?? 'User';
  return {
    arn: `arn:aws:iam::${accountId}:${type === 'User' ? 'user' : 'role'}/${name}`,
    accountId,
    type,
    name,
    path: '/',
    createdAt: T0,
    policies: {},
    ...overrides,
  };
}

export function makeAccessKey(principalArn: string, overrides: Partial<AccessKeyRecord> = {}): AccessKeyRecord {
  const base32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  return {
    accessKeyId: `AKIA${[...randomBytes(16)].map((b) => base32[b & 31]).join('')}`,
    principalArn,
    sealedSecret: randomBytes(60).toString('base64'),
    status: 'Active',
    createdAt: T0,
    ...overrides,
  };
}

export function makeGrant(keyId: string, overrides: Partial<GrantRecord> = {}): GrantRecord {
  return {
    grantId: randomBytes(32).toString('hex'),
    keyId,
    name: null,
    granteePrincipal: 'arn:aws:iam::111122223333:role/grantee',
    retiringPrincipal: null,
    operations: ['Encrypt', 'Decrypt'],
    constraints: null,
    issuingAccount: 'arn:aws:iam::111122223333:root',
    createdAt: T0,
    tokenKey: randomBytes(32).toString('hex'),
    ...overrides,
  };
}

export async function assertStoreError(promise: Promise<unknown>, code: StoreErrorCode): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof StoreError, `expected a StoreError, got ${String(err)}`);
    assert.equal(err.code, code);
    return true;
  });
}

/** Reads every page of a cursor-paged listing, checking that no page exceeds `limit`. */
async function pages<T>(
  limit: number,
  fetch: (after: string | undefined) => Promise<T[]>,
  cursorOf: (item: T) => string,
): Promise<T[][]> {
  const out: T[][] = [];
  let after: string | undefined;
  // Bounded, so an adapter whose cursor is inclusive fails here instead of looping forever.
  for (let i = 0; i < 100; i++) {
    const page = await fetch(after);
    assert.ok(page.length <= limit, `page of ${page.length} exceeds limit ${limit}`);
    if (page.length === 0) return out;
    out.push(page);
    const last = page.at(-1);
    assert.ok(last !== undefined);
    after = cursorOf(last);
  }
  assert.fail('cursor paging did not terminate');
}

export interface ContractOptions {
  /** The adapter serves several nodes: a store opened by `another` hears the first one's changes. */
  readonly sharedByNodes?: boolean;
}

export function runStoreContract(name: string, factory: StoreFactory, options: ContractOptions = {}): void {
  /** Gives each test a fresh store and releases everything whatever the test does. */
  async function withStore(fn: (store: ContractStore, harness: StoreHarness) => Promise<void>): Promise<void> {
    const harness = await factory();
    try {
      await fn(harness.store, harness);
    } finally {
      await harness.store.close();
      await harness.cleanup();
    }
  }

  describe(`MetadataStore contract: ${name}`, () => {
    describe('keys', () => {
      test('createKey then getKey returns the same record; unknown ids give undefined', () =>
        withStore(async (store) => {
          const key = makeKey({ description: 'ünïcødé\nand "quotes"', policy: '{\n  "a": "ß"\n}' });
          await store.createKey(key, []);
          assert.deepEqual(await store.getKey(key.keyId), key);
          assert.equal(await store.getKey(randomUUID()), undefined);
        }));

      test('createKey stores the tags in the same call', () =>
        withStore(async (store) => {
          const key = makeKey();
          await store.createKey(key, [
            { key: 'b', value: '2' },
            { key: 'a', value: '1' },
          ]);
          assert.deepEqual(await store.listTags(key.keyId, undefined, 10), [
            { key: 'a', value: '1' },
            { key: 'b', value: '2' },
          ]);
        }));

      test('a duplicate key id is CONFLICT and changes nothing, tags included', () =>
        withStore(async (store) => {
          const key = makeKey();
          await store.createKey(key, [{ key: 'k', value: 'original' }]);
          const again = makeKey({ keyId: key.keyId, description: 'other' });
          await assertStoreError(
            store.createKey(again, [
              { key: 'k', value: 'changed' },
              { key: 'new', value: 'x' },
            ]),
            'CONFLICT',
          );
          assert.deepEqual(await store.getKey(key.keyId), key);
          assert.deepEqual(await store.listTags(key.keyId, undefined, 10), [{ key: 'k', value: 'original' }]);
        }));

      test('a backing key id shared with another key is CONFLICT', () =>
        withStore(async (store) => {
          const first = makeKey();
          await store.createKey(first, []);
          const second = makeKey({ backingKeyId: first.backingKeyId });
          await assertStoreError(store.createKey(second, []), 'CONFLICT');
          assert.equal(await store.getKey(second.keyId), undefined);
        }));

      test('key materials: createKey records the first; rotateKeyMaterial makes a new one current in one step and keeps the old', () =>
        withStore(async (store) => {
          const key = makeKey();
          await store.createKey(key, []);
          assert.deepEqual(await store.listKeyMaterials(key.keyId), [
            { keyId: key.keyId, ordinal: 1, materialId: key.backingKeyId, createdAt: key.createdAt, rotationDate: null, rotationType: null },
          ]);
          const second = randomBytes(32).toString('hex');
          const rotated = await store.rotateKeyMaterial(key.keyId, key.backingKeyId, { materialId: second, createdAt: T0 + DAY, rotationDate: T0 + DAY, rotationType: 'ON_DEMAND' });
          assert.equal(rotated.backingKeyId, second);
          assert.equal((await store.getKey(key.keyId))?.backingKeyId, second);
          assert.deepEqual(
            (await store.listKeyMaterials(key.keyId)).map((m) => [m.ordinal, m.materialId, m.rotationType, m.rotationDate]),
            [
              [1, key.backingKeyId, null, null],
              [2, second, 'ON_DEMAND', T0 + DAY],
            ],
          );
          assert.equal((await store.getRotationSchedule(key.keyId)).onDemandRotations, 1);
          // Every material is a backing key id of the key (reconciliation, resync, UpdateCustomKeyStore).
          assert.deepEqual(
            (await store.allBackingKeyIds()).filter((r) => r.keyId === key.keyId).map((r) => r.backingKeyId),
            [key.backingKeyId, second],
          );
          // A rotation from a material that is no longer current lost a race: CONFLICT, nothing changes.
          const third = randomBytes(32).toString('hex');
          await assertStoreError(
            store.rotateKeyMaterial(key.keyId, key.backingKeyId, { materialId: third, createdAt: T0, rotationDate: T0, rotationType: 'AUTOMATIC' }),
            'CONFLICT',
          );
          assert.equal((await store.listKeyMaterials(key.keyId)).length, 2);
          await assertStoreError(
            store.rotateKeyMaterial(randomUUID(), key.backingKeyId, { materialId: third, createdAt: T0, rotationDate: T0, rotationType: 'AUTOMATIC' }),
            'NOT_FOUND',
          );
          // A material id is never shared between keys.
          const other = makeKey();
          await store.createKey(other, []);
          await assertStoreError(
            store.rotateKeyMaterial(other.keyId, other.backingKeyId, { materialId: second, createdAt: T0, rotationDate: T0, rotationType: 'AUTOMATIC' }),
            'CONFLICT',
          );
          // Deleting the key removes its materials and schedule.
          await store.deleteKey(key.keyId);
          assert.deepEqual(await store.listKeyMaterials(key.keyId), []);
          assert.deepEqual(await store.getRotationSchedule(key.keyId), { periodDays: null, nextRotationAt: null, onDemandRotations: 0 });
        }));

      test('symmetric suites: a key and each material record theirs (absent = AES_256_GCM); a rotation may change the current one', () =>
        withStore(async (store, harness) => {
          const gcm = makeKey();
          const cbc = makeKey({ suite: 'AES_256_CBC_HMAC_SHA_256' });
          await store.createKey(gcm, []);
          await store.createKey(cbc, []);
          assert.equal((await store.getKey(gcm.keyId))?.suite, undefined);
          assert.equal((await store.getKey(cbc.keyId))?.suite, 'AES_256_CBC_HMAC_SHA_256');
          assert.deepEqual((await store.listKeyMaterials(cbc.keyId)).map((m) => m.suite), ['AES_256_CBC_HMAC_SHA_256']);
          assert.deepEqual((await store.listKeyMaterials(gcm.keyId)).map((m) => m.suite), [undefined]);
          // GCM key rotated into the CBC-HMAC suite (its store switched), and back.
          const second = randomBytes(32).toString('hex');
          const rotated = await store.rotateKeyMaterial(gcm.keyId, gcm.backingKeyId, { materialId: second, createdAt: T0 + DAY, rotationDate: T0 + DAY, rotationType: 'ON_DEMAND', suite: 'AES_256_CBC_HMAC_SHA_256' });
          assert.equal(rotated.suite, 'AES_256_CBC_HMAC_SHA_256');
          assert.equal((await store.getKey(gcm.keyId))?.suite, 'AES_256_CBC_HMAC_SHA_256');
          const third = randomBytes(32).toString('hex');
          const back = await store.rotateKeyMaterial(gcm.keyId, second, { materialId: third, createdAt: T0 + 2 * DAY, rotationDate: T0 + 2 * DAY, rotationType: 'AUTOMATIC' });
          assert.equal(back.suite, undefined);
          assert.deepEqual((await store.listKeyMaterials(gcm.keyId)).map((m) => m.suite), [undefined, 'AES_256_CBC_HMAC_SHA_256', undefined]);
          // Durable: a reopened store reads the same (adapters that can reopen).
          if (harness.reopen === undefined) return;
          const reopened = await harness.reopen();
          try {
            assert.equal((await reopened.getKey(cbc.keyId))?.suite, 'AES_256_CBC_HMAC_SHA_256');
            assert.deepEqual((await reopened.listKeyMaterials(gcm.keyId)).map((m) => m.suite), [undefined, 'AES_256_CBC_HMAC_SHA_256', undefined]);
          } finally {
            await reopened.close();
          }
        }));

      test('imported material: an EXTERNAL key has none until recordImportedMaterial; deleted → PendingImport; same material again → Enabled; other material CONFLICT', () =>
        withStore(async (store) => {
          const key = makeKey({ origin: 'EXTERNAL', state: 'PendingImport', backingKeyId: '' });
          await store.createKey(key, []);
          assert.deepEqual(await store.getKey(key.keyId), key);
          assert.deepEqual(await store.listKeyMaterials(key.keyId), []);
          // A key waiting for its first import has no backing key for reconciliation to look for.
          assert.deepEqual((await store.allBackingKeyIds()).filter((r) => r.keyId === key.keyId), []);

          const materialId = randomBytes(32).toString('hex');
          const imported = await store.recordImportedMaterial(key.keyId, {
            materialId,
            importedAt: T0 + DAY,
            expirationModel: 'KEY_MATERIAL_EXPIRES',
            validTo: T0 + 10 * DAY,
            description: 'first',
          });
          assert.equal(imported.state, 'Enabled');
          assert.equal(imported.backingKeyId, materialId);
          assert.deepEqual(await store.listKeyMaterials(key.keyId), [
            {
              keyId: key.keyId,
              ordinal: 1,
              materialId,
              createdAt: T0 + DAY,
              rotationDate: null,
              rotationType: null,
              imported: { importState: 'IMPORTED', expirationModel: 'KEY_MATERIAL_EXPIRES', validTo: T0 + 10 * DAY, description: 'first' },
            },
          ]);
          assert.deepEqual((await store.allBackingKeyIds()).filter((r) => r.keyId === key.keyId), [{ keyId: key.keyId, backingKeyId: materialId }]);

          // Expiry finds it exactly when its ValidTo has come.
          assert.deepEqual(await store.importedMaterialsExpiredBy(T0 + 10 * DAY - 1), []);
          const expired = await store.importedMaterialsExpiredBy(T0 + 10 * DAY);
          assert.deepEqual(expired.map((e) => [e.key.keyId, e.material.materialId]), [[key.keyId, materialId]]);

          const deleted = await store.recordImportedMaterialDeleted(key.keyId, materialId);
          assert.equal(deleted.state, 'PendingImport');
          assert.equal(deleted.backingKeyId, materialId, 'the key still names its material, so only that material can come back');
          assert.deepEqual((await store.listKeyMaterials(key.keyId))[0]?.imported, { importState: 'PENDING_IMPORT', expirationModel: 'KEY_MATERIAL_EXPIRES', validTo: null, description: 'first' });
          assert.deepEqual(await store.importedMaterialsExpiredBy(T0 + 100 * DAY), []);

          // Other material cannot take its place; the same material comes back, description kept.
          await assertStoreError(
            store.recordImportedMaterial(key.keyId, { materialId: randomBytes(32).toString('hex'), importedAt: T0, expirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE', validTo: null, description: undefined }),
            'CONFLICT',
          );
          const again = await store.recordImportedMaterial(key.keyId, { materialId, importedAt: T0 + 2 * DAY, expirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE', validTo: null, description: undefined });
          assert.equal(again.state, 'Enabled');
          assert.deepEqual((await store.listKeyMaterials(key.keyId))[0]?.imported, { importState: 'IMPORTED', expirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE', validTo: null, description: 'first' });

          // A key waiting for deletion keeps waiting when its material goes.
          await store.updateKey(key.keyId, { state: 'PendingDeletion', deletionDate: T0 + 30 * DAY, pendingWindowDays: 30 });
          assert.equal((await store.recordImportedMaterialDeleted(key.keyId, materialId)).state, 'PendingDeletion');
          await assertStoreError(store.recordImportedMaterialDeleted(key.keyId, randomBytes(32).toString('hex')), 'NOT_FOUND');
          await assertStoreError(store.recordImportedMaterialDeleted(randomUUID(), materialId), 'NOT_FOUND');
          // Generated material is not imported material.
          const generated = makeKey();
          await store.createKey(generated, []);
          await assertStoreError(store.recordImportedMaterialDeleted(generated.keyId, generated.backingKeyId), 'NOT_FOUND');
        }));

      test('import wrapping keys: recorded, found when their validity ends, deleted', () =>
        withStore(async (store) => {
          const key = makeKey({ origin: 'EXTERNAL', state: 'PendingImport', backingKeyId: '' });
          await store.createKey(key, []);
          const early = { wrappingKeyId: randomBytes(16).toString('hex'), keyId: key.keyId, validTo: T0 + DAY };
          const late = { wrappingKeyId: randomBytes(16).toString('hex'), keyId: key.keyId, validTo: T0 + 2 * DAY };
          await store.addImportWrappingKey(early);
          await store.addImportWrappingKey(late);
          assert.deepEqual(await store.importWrappingKeysExpiredBy(T0 + DAY - 1), []);
          assert.deepEqual(await store.importWrappingKeysExpiredBy(T0 + DAY), [early]);
          assert.deepEqual(
            (await store.importWrappingKeysExpiredBy(T0 + 2 * DAY)).map((w) => w.wrappingKeyId).sort(),
            [early.wrappingKeyId, late.wrappingKeyId].sort(),
          );
          await store.deleteImportWrappingKey(early.wrappingKeyId);
          assert.deepEqual(await store.importWrappingKeysExpiredBy(T0 + 2 * DAY), [late]);
        }));

      test('rotation schedules: on, due, advanced by an automatic rotation, off; only Enabled keys are due', () =>
        withStore(async (store) => {
          const key = makeKey();
          const disabled = makeKey({ state: 'Disabled' });
          await store.createKey(key, []);
          await store.createKey(disabled, []);
          assert.deepEqual(await store.getRotationSchedule(key.keyId), { periodDays: null, nextRotationAt: null, onDemandRotations: 0 });
          await store.setRotationSchedule(key.keyId, 90, T0 + 90 * DAY);
          await store.setRotationSchedule(disabled.keyId, 90, T0 + 90 * DAY);
          assert.deepEqual(await store.getRotationSchedule(key.keyId), { periodDays: 90, nextRotationAt: T0 + 90 * DAY, onDemandRotations: 0 });
          assert.deepEqual(await store.keysDueForRotation(T0 + 90 * DAY - 1), []);
          assert.deepEqual((await store.keysDueForRotation(T0 + 90 * DAY)).map((k) => k.keyId), [key.keyId]);
          const next = randomBytes(32).toString('hex');
          await store.rotateKeyMaterial(key.keyId, key.backingKeyId, { materialId: next, createdAt: T0 + 90 * DAY, rotationDate: T0 + 90 * DAY, rotationType: 'AUTOMATIC' }, T0 + 180 * DAY);
          assert.deepEqual(await store.getRotationSchedule(key.keyId), { periodDays: 90, nextRotationAt: T0 + 180 * DAY, onDemandRotations: 0 });
          assert.deepEqual(await store.keysDueForRotation(T0 + 100 * DAY), []);
          await store.setRotationSchedule(key.keyId, null, null);
          assert.deepEqual(await store.keysDueForRotation(T0 + 1000 * DAY), []);
          await assertStoreError(store.setRotationSchedule(randomUUID(), 90, T0), 'NOT_FOUND');
        }));

      test('listKeys orders by key id and pages strictly after the cursor', () =>
        withStore(async (store) => {
          const keys = Array.from({ length: 7 }, () => makeKey());
          for (const k of keys) await store.createKey(k, []);
          const sortedIds = keys.map((k) => k.keyId).sort();

          const all = await store.listKeys(undefined, 100);
          assert.deepEqual(
            all.map((k) => k.keyId),
            sortedIds,
          );

          const paged = await pages(3, (after) => store.listKeys(after, 3), (k) => k.keyId);
          assert.deepEqual(
            paged.map((p) => p.length),
            [3, 3, 1],
          );
          assert.deepEqual(
            paged.flat().map((k) => k.keyId),
            sortedIds,
          );

          // The cursor need not name an existing key.
          const middle = sortedIds[3];
          assert.ok(middle !== undefined);
          const cursor = `${middle.slice(0, -1)}${middle.endsWith('0') ? '/' : '0'}`;
          const after = await store.listKeys(cursor, 100);
          assert.deepEqual(
            after.map((k) => k.keyId),
            sortedIds.filter((id) => id > cursor),
          );
          assert.deepEqual(await store.listKeys(sortedIds.at(-1), 10), []);
        }));

      test('updateKey applies only the given fields and returns the stored record', () =>
        withStore(async (store) => {
          const key = makeKey();
          await store.createKey(key, []);

          const pending = await store.updateKey(key.keyId, {
            state: 'PendingDeletion',
            deletionDate: T0 + 7 * DAY,
            pendingWindowDays: 7,
          });
          const expected: KeyRecord = {
            ...key,
            state: 'PendingDeletion',
            deletionDate: T0 + 7 * DAY,
            pendingWindowDays: 7,
          };
          assert.deepEqual(pending, expected);
          assert.deepEqual(await store.getKey(key.keyId), expected);

          // Explicit undefined means "not given"; null clears.
          const restored = await store.updateKey(key.keyId, {
            state: 'Enabled',
            deletionDate: null,
            pendingWindowDays: null,
            description: undefined,
          });
          assert.deepEqual(restored, key);

          const described = await store.updateKey(key.keyId, { description: '', policy: '{}' });
          assert.deepEqual(described, { ...key, description: '', policy: '{}' });
          assert.deepEqual(await store.updateKey(key.keyId, {}), described);
          assert.deepEqual(await store.getKey(key.keyId), described);
        }));

      test('updateKey on an unknown key is NOT_FOUND', () =>
        withStore(async (store) => {
          await assertStoreError(store.updateKey(randomUUID(), { state: 'Disabled' }), 'NOT_FOUND');
        }));

      test('deleteKey removes the key with its aliases and tags, and nothing else', () =>
        withStore(async (store) => {
          const doomed = makeKey();
          const kept = makeKey();
          await store.createKey(doomed, [{ key: 't', value: 'doomed' }]);
          await store.createKey(kept, [{ key: 't', value: 'kept' }]);
          await store.createAlias(alias('alias/doomed-1', doomed.keyId));
          await store.createAlias(alias('alias/doomed-2', doomed.keyId));
          await store.createAlias(alias('alias/kept', kept.keyId));

          await store.deleteKey(doomed.keyId);

          assert.equal(await store.getKey(doomed.keyId), undefined);
          assert.equal(await store.getAlias('alias/doomed-1'), undefined);
          assert.equal(await store.getAlias('alias/doomed-2'), undefined);
          assert.equal(await store.countAliases(doomed.keyId), 0);
          assert.deepEqual(await store.listTags(doomed.keyId, undefined, 10), []);

          assert.deepEqual(await store.getKey(kept.keyId), kept);
          assert.deepEqual(await store.getAlias('alias/kept'), alias('alias/kept', kept.keyId));
          assert.deepEqual(await store.listTags(kept.keyId, undefined, 10), [{ key: 't', value: 'kept' }]);
          assert.deepEqual(await store.allBackingKeyIds(), [
            { keyId: kept.keyId, backingKeyId: kept.backingKeyId },
          ]);

          // The id can be reused once the old key is gone.
          await store.createKey(makeKey({ keyId: doomed.keyId }), []);
        }));

      test('deleteKey of an unknown key resolves', () =>
        withStore(async (store) => {
          await store.deleteKey(randomUUID());
        }));

      test('keysDueForDeletion returns PendingDeletion keys due at or before now', () =>
        withStore(async (store) => {
          const now = T0 + 30 * DAY;
          const pending = (deletionDate: number): KeyRecord =>
            makeKey({ state: 'PendingDeletion', deletionDate, pendingWindowDays: 7 });
          const overdue = pending(now - DAY);
          const exactlyNow = pending(now);
          const notYet = pending(now + 1);
          const enabled = makeKey();
          // A disabled key with a stale date must not be swept: only the state decides.
          const disabled = makeKey({ state: 'Disabled', deletionDate: now - DAY });
          for (const k of [overdue, exactlyNow, notYet, enabled, disabled]) await store.createKey(k, []);

          const due = await store.keysDueForDeletion(now);
          const byId = (a: KeyRecord, b: KeyRecord): number => (a.keyId < b.keyId ? -1 : 1);
          assert.deepEqual([...due].sort(byId), [overdue, exactlyNow].sort(byId));
          assert.deepEqual(await store.keysDueForDeletion(now - 2 * DAY), []);

          // Cancelling deletion takes a key out of the sweep.
          await store.updateKey(overdue.keyId, { state: 'Disabled', deletionDate: null, pendingWindowDays: null });
          assert.deepEqual(
            (await store.keysDueForDeletion(now)).map((k) => k.keyId),
            [exactlyNow.keyId],
          );
        }));

      test('allBackingKeyIds lists every key with its backing key id', () =>
        withStore(async (store) => {
          assert.deepEqual(await store.allBackingKeyIds(), []);
          const keys = [makeKey(), makeKey({ state: 'Disabled' }), makeKey({ state: 'PendingDeletion', deletionDate: T0, pendingWindowDays: 7 })];
          for (const k of keys) await store.createKey(k, []);
          const got = await store.allBackingKeyIds();
          const expected = keys.map((k) => ({ keyId: k.keyId, backingKeyId: k.backingKeyId }));
          const byId = (a: { keyId: string }, b: { keyId: string }): number => (a.keyId < b.keyId ? -1 : 1);
          assert.deepEqual([...got].sort(byId), expected.sort(byId));
        }));
    });

    describe('aliases', () => {
      test('create, get, update, delete', () =>
        withStore(async (store) => {
          const a = makeKey();
          const b = makeKey();
          await store.createKey(a, []);
          await store.createKey(b, []);

          await store.createAlias(alias('alias/app', a.keyId, T0));
          assert.deepEqual(await store.getAlias('alias/app'), alias('alias/app', a.keyId, T0));
          assert.equal(await store.getAlias('alias/none'), undefined);

          await store.updateAlias('alias/app', b.keyId, T0 + 1000);
          assert.deepEqual(await store.getAlias('alias/app'), {
            aliasName: 'alias/app',
            keyId: b.keyId,
            createdAt: T0,
            updatedAt: T0 + 1000,
          });

          assert.equal(await store.deleteAlias('alias/app'), true);
          assert.equal(await store.getAlias('alias/app'), undefined);
          assert.equal(await store.deleteAlias('alias/app'), false);
          // Deleting an alias leaves its key alone.
          assert.deepEqual(await store.getKey(b.keyId), b);
        }));

      test('a duplicate alias name is CONFLICT and keeps the original target', () =>
        withStore(async (store) => {
          const a = makeKey();
          const b = makeKey();
          await store.createKey(a, []);
          await store.createKey(b, []);
          await store.createAlias(alias('alias/app', a.keyId));
          await assertStoreError(store.createAlias(alias('alias/app', b.keyId, T0 + 5)), 'CONFLICT');
          assert.deepEqual(await store.getAlias('alias/app'), alias('alias/app', a.keyId));
        }));

      test('updateAlias and deleteAlias with an expected key change the alias only while it points there', () =>
        withStore(async (store) => {
          const a = makeKey();
          const b = makeKey();
          const c = makeKey();
          for (const k of [a, b, c]) await store.createKey(k, []);
          await store.createAlias(alias('alias/app', a.keyId, T0));
          // Expected b, but it points at a: nothing changes.
          await assertStoreError(store.updateAlias('alias/app', c.keyId, T0 + 1, b.keyId), 'NOT_FOUND');
          assert.equal(await store.deleteAlias('alias/app', b.keyId), false);
          assert.deepEqual(await store.getAlias('alias/app'), alias('alias/app', a.keyId, T0));
          // Expected a, and it points at a.
          await store.updateAlias('alias/app', c.keyId, T0 + 2, a.keyId);
          assert.equal((await store.getAlias('alias/app'))?.keyId, c.keyId);
          assert.equal(await store.deleteAlias('alias/app', c.keyId), true);
          assert.equal(await store.getAlias('alias/app'), undefined);
          await assertStoreError(store.updateAlias('alias/app', a.keyId, T0 + 3, c.keyId), 'NOT_FOUND');
        }));

      test('updateAlias of an unknown alias is NOT_FOUND', () =>
        withStore(async (store) => {
          const a = makeKey();
          await store.createKey(a, []);
          await assertStoreError(store.updateAlias('alias/none', a.keyId, T0), 'NOT_FOUND');
          assert.equal(await store.getAlias('alias/none'), undefined);
        }));

      // The port leaves this open; callers check the key first, so this only happens when the key
      // was deleted in between, and NOT_FOUND (NotFoundException) is the truthful answer.
      test('pointing an alias at a key that does not exist is NOT_FOUND', () =>
        withStore(async (store) => {
          const a = makeKey();
          await store.createKey(a, []);
          await store.createAlias(alias('alias/app', a.keyId));
          await assertStoreError(store.createAlias(alias('alias/ghost', randomUUID())), 'NOT_FOUND');
          await assertStoreError(store.updateAlias('alias/app', randomUUID(), T0 + 1), 'NOT_FOUND');
          assert.equal(await store.getAlias('alias/ghost'), undefined);
          assert.deepEqual(await store.getAlias('alias/app'), alias('alias/app', a.keyId));
        }));

      test('listAliases orders by name, filters by key and pages strictly after the cursor', () =>
        withStore(async (store) => {
          const a = makeKey();
          const b = makeKey();
          await store.createKey(a, []);
          await store.createKey(b, []);
          // Mixed case and punctuation, so a locale-aware collation would order them differently.
          const ofA = ['alias/Zeta', 'alias/alpha', 'alias/a-b', 'alias/a_b', 'alias/B'];
          const ofB = ['alias/beta', 'alias/Alpha', 'alias/aB'];
          for (const n of ofA) await store.createAlias(alias(n, a.keyId));
          for (const n of ofB) await store.createAlias(alias(n, b.keyId));
          const all = [...ofA, ...ofB].sort();

          const names = (rs: AliasRecord[]): string[] => rs.map((r) => r.aliasName);
          assert.deepEqual(names(await store.listAliases({ limit: 100 })), all);
          assert.deepEqual(names(await store.listAliases({ keyId: a.keyId, limit: 100 })), [...ofA].sort());
          assert.deepEqual(names(await store.listAliases({ keyId: b.keyId, limit: 100 })), [...ofB].sort());
          assert.deepEqual(await store.listAliases({ keyId: randomUUID(), limit: 100 }), []);

          const everyPage = await pages(
            3,
            (after) => store.listAliases({ afterAliasName: after, limit: 3 }),
            (r) => r.aliasName,
          );
          assert.deepEqual(names(everyPage.flat()), all);
          assert.deepEqual(
            everyPage.map((p) => p.length),
            [3, 3, 2],
          );

          const pagesOfA = await pages(
            2,
            (after) => store.listAliases({ keyId: a.keyId, afterAliasName: after, limit: 2 }),
            (r) => r.aliasName,
          );
          assert.deepEqual(names(pagesOfA.flat()), [...ofA].sort());
          for (const r of pagesOfA.flat()) assert.deepEqual(r, alias(r.aliasName, a.keyId));
        }));

      test('countAliases counts the aliases of one key', () =>
        withStore(async (store) => {
          const a = makeKey();
          const b = makeKey();
          await store.createKey(a, []);
          await store.createKey(b, []);
          assert.equal(await store.countAliases(a.keyId), 0);
          await store.createAlias(alias('alias/one', a.keyId));
          await store.createAlias(alias('alias/two', a.keyId));
          await store.createAlias(alias('alias/three', b.keyId));
          assert.equal(await store.countAliases(a.keyId), 2);
          assert.equal(await store.countAliases(b.keyId), 1);
          await store.updateAlias('alias/two', b.keyId, T0 + 1);
          assert.equal(await store.countAliases(a.keyId), 1);
          assert.equal(await store.countAliases(b.keyId), 2);
          assert.equal(await store.countAliases(randomUUID()), 0);
        }));
    });

    describe('tags', () => {
      test('putTags inserts new tags and overwrites the value of existing ones', () =>
        withStore(async (store) => {
          const k = makeKey();
          await store.createKey(k, [{ key: 'env', value: 'dev' }]);
          await store.putTags(k.keyId, [
            { key: 'env', value: 'prod' },
            { key: 'team', value: 'pay' },
          ]);
          assert.deepEqual(await store.listTags(k.keyId, undefined, 10), [
            { key: 'env', value: 'prod' },
            { key: 'team', value: 'pay' },
          ]);
          await store.putTags(k.keyId, []);
          await store.putTags(k.keyId, [{ key: 'team', value: '' }]);
          assert.deepEqual(await store.listTags(k.keyId, undefined, 10), [
            { key: 'env', value: 'prod' },
            { key: 'team', value: '' },
          ]);
        }));

      test('tags belong to one key', () =>
        withStore(async (store) => {
          const a = makeKey();
          const b = makeKey();
          await store.createKey(a, [{ key: 'same', value: 'a' }]);
          await store.createKey(b, [{ key: 'same', value: 'b' }]);
          await store.putTags(a.keyId, [{ key: 'same', value: 'a2' }]);
          assert.deepEqual(await store.listTags(b.keyId, undefined, 10), [{ key: 'same', value: 'b' }]);
          await store.removeTags(a.keyId, ['same']);
          assert.deepEqual(await store.listTags(a.keyId, undefined, 10), []);
          assert.deepEqual(await store.listTags(b.keyId, undefined, 10), [{ key: 'same', value: 'b' }]);
        }));

      test('putTags on a key that does not exist is NOT_FOUND', () =>
        withStore(async (store) => {
          const ghost = randomUUID();
          await assertStoreError(store.putTags(ghost, [{ key: 'k', value: 'v' }]), 'NOT_FOUND');
          assert.deepEqual(await store.listTags(ghost, undefined, 10), []);
        }));

      test('removeTags removes the named tags and ignores names that are not there', () =>
        withStore(async (store) => {
          const k = makeKey();
          await store.createKey(k, [
            { key: 'a', value: '1' },
            { key: 'b', value: '2' },
            { key: 'c', value: '3' },
          ]);
          await store.removeTags(k.keyId, ['b', 'missing', 'b']);
          assert.deepEqual(await store.listTags(k.keyId, undefined, 10), [
            { key: 'a', value: '1' },
            { key: 'c', value: '3' },
          ]);
          await store.removeTags(k.keyId, []);
          await store.removeTags(randomUUID(), ['a']);
          assert.equal((await store.listTags(k.keyId, undefined, 10)).length, 2);
        }));

      test('listTags orders by tag key and pages strictly after the cursor', () =>
        withStore(async (store) => {
          const k = makeKey();
          const tags: Tag[] = ['b', 'A', 'a', 'C', 'c:d', 'c-d', 'Z'].map((key, i) => ({ key, value: `v${i}` }));
          await store.createKey(k, tags);
          const sorted = [...tags].sort((x, y) => (x.key < y.key ? -1 : 1));
          assert.deepEqual(await store.listTags(k.keyId, undefined, 100), sorted);

          const paged = await pages(3, (after) => store.listTags(k.keyId, after, 3), (t) => t.key);
          assert.deepEqual(
            paged.map((p) => p.length),
            [3, 3, 1],
          );
          assert.deepEqual(paged.flat(), sorted);
          assert.deepEqual(
            await store.listTags(k.keyId, 'B', 100),
            sorted.filter((t) => t.key > 'B'),
          );
        }));
    });

    describe('custom key stores', () => {
      test('createCustomKeyStore then get by id and by name return the same record', () =>
        withStore(async (store) => {
          const plain = makeCustomKeyStore();
          const failed = makeCustomKeyStore({
            name: 'ünïcødé "store"',
            connectionState: 'FAILED',
            connectionErrorCode: 'USER_LOCKED_OUT',
            wantConnected: true,
            createdAt: T0 + 1,
          });
          await store.createCustomKeyStore(plain);
          await store.createCustomKeyStore(failed);
          assert.deepEqual(await store.getCustomKeyStore(plain.id), plain);
          assert.deepEqual(await store.getCustomKeyStore(failed.id), failed);
          assert.deepEqual(await store.getCustomKeyStoreByName(plain.name), plain);
          assert.deepEqual(await store.getCustomKeyStoreByName(failed.name), failed);
          assert.equal(await store.getCustomKeyStore(makeCustomKeyStore().id), undefined);
          assert.equal(await store.getCustomKeyStoreByName('no such store'), undefined);
          // Names match exactly, not case-insensitively.
          assert.equal(await store.getCustomKeyStoreByName(plain.name.toUpperCase()), undefined);
        }));

      test('every connection state and error code round-trips', () =>
        withStore(async (store) => {
          const records = [
            ...CONNECTION_STATES.map((connectionState) => makeCustomKeyStore({ connectionState })),
            ...CONNECTION_ERROR_CODES.map((connectionErrorCode) =>
              makeCustomKeyStore({ connectionState: 'FAILED', connectionErrorCode, wantConnected: true }),
            ),
          ];
          for (const r of records) await store.createCustomKeyStore(r);
          for (const r of records) assert.deepEqual(await store.getCustomKeyStore(r.id), r);
        }));

      test('with a limit, creating beyond it is LIMIT_EXCEEDED and changes nothing', () =>
        withStore(async (store) => {
          await store.createCustomKeyStore(makeCustomKeyStore(), 2);
          await store.createCustomKeyStore(makeCustomKeyStore(), 2);
          const third = makeCustomKeyStore();
          await assertStoreError(store.createCustomKeyStore(third, 2), 'LIMIT_EXCEEDED');
          assert.equal(await store.getCustomKeyStore(third.id), undefined);
          assert.equal(await store.countCustomKeyStores(), 2);
        }));

      test('a duplicate id or name is CONFLICT and changes nothing', () =>
        withStore(async (store) => {
          const original = makeCustomKeyStore();
          await store.createCustomKeyStore(original);
          await assertStoreError(
            store.createCustomKeyStore(makeCustomKeyStore({ id: original.id, clusterId: 'cluster-othercluster' })),
            'CONFLICT',
          );
          const sameName = makeCustomKeyStore({ name: original.name });
          await assertStoreError(store.createCustomKeyStore(sameName), 'CONFLICT');
          assert.equal(await store.getCustomKeyStore(sameName.id), undefined);
          assert.deepEqual(await store.getCustomKeyStore(original.id), original);
          assert.deepEqual(await store.getCustomKeyStoreByName(original.name), original);
          assert.equal(await store.countCustomKeyStores(), 1);
        }));

      test('a second CloudHSM-type store on a cluster in use is CONFLICT; external key stores (no cluster) are not held to it', () =>
        withStore(async (store) => {
          const first = makeCustomKeyStore();
          await store.createCustomKeyStore(first);
          await assertStoreError(store.createCustomKeyStore(makeCustomKeyStore({ clusterId: first.clusterId })), 'CONFLICT');
          const other = makeCustomKeyStore();
          await store.createCustomKeyStore(other);
          await assertStoreError(store.updateCustomKeyStore(other.id, { clusterId: first.clusterId }), 'CONFLICT');
          assert.deepEqual(await store.getCustomKeyStore(other.id), other);
          const external = (name: string) =>
            makeCustomKeyStore({
              name,
              type: 'EXTERNAL_KEY_STORE',
              clusterId: '',
              trustAnchorCertificate: '',
              xksProxy: { connectivity: 'PUBLIC_ENDPOINT', uriEndpoint: `https://${name}.example.com`, uriPath: '/kms/xks/v1', accessKeyId: 'ABCDEFGHIJKLMNOPQRST' },
            });
          await store.createCustomKeyStore(external('xks-one'));
          await store.createCustomKeyStore(external('xks-two'));
          // Racing creations on one cluster: one wins.
          const racers = [makeCustomKeyStore(), makeCustomKeyStore(), makeCustomKeyStore()].map((r) => ({ ...r, clusterId: 'cluster-contested00' }));
          const outcomes = await Promise.allSettled(racers.map((r) => store.createCustomKeyStore(r)));
          assert.equal(outcomes.filter((o) => o.status === 'fulfilled').length, 1);
        }));

      test('listCustomKeyStores orders by id and pages strictly after the cursor', () =>
        withStore(async (store) => {
          assert.deepEqual(await store.listCustomKeyStores(undefined, 10), []);
          const records = Array.from({ length: 7 }, () => makeCustomKeyStore());
          for (const r of records) await store.createCustomKeyStore(r);
          const sorted = [...records].sort((a, b) => (a.id < b.id ? -1 : 1));

          assert.deepEqual(await store.listCustomKeyStores(undefined, 100), sorted);
          const paged = await pages(3, (after) => store.listCustomKeyStores(after, 3), (r) => r.id);
          assert.deepEqual(
            paged.map((p) => p.length),
            [3, 3, 1],
          );
          assert.deepEqual(paged.flat(), sorted);

          // The cursor need not name an existing store.
          const middle = sorted[3]?.id;
          assert.ok(middle !== undefined);
          const cursor = `${middle.slice(0, -1)}${middle.endsWith('0') ? '/' : '0'}`;
          assert.deepEqual(
            await store.listCustomKeyStores(cursor, 100),
            sorted.filter((r) => r.id > cursor),
          );
          assert.deepEqual(await store.listCustomKeyStores(sorted.at(-1)?.id, 10), []);
        }));

      test('updateCustomKeyStore applies only the given fields and returns the stored record', () =>
        withStore(async (store) => {
          const original = makeCustomKeyStore();
          await store.createCustomKeyStore(original);
          let expected = original;
          const step = async (patch: Parameters<MetadataStore['updateCustomKeyStore']>[1]): Promise<void> => {
            expected = { ...expected, ...patch };
            assert.deepEqual(await store.updateCustomKeyStore(original.id, patch), expected);
            assert.deepEqual(await store.getCustomKeyStore(original.id), expected);
          };

          await step({ name: 'renamed' });
          assert.equal(await store.getCustomKeyStoreByName(original.name), undefined);
          assert.deepEqual(await store.getCustomKeyStoreByName('renamed'), expected);
          await step({ clusterId: 'cluster-newclusterabc' });
          await step({ sealedPassword: 'c2VhbGVkIGFnYWlu' });
          await step({ wantConnected: true, connectionState: 'CONNECTING' });
          await step({ connectionState: 'FAILED', connectionErrorCode: 'NETWORK_ERRORS' });
          // null clears the error code; false is a value, not "not given".
          await step({ connectionState: 'DISCONNECTED', connectionErrorCode: null, wantConnected: false });

          // Explicit undefined means "not given"; an empty patch changes nothing.
          assert.deepEqual(await store.updateCustomKeyStore(original.id, { name: undefined, connectionErrorCode: undefined }), expected);
          assert.deepEqual(await store.updateCustomKeyStore(original.id, {}), expected);
          // Keeping one's own name is not a conflict.
          assert.deepEqual(await store.updateCustomKeyStore(original.id, { name: 'renamed' }), expected);
          // What the patch cannot touch is untouched.
          assert.equal(expected.createdAt, original.createdAt);
          assert.equal(expected.trustAnchorCertificate, original.trustAnchorCertificate);
        }));

      test('renaming to a taken name is CONFLICT and changes nothing', () =>
        withStore(async (store) => {
          const a = makeCustomKeyStore();
          const b = makeCustomKeyStore();
          await store.createCustomKeyStore(a);
          await store.createCustomKeyStore(b);
          await assertStoreError(
            store.updateCustomKeyStore(b.id, { name: a.name, connectionState: 'CONNECTING', wantConnected: true }),
            'CONFLICT',
          );
          assert.deepEqual(await store.getCustomKeyStore(a.id), a);
          assert.deepEqual(await store.getCustomKeyStore(b.id), b);
          assert.deepEqual(await store.getCustomKeyStoreByName(a.name), a);
        }));

      test('updateCustomKeyStore of an unknown store is NOT_FOUND', () =>
        withStore(async (store) => {
          const ghost = makeCustomKeyStore();
          await assertStoreError(store.updateCustomKeyStore(ghost.id, { connectionState: 'CONNECTED' }), 'NOT_FOUND');
          await assertStoreError(store.updateCustomKeyStore(ghost.id, {}), 'NOT_FOUND');
          assert.equal(await store.getCustomKeyStore(ghost.id), undefined);
        }));

      test('deleteCustomKeyStore is false when absent, CONFLICT while a key refers to it, true once it has none', () =>
        withStore(async (store) => {
          const cks = makeCustomKeyStore();
          const other = makeCustomKeyStore();
          assert.equal(await store.deleteCustomKeyStore(cks.id), false);
          await store.createCustomKeyStore(cks);
          await store.createCustomKeyStore(other);
          // Any state counts, PendingDeletion included.
          const key = keyIn(cks.id, { state: 'PendingDeletion', deletionDate: T0, pendingWindowDays: 7 });
          await store.createKey(key, []);

          await assertStoreError(store.deleteCustomKeyStore(cks.id), 'CONFLICT');
          assert.deepEqual(await store.getCustomKeyStore(cks.id), cks);
          assert.deepEqual(await store.getKey(key.keyId), key);

          await store.deleteKey(key.keyId);
          assert.equal(await store.deleteCustomKeyStore(cks.id), true);
          assert.equal(await store.getCustomKeyStore(cks.id), undefined);
          assert.equal(await store.getCustomKeyStoreByName(cks.name), undefined);
          assert.equal(await store.deleteCustomKeyStore(cks.id), false);
          // Nothing else went, and the name is free again.
          assert.deepEqual(await store.listCustomKeyStores(undefined, 10), [other]);
          await store.createCustomKeyStore(makeCustomKeyStore({ name: cks.name }));
        }));

      test('countCustomKeyStores counts every store', () =>
        withStore(async (store) => {
          assert.equal(await store.countCustomKeyStores(), 0);
          const records = [makeCustomKeyStore(), makeCustomKeyStore({ connectionState: 'CONNECTED' }), makeCustomKeyStore()];
          for (const r of records) await store.createCustomKeyStore(r);
          assert.equal(await store.countCustomKeyStores(), 3);
          assert.equal(await store.deleteCustomKeyStore(records[1]?.id ?? ''), true);
          assert.equal(await store.countCustomKeyStores(), 2);
        }));

      test('countKeysInCustomKeyStore counts the keys of one store, in any state', () =>
        withStore(async (store) => {
          const a = makeCustomKeyStore();
          const b = makeCustomKeyStore();
          await store.createCustomKeyStore(a);
          await store.createCustomKeyStore(b);
          assert.equal(await store.countKeysInCustomKeyStore(a.id), 0);

          const inA = [
            keyIn(a.id),
            keyIn(a.id, { state: 'Disabled' }),
            keyIn(a.id, { state: 'PendingDeletion', deletionDate: T0, pendingWindowDays: 7 }),
          ];
          const inB = keyIn(b.id);
          for (const k of [...inA, inB, makeKey(), makeKey()]) await store.createKey(k, []);
          assert.equal(await store.countKeysInCustomKeyStore(a.id), 3);
          assert.equal(await store.countKeysInCustomKeyStore(b.id), 1);
          assert.equal(await store.countKeysInCustomKeyStore(makeCustomKeyStore().id), 0);

          await store.deleteKey(inA[0]?.keyId ?? '');
          assert.equal(await store.countKeysInCustomKeyStore(a.id), 2);
        }));

      test('a key in a custom key store round-trips through every key read', () =>
        withStore(async (store) => {
          const cks = makeCustomKeyStore();
          await store.createCustomKeyStore(cks);
          const key = keyIn(cks.id, { state: 'PendingDeletion', deletionDate: T0, pendingWindowDays: 7 });
          const plain = makeKey();
          await store.createKey(key, [{ key: 't', value: 'v' }]);
          await store.createKey(plain, []);

          assert.deepEqual(await store.getKey(key.keyId), key);
          assert.deepEqual(await store.getKey(plain.keyId), plain);
          const listed = await store.listKeys(undefined, 10);
          assert.deepEqual(listed.find((k) => k.keyId === key.keyId), key);
          assert.deepEqual(listed.find((k) => k.keyId === plain.keyId), plain);
          assert.deepEqual(await store.keysDueForDeletion(T0), [key]);

          // updateKey keeps the store and returns it.
          const restored: KeyRecord = { ...key, state: 'Enabled', deletionDate: null, pendingWindowDays: null };
          assert.deepEqual(
            await store.updateKey(key.keyId, { state: 'Enabled', deletionDate: null, pendingWindowDays: null }),
            restored,
          );
          assert.deepEqual(await store.getKey(key.keyId), restored);
        }));

      // The port leaves this open; callers check the store first, so this only happens when it was
      // deleted in between, and NOT_FOUND is the truthful answer.
      test('a key in a custom key store that does not exist is NOT_FOUND', () =>
        withStore(async (store) => {
          const key = keyIn(makeCustomKeyStore().id);
          await assertStoreError(store.createKey(key, [{ key: 't', value: 'v' }]), 'NOT_FOUND');
          assert.equal(await store.getKey(key.keyId), undefined);
          assert.deepEqual(await store.listTags(key.keyId, undefined, 10), []);
        }));

      test('custom key stores and their keys are there after reopening', async (t) => {
        const harness = await factory();
        const reopen = harness.reopen;
        if (reopen === undefined) {
          await harness.store.close();
          await harness.cleanup();
          t.skip('adapter gives no reopen');
          return;
        }
        let reopened: MetadataStore | undefined;
        try {
          const { store } = harness;
          const kept = makeCustomKeyStore();
          const gone = makeCustomKeyStore();
          await store.createCustomKeyStore(kept);
          await store.createCustomKeyStore(gone);
          const updated = await store.updateCustomKeyStore(kept.id, {
            name: 'kept-renamed',
            connectionState: 'FAILED',
            connectionErrorCode: 'INVALID_CREDENTIALS',
            wantConnected: true,
          });
          assert.equal(await store.deleteCustomKeyStore(gone.id), true);
          const key = keyIn(kept.id);
          await store.createKey(key, []);
          await store.close();

          reopened = await reopen();
          assert.deepEqual(await reopened.getCustomKeyStore(kept.id), updated);
          assert.deepEqual(await reopened.getCustomKeyStoreByName('kept-renamed'), updated);
          assert.equal(await reopened.getCustomKeyStore(gone.id), undefined);
          assert.equal(await reopened.countCustomKeyStores(), 1);
          assert.deepEqual(await reopened.getKey(key.keyId), key);
          assert.equal(await reopened.countKeysInCustomKeyStore(kept.id), 1);
          // The reference still holds after reopening.
          await assertStoreError(reopened.deleteCustomKeyStore(kept.id), 'CONFLICT');
        } finally {
          await harness.store.close();
          await reopened?.close();
          await harness.cleanup();
        }
      });
    });

    describe('principals and access keys', () => {
      test('a principal round-trips with its policies; a second one with the same ARN is CONFLICT', () =>
        withStore(async (store) => {
          const p = makePrincipal({ policies: { read: '{"Version":"2012-10-17","Statement":[]}' } });
          await store.createPrincipal(p);
          assert.deepEqual(await store.getPrincipal(p.arn), p);
          await assertStoreError(store.createPrincipal(p), 'CONFLICT');
          assert.equal(await store.getPrincipal(`${p.arn}x`), undefined);
        }));

      test('policies are put, replaced and deleted; NOT_FOUND for a missing principal', () =>
        withStore(async (store) => {
          const p = makePrincipal();
          await store.createPrincipal(p);
          await store.putPrincipalPolicy(p.arn, 'b', '{"v":1}');
          await store.putPrincipalPolicy(p.arn, 'a', '{"v":2}');
          await store.putPrincipalPolicy(p.arn, 'b', '{"v":3}');
          assert.deepEqual((await store.getPrincipal(p.arn))!.policies, { a: '{"v":2}', b: '{"v":3}' });
          assert.equal(await store.deletePrincipalPolicy(p.arn, 'a'), true);
          assert.equal(await store.deletePrincipalPolicy(p.arn, 'a'), false);
          assert.deepEqual((await store.getPrincipal(p.arn))!.policies, { b: '{"v":3}' });
          await assertStoreError(store.putPrincipalPolicy('arn:aws:iam::111122223333:user/nobody', 'x', '{}'), 'NOT_FOUND');
        }));

      test('principals list in ARN order with an exclusive cursor', () =>
        withStore(async (store) => {
          const all = ['carol', 'alice', 'bob', 'dave', 'erin'].map((name) => makePrincipal({ name }));
          for (const p of all) await store.createPrincipal(p);
          const got = await pages(2, (after) => store.listPrincipals(after, 2), (p) => p.arn);
          assert.deepEqual(got.flat().map((p) => p.arn), all.map((p) => p.arn).sort());
        }));

      test('access keys: create, status, list, delete; a deleted id is remembered and never reused', () =>
        withStore(async (store) => {
          const p = makePrincipal();
          await store.createPrincipal(p);
          const k1 = makeAccessKey(p.arn);
          const k2 = makeAccessKey(p.arn);
          await store.createAccessKey(k1);
          await store.createAccessKey(k2);
          await assertStoreError(store.createAccessKey(k1), 'CONFLICT');
          await assertStoreError(store.createAccessKey(makeAccessKey('arn:aws:iam::111122223333:user/nobody')), 'NOT_FOUND');
          assert.deepEqual(await store.getAccessKey(k1.accessKeyId), k1);
          assert.deepEqual((await store.listAccessKeys(p.arn)).map((k) => k.accessKeyId), [k1.accessKeyId, k2.accessKeyId].sort());
          await store.setAccessKeyStatus(k1.accessKeyId, 'Inactive');
          assert.equal((await store.getAccessKey(k1.accessKeyId))!.status, 'Inactive');
          await assertStoreError(store.setAccessKeyStatus('AKIAAAAAAAAAAAAAAAAA', 'Active'), 'NOT_FOUND');
          assert.equal(await store.isAccessKeyDeleted(k1.accessKeyId), false);
          assert.equal(await store.deleteAccessKey(k1.accessKeyId), true);
          assert.equal(await store.deleteAccessKey(k1.accessKeyId), false);
          assert.equal(await store.isAccessKeyDeleted(k1.accessKeyId), true);
          await assertStoreError(store.createAccessKey(k1), 'CONFLICT');
          assert.deepEqual((await store.listAccessKeys()).map((k) => k.accessKeyId), [k2.accessKeyId]);
        }));

      test('deleting a principal removes its policies and keys and remembers the key ids', () =>
        withStore(async (store) => {
          const p = makePrincipal({ policies: { x: '{}' } });
          const other = makePrincipal();
          await store.createPrincipal(p);
          await store.createPrincipal(other);
          const k = makeAccessKey(p.arn);
          const kept = makeAccessKey(other.arn);
          await store.createAccessKey(k);
          await store.createAccessKey(kept);
          assert.equal(await store.deletePrincipal(p.arn), true);
          assert.equal(await store.deletePrincipal(p.arn), false);
          assert.equal(await store.getPrincipal(p.arn), undefined);
          assert.equal(await store.getAccessKey(k.accessKeyId), undefined);
          assert.equal(await store.isAccessKeyDeleted(k.accessKeyId), true);
          assert.deepEqual((await store.listAccessKeys()).map((x) => x.accessKeyId), [kept.accessKeyId]);
          // Re-creating the principal starts without the old policies.
          await store.createPrincipal({ ...p, policies: {} });
          assert.deepEqual((await store.getPrincipal(p.arn))!.policies, {});
        }));
    });

    describe('grants', () => {
      test('a grant round-trips; CONFLICT on a repeated id; NOT_FOUND for a missing key', () =>
        withStore(async (store) => {
          const key = makeKey();
          await store.createKey(key, []);
          const g = makeGrant(key.keyId, {
            name: 'n1',
            retiringPrincipal: 'arn:aws:iam::111122223333:role/retirer',
            constraints: { encryptionContextSubset: { Dept: 'IT' }, encryptionContextEquals: { a: 'b' } },
          });
          await store.createGrant(g);
          assert.deepEqual(await store.getGrant(g.grantId), g);
          await assertStoreError(store.createGrant(g), 'CONFLICT');
          await assertStoreError(store.createGrant(makeGrant(randomUUID())), 'NOT_FOUND');
          const bare = makeGrant(key.keyId);
          await store.createGrant(bare);
          assert.deepEqual(await store.getGrant(bare.grantId), bare);
        }));

      test('listGrants pages one key\'s grants in grant-id order and filters by grant id and grantee', () =>
        withStore(async (store) => {
          const key = makeKey();
          const other = makeKey();
          await store.createKey(key, []);
          await store.createKey(other, []);
          const alice = 'arn:aws:iam::111122223333:user/alice';
          const mine = [makeGrant(key.keyId, { granteePrincipal: alice }), makeGrant(key.keyId), makeGrant(key.keyId, { granteePrincipal: alice }), makeGrant(key.keyId)];
          for (const g of mine) await store.createGrant(g);
          await store.createGrant(makeGrant(other.keyId, { granteePrincipal: alice }));
          const got = await pages(3, (after) => store.listGrants({ keyId: key.keyId, ...(after ? { afterGrantId: after } : {}), limit: 3 }), (g) => g.grantId);
          assert.deepEqual(got.flat().map((g) => g.grantId), mine.map((g) => g.grantId).sort());
          assert.deepEqual(
            (await store.listGrants({ keyId: key.keyId, granteePrincipal: alice, limit: 10 })).map((g) => g.grantId),
            [mine[0]!.grantId, mine[2]!.grantId].sort(),
          );
          assert.deepEqual((await store.listGrants({ keyId: key.keyId, grantId: mine[1]!.grantId, limit: 10 })).map((g) => g.grantId), [mine[1]!.grantId]);
          assert.deepEqual(await store.listGrants({ keyId: other.keyId, grantId: mine[1]!.grantId, limit: 10 }), []);
          assert.equal(await store.countGrants(key.keyId), 4);
          assert.deepEqual((await store.grantsForGrantee(key.keyId, alice)).map((g) => g.grantId), [mine[0]!.grantId, mine[2]!.grantId].sort());
        }));

      test('listRetirableGrants spans keys; findGrantsByName is per key; grants go with their key', () =>
        withStore(async (store) => {
          const k1 = makeKey();
          const k2 = makeKey();
          await store.createKey(k1, []);
          await store.createKey(k2, []);
          const retirer = 'arn:aws:iam::444455556666:role/retirer';
          const a = makeGrant(k1.keyId, { retiringPrincipal: retirer, name: 'same' });
          const b = makeGrant(k2.keyId, { retiringPrincipal: retirer, name: 'same' });
          const c = makeGrant(k1.keyId, { name: 'other' });
          for (const g of [a, b, c]) await store.createGrant(g);
          const got = await pages(1, (after) => store.listRetirableGrants({ retiringPrincipal: retirer, ...(after ? { afterGrantId: after } : {}), limit: 1 }), (g) => g.grantId);
          assert.deepEqual(got.flat().map((g) => g.grantId), [a.grantId, b.grantId].sort());
          assert.deepEqual((await store.findGrantsByName(k1.keyId, 'same')).map((g) => g.grantId), [a.grantId]);
          assert.deepEqual(await store.findGrantsByName(k1.keyId, 'none'), []);
          assert.equal(await store.deleteGrant(c.grantId), true);
          assert.equal(await store.deleteGrant(c.grantId), false);
          await store.deleteKey(k1.keyId);
          assert.equal(await store.getGrant(a.grantId), undefined);
          assert.equal(await store.countGrants(k1.keyId), 0);
          assert.deepEqual((await store.getGrant(b.grantId))?.grantId, b.grantId);
        }));
    });

    describe('XKS records', () => {
      const xksKey = (overrides: Partial<XksKeyRecord> = {}): XksKeyRecord => ({
        xksKeyId: `xks-${randomBytes(6).toString('hex')}`,
        uriPath: '/kms/xks/v1',
        customKeyStoreId: null,
        backingKeyId: randomBytes(32).toString('hex'),
        usage: ['ENCRYPT', 'DECRYPT'],
        status: 'ENABLED',
        description: 'an XKS key',
        createdAt: T0,
        ...overrides,
      });
      const credential = (uriPath: string, at: number): XksCredentialRecord => ({
        accessKeyId: `AKIA${randomBytes(10).toString('hex').toUpperCase().replace(/[^A-Z2-7]/g, 'A')}`,
        uriPath,
        sealedSecret: randomBytes(40).toString('base64'),
        createdAt: at,
      });

      test('keys: create, get, list (all and by path, by id), status, delete; ids are unique', () =>
        withStore(async ({ xks }) => {
          const a = xksKey({ xksKeyId: 'b-key', usage: ['DECRYPT'] });
          const b = xksKey({ xksKeyId: 'a-key', uriPath: '/other/kms/xks/v1', customKeyStoreId: 'cks-1234567890abcdef0' });
          await xks.createXksKey(a);
          await xks.createXksKey(b);
          assert.deepEqual(await xks.getXksKey('b-key'), a);
          assert.equal(await xks.getXksKey('nope'), undefined);
          assert.deepEqual((await xks.listXksKeys()).map((k) => k.xksKeyId), ['a-key', 'b-key']);
          assert.deepEqual(await xks.listXksKeys('/other/kms/xks/v1'), [b]);
          await assertStoreError(xks.createXksKey(xksKey({ xksKeyId: 'a-key' })), 'CONFLICT');
          assert.deepEqual(await xks.setXksKeyStatus('b-key', 'DISABLED'), { ...a, status: 'DISABLED' });
          await assertStoreError(xks.setXksKeyStatus('nope', 'DISABLED'), 'NOT_FOUND');
          assert.equal(await xks.deleteXksKey('b-key'), true);
          assert.equal(await xks.deleteXksKey('b-key'), false);
          assert.deepEqual(await xks.listXksKeys(), [b]);
        }));

      test('credentials: at most maxPerPath per path, even when created at once; listed by path then age', () =>
        withStore(async ({ xks }) => {
          const results = await Promise.all([1, 2, 3, 4, 5].map((i) => xks.createXksCredential(credential('/p/kms/xks/v1', T0 + i), 2)));
          assert.equal(results.filter(Boolean).length, 2);
          assert.equal((await xks.listXksCredentials('/p/kms/xks/v1')).length, 2);
          const other = credential('/a/kms/xks/v1', T0);
          assert.equal(await xks.createXksCredential(other, 2), true);
          await assertStoreError(xks.createXksCredential(other, 2), 'CONFLICT');
          const all = await xks.listXksCredentials();
          assert.deepEqual(all.map((c) => c.uriPath), ['/a/kms/xks/v1', '/p/kms/xks/v1', '/p/kms/xks/v1']);
          assert.ok(all[1]!.createdAt <= all[2]!.createdAt);
          assert.deepEqual(await xks.getXksCredential(other.accessKeyId), other);
          assert.equal(await xks.deleteXksCredential(other.accessKeyId), true);
          assert.equal(await xks.deleteXksCredential(other.accessKeyId), false);
          assert.equal(await xks.getXksCredential(other.accessKeyId), undefined);
        }));
    });

    describe('concurrent callers', () => {
      test('racing rotations of one material: exactly one wins, the others get CONFLICT, nothing is half-done', () =>
        withStore(async (store) => {
          const key = makeKey();
          await store.createKey(key, []);
          const candidates = Array.from({ length: 6 }, () => randomBytes(32).toString('hex'));
          const outcomes = await Promise.allSettled(
            candidates.map((materialId) => store.rotateKeyMaterial(key.keyId, key.backingKeyId, { materialId, createdAt: T0, rotationDate: T0, rotationType: 'ON_DEMAND' })),
          );
          const won = outcomes.flatMap((o, i) => (o.status === 'fulfilled' ? [candidates[i]] : []));
          assert.equal(won.length, 1);
          for (const o of outcomes) if (o.status === 'rejected') assert.ok(o.reason instanceof StoreError && o.reason.code === 'CONFLICT', String(o.reason));
          assert.equal((await store.getKey(key.keyId))!.backingKeyId, won[0]);
          assert.deepEqual((await store.listKeyMaterials(key.keyId)).map((m) => m.materialId), [key.backingKeyId, won[0]]);
          assert.equal((await store.getRotationSchedule(key.keyId)).onDemandRotations, 1);
        }));

      test('racing creations of one alias name: exactly one succeeds', () =>
        withStore(async (store) => {
          const keys = [makeKey(), makeKey(), makeKey(), makeKey()];
          for (const k of keys) await store.createKey(k, []);
          const outcomes = await Promise.allSettled(keys.map((k) => store.createAlias(alias('alias/contested', k.keyId))));
          assert.equal(outcomes.filter((o) => o.status === 'fulfilled').length, 1);
          for (const o of outcomes) if (o.status === 'rejected') assert.ok(o.reason instanceof StoreError && o.reason.code === 'CONFLICT', String(o.reason));
        }));

      test('per-key limits on grants and aliases hold when callers race for the last places', () =>
        withStore(async (store) => {
          const key = makeKey();
          const other = makeKey();
          await store.createKey(key, []);
          await store.createKey(other, []);
          const grants = await Promise.allSettled(Array.from({ length: 6 }, () => store.createGrant(makeGrant(key.keyId), { maxPerKey: 3 })));
          assert.equal(grants.filter((o) => o.status === 'fulfilled').length, 3);
          for (const o of grants) if (o.status === 'rejected') assert.ok(o.reason instanceof StoreError && o.reason.code === 'LIMIT_EXCEEDED', String(o.reason));
          assert.equal(await store.countGrants(key.keyId), 3);
          await assertStoreError(store.createGrant(makeGrant(randomUUID()), { maxPerKey: 3 }), 'NOT_FOUND');

          const aliases = await Promise.allSettled(Array.from({ length: 5 }, (_, i) => store.createAlias(alias(`alias/race-${i}`, key.keyId), { maxPerKey: 2 })));
          assert.equal(aliases.filter((o) => o.status === 'fulfilled').length, 2);
          assert.equal(await store.countAliases(key.keyId), 2);
          // Moving an alias onto a key that is full is refused too; onto the key it is on, it is not a new one.
          await store.createAlias(alias('alias/on-other', other.keyId));
          await assertStoreError(store.updateAlias('alias/on-other', key.keyId, T0 + 1, other.keyId, { maxPerKey: 2 }), 'LIMIT_EXCEEDED');
          assert.equal((await store.getAlias('alias/on-other'))?.keyId, other.keyId);
          const [first] = await store.listAliases({ keyId: key.keyId, limit: 1 });
          await store.updateAlias(first!.aliasName, key.keyId, T0 + 2, key.keyId, { maxPerKey: 2 });
        }));

      test('concurrent patches of different fields of one key lose none of them', () =>
        withStore(async (store) => {
          const key = makeKey();
          await store.createKey(key, []);
          await Promise.all([
            store.updateKey(key.keyId, { description: 'new description' }),
            store.updateKey(key.keyId, { policy: '{"Statement":[]}' }),
            store.updateKey(key.keyId, { state: 'Disabled' }),
          ]);
          const after = await store.getKey(key.keyId);
          assert.equal(after?.description, 'new description');
          assert.equal(after?.policy, '{"Statement":[]}');
          assert.equal(after?.state, 'Disabled');
        }));

      test('a second store on the same data sees every write of the first at once', async (t) => {
        const harness = await factory();
        const { another } = harness;
        if (another === undefined) {
          await harness.store.close();
          await harness.cleanup();
          t.skip('adapter gives no second connection');
          return;
        }
        let second: ContractStore | undefined;
        try {
          const first = harness.store;
          second = await another();
          const key = makeKey();
          await first.createKey(key, [{ key: 'k', value: 'v' }]);
          assert.deepEqual(await second.getKey(key.keyId), key);
          const grant = makeGrant(key.keyId);
          await second.createGrant(grant);
          assert.deepEqual(await first.getGrant(grant.grantId), grant);
          await first.updateKey(key.keyId, { state: 'Disabled' });
          assert.equal((await second.getKey(key.keyId))?.state, 'Disabled');
          // Both racing for the same alias through different connections: one wins.
          const outcomes = await Promise.allSettled([first.createAlias(alias('alias/both', key.keyId)), second.createAlias(alias('alias/both', key.keyId))]);
          assert.equal(outcomes.filter((o) => o.status === 'fulfilled').length, 1);
          // The per-path credential limit holds across connections too.
          const creds = await Promise.all(
            [first, second, first, second].map((s, i) =>
              s.xks.createXksCredential({ accessKeyId: `AKIAXKS${i}CONCURRENT2345`, uriPath: '/both/kms/xks/v1', sealedSecret: 'c2VhbGVk', createdAt: T0 + i }, 2),
            ),
          );
          assert.equal(creds.filter(Boolean).length, 2);
          // So does the count of custom key stores: 8 creations at once under a limit of 3 → 3 stores.
          const stores = await Promise.allSettled([first, second, first, second, first, second, first, second].map((s) => s.createCustomKeyStore(makeCustomKeyStore(), 3)));
          assert.equal(stores.filter((o) => o.status === 'fulfilled').length, 3);
          for (const o of stores) if (o.status === 'rejected') assert.equal((o.reason as { code?: string }).code, 'LIMIT_EXCEEDED');
          assert.equal(await first.countCustomKeyStores(), 3);
          await second.deleteKey(key.keyId);
          assert.equal(await first.getKey(key.keyId), undefined);
          assert.equal(await first.getGrant(grant.grantId), undefined);
        } finally {
          await harness.store.close();
          await second?.close();
          await harness.cleanup();
        }
      });
    });

    describe('background work claims', () => {
      test('one owner at a time until the lease ends; the holder renews; release frees it for others only', () =>
        withStore(async (store) => {
          assert.equal(await store.claimWork('delete:k1', 'node-a', T0, 60_000), true);
          assert.equal(await store.claimWork('delete:k1', 'node-b', T0 + 1000, 60_000), false);
          assert.equal(await store.claimWork('delete:k2', 'node-b', T0 + 1000, 60_000), true, 'another item is free');
          assert.equal(await store.claimWork('delete:k1', 'node-a', T0 + 2000, 60_000), true, 'the holder renews');
          assert.equal(await store.claimWork('delete:k1', 'node-b', T0 + 61_000, 60_000), false, 'the renewed lease still runs');
          assert.equal(await store.claimWork('delete:k1', 'node-b', T0 + 62_000, 60_000), true, 'an ended lease goes to whoever claims');
          await store.releaseWork('delete:k1', 'node-a'); // not the holder any more: no effect
          assert.equal(await store.claimWork('delete:k1', 'node-a', T0 + 63_000, 60_000), false);
          await store.releaseWork('delete:k1', 'node-b');
          assert.equal(await store.claimWork('delete:k1', 'node-a', T0 + 63_000, 60_000), true);
        }));

      test('many claimants at once: exactly one gets the item', () =>
        withStore(async (store) => {
          const results = await Promise.all(Array.from({ length: 8 }, (_, i) => store.claimWork('rotate:k', `node-${i}`, T0, 60_000)));
          assert.equal(results.filter(Boolean).length, 1);
        }));
    });

    describe('node reports', () => {
      test('one report per node and subject, replaced; read fresh ones by subject in node order; removed per node or by age', () =>
        withStore(async (store) => {
          await store.putNodeReport({ node: 'node-b', subject: 'cks-1', report: '{"v":1}', reportedAt: T0 });
          await store.putNodeReport({ node: 'node-a', subject: 'cks-1', report: '{"v":2}', reportedAt: T0 + 10 });
          await store.putNodeReport({ node: 'node-a', subject: 'cks-2', report: '{"other":true}', reportedAt: T0 + 10 });
          await store.putNodeReport({ node: 'node-b', subject: 'cks-1', report: '{"v":3}', reportedAt: T0 + 20 });
          assert.deepEqual(await store.nodeReports('cks-1', T0), [
            { node: 'node-a', subject: 'cks-1', report: '{"v":2}', reportedAt: T0 + 10 },
            { node: 'node-b', subject: 'cks-1', report: '{"v":3}', reportedAt: T0 + 20 },
          ]);
          assert.deepEqual((await store.nodeReports('cks-1', T0 + 15)).map((r) => r.node), ['node-b'], 'stale reports are left out');
          await store.deleteNodeReports({ node: 'node-a' });
          assert.deepEqual((await store.nodeReports('cks-1', 0)).map((r) => r.node), ['node-b']);
          assert.deepEqual(await store.nodeReports('cks-2', 0), []);
          await store.deleteNodeReports({ before: T0 + 21 });
          assert.deepEqual(await store.nodeReports('cks-1', 0), []);
        }));
    });

    describe('change feed', () => {
      /** Collects what a store's feed says; `heard(change)` waits (bounded) until that change came. */
      function listen(target: ContractStore): { heard: (change: StoreChange) => Promise<void>; clear: () => void; stop: () => void } {
        let seen: StoreChange[] = [];
        const stop = target.changes.subscribe((c) => seen.push(c));
        return {
          async heard(change) {
            for (let i = 0; i < 200 && !seen.includes(change); i++) await new Promise((r) => setTimeout(r, 10));
            assert.ok(seen.includes(change), `expected to hear ${change}; heard ${JSON.stringify(seen)}`);
          },
          clear: () => {
            seen = [];
          },
          stop,
        };
      }

      test('every write to what nodes keep in memory is heard, after it is readable', () =>
        withStore(async (store) => {
          const feed = listen(store);
          const key = makeKey();
          await store.createKey(key, []);
          const p = makePrincipal();
          const steps: Array<[StoreChange, () => Promise<unknown>]> = [
            ['principals', () => store.createPrincipal(p)],
            ['principals', () => store.putPrincipalPolicy(p.arn, 'extra', '{"Statement":[]}')],
            ['principals', () => store.createAccessKey({ accessKeyId: 'AKIACHANGEFEED000001', principalArn: p.arn, sealedSecret: 'c2VhbGVk', status: 'Active', createdAt: T0 })],
            ['principals', () => store.setAccessKeyStatus('AKIACHANGEFEED000001', 'Inactive')],
            ['principals', () => store.deleteAccessKey('AKIACHANGEFEED000001')],
            ['principals', () => store.deletePrincipalPolicy(p.arn, 'extra')],
            ['principals', () => store.deletePrincipal(p.arn)],
            ['custom-key-stores', () => store.createCustomKeyStore(makeCustomKeyStore({ id: 'cks-feed0000000000001', name: 'feed' }))],
            ['custom-key-stores', () => store.updateCustomKeyStore('cks-feed0000000000001', { wantConnected: true })],
            ['custom-key-stores', () => store.deleteCustomKeyStore('cks-feed0000000000001')],
            ['xks-keys', () => store.xks.createXksKey({ xksKeyId: 'feed-key', uriPath: '/kms/xks/v1', customKeyStoreId: null, backingKeyId: 'ab'.repeat(32), usage: ['ENCRYPT'], status: 'ENABLED', description: '', createdAt: T0 })],
            ['xks-keys', () => store.xks.setXksKeyStatus('feed-key', 'DISABLED')],
            ['xks-keys', () => store.xks.deleteXksKey('feed-key')],
            ['xks-credentials', () => store.xks.createXksCredential({ accessKeyId: 'FEEDCREDENTIAL234567', uriPath: '/kms/xks/v1', sealedSecret: 'c2VhbGVk', createdAt: T0 }, 2)],
            ['xks-credentials', () => store.xks.deleteXksCredential('FEEDCREDENTIAL234567')],
          ];
          for (const [change, write] of steps) {
            feed.clear();
            await write();
            await feed.heard(change);
          }
          feed.stop();
        }));

      // A one-node adapter's feed carries its own process's writes only.
      if (options.sharedByNodes === true) test('a store on the same database hears the other one\'s changes', async () => {
        const harness = await factory();
        let second: ContractStore | undefined;
        try {
          assert.ok(harness.another !== undefined, 'an adapter shared by nodes must give `another`');
          second = await harness.another();
          const feed = listen(second);
          await harness.store.createPrincipal(makePrincipal());
          await feed.heard('principals');
          await harness.store.createCustomKeyStore(makeCustomKeyStore());
          await feed.heard('custom-key-stores');
          feed.stop();
        } finally {
          await harness.store.close();
          await second?.close();
          await harness.cleanup();
        }
      });
    });

    describe('lifecycle', () => {
      test('close is idempotent and later calls reject with a StoreError', () =>
        withStore(async (store) => {
          await store.close();
          await store.close();
          await assertStoreError(store.getKey(randomUUID()), 'STORE_FAILED');
          await assertStoreError(store.createKey(makeKey(), []), 'STORE_FAILED');
        }));

      test('everything written is there after reopening', async (t) => {
        const harness = await factory();
        const reopen = harness.reopen;
        if (reopen === undefined) {
          await harness.store.close();
          await harness.cleanup();
          t.skip('adapter gives no reopen');
          return;
        }
        let reopened: MetadataStore | undefined;
        try {
          const { store } = harness;
          const kept = makeKey({ description: 'kept' });
          const gone = makeKey();
          const pending = makeKey({ state: 'PendingDeletion', deletionDate: T0, pendingWindowDays: 7 });
          await store.createKey(kept, [{ key: 'env', value: 'dev' }]);
          await store.createKey(gone, [{ key: 'x', value: 'y' }]);
          await store.createKey(pending, []);
          await store.createAlias(alias('alias/kept', kept.keyId));
          await store.createAlias(alias('alias/gone', gone.keyId));
          await store.putTags(kept.keyId, [{ key: 'env', value: 'prod' }, { key: 'team', value: 'pay' }]);
          await store.removeTags(kept.keyId, ['team']);
          const updated = await store.updateKey(kept.keyId, { state: 'Disabled', description: 'updated' });
          await store.deleteKey(gone.keyId);
          await store.close();

          reopened = await reopen();
          assert.deepEqual(await reopened.getKey(kept.keyId), updated);
          assert.deepEqual(await reopened.getKey(pending.keyId), pending);
          assert.equal(await reopened.getKey(gone.keyId), undefined);
          assert.deepEqual(await reopened.getAlias('alias/kept'), alias('alias/kept', kept.keyId));
          assert.equal(await reopened.getAlias('alias/gone'), undefined);
          assert.deepEqual(await reopened.listTags(kept.keyId, undefined, 10), [{ key: 'env', value: 'prod' }]);
          assert.deepEqual(await reopened.listTags(gone.keyId, undefined, 10), []);
          assert.deepEqual(
            (await reopened.keysDueForDeletion(T0)).map((k) => k.keyId),
            [pending.keyId],
          );
          // And the reopened store is writable.
          await reopened.createAlias(alias('alias/again', kept.keyId));
          assert.equal(await reopened.countAliases(kept.keyId), 2);
        } finally {
          await harness.store.close();
          await reopened?.close();
          await harness.cleanup();
        }
      });
    });
  });
}
