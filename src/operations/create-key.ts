import { randomBytes, randomUUID } from 'node:crypto';
import { z } from 'zod';
import { keyArn } from '../domain/arn.js';
import { KmsError } from '../domain/errors.js';
import { MAX_TAGS_PER_KEY, type KeyRecord } from '../domain/key.js';
import { defaultKeyPolicy, validateKeyPolicy } from '../domain/key-policy.js';
import { assertCallerKeepsControl } from './authorization.js';
import { algorithmsOf, isHmacSpec, isKeySpec, type AsymmetricKeySpec, type HmacSpec, type KeySpec, type KeyUsage } from '../domain/key-spec.js';
import { HsmError, type Hsm } from '../ports/hsm.js';
import { hsmCall, toKmsError } from './hsm-errors.js';
import { assertImportableSpec, assertSymmetricImportable } from './import-access.js';
import { keyMetadata } from './key-metadata.js';
import { defineOperation, type OperationDeps } from './operation.js';
import { backingKeyRef } from './symmetric-crypto.js';
import { checkTags } from './tags.js';
import { checkExternalKey } from './xks-key-access.js';
import { NOT_CONNECTED_MESSAGE } from '../xks-client/kms-answers.js';
import { StoreError } from '../ports/store.js';
import { str, tagList } from './wire.js';

const KEY_SPECS = ['RSA_2048', 'RSA_3072', 'RSA_4096', 'ECC_NIST_P256', 'ECC_NIST_P384', 'ECC_NIST_P521', 'ECC_SECG_P256K1', 'SYMMETRIC_DEFAULT', 'HMAC_224', 'HMAC_256', 'HMAC_384', 'HMAC_512', 'SM2', 'ML_DSA_44', 'ML_DSA_65', 'ML_DSA_87', 'ECC_NIST_EDWARDS25519'] as const;
const CMK_SPECS = ['RSA_2048', 'RSA_3072', 'RSA_4096', 'ECC_NIST_P256', 'ECC_NIST_P384', 'ECC_NIST_P521', 'ECC_SECG_P256K1', 'SYMMETRIC_DEFAULT', 'HMAC_224', 'HMAC_256', 'HMAC_384', 'HMAC_512', 'SM2'] as const;

/**
 * The store must exist, be of the origin's type, be CONNECTED, and (CloudHSM) have enough active
 * cluster members (AWS: two).
 */
async function checkStoreCanCreateKeys(deps: OperationDeps, customKeyStoreId: string, origin: string): Promise<string> {
  const store = await deps.store.getCustomKeyStore(customKeyStoreId);
  if (!store) throw new KmsError('CustomKeyStoreNotFoundException', `Custom key store ${customKeyStoreId} does not exist.`);
  const expected = store.type === 'EXTERNAL_KEY_STORE' ? 'EXTERNAL_KEY_STORE' : 'AWS_CLOUDHSM';
  if (origin !== expected) {
    throw new KmsError('ValidationException', `A key in custom key store ${customKeyStoreId} must be created with Origin ${expected}.`);
  }
  const state = deps.keyStores.stateOf(store);
  if (state !== 'CONNECTED') {
    throw new KmsError(
      'CustomKeyStoreInvalidStateException',
      store.type === 'EXTERNAL_KEY_STORE' ? NOT_CONNECTED_MESSAGE : `Custom key store ${customKeyStoreId} is ${state}; it must be CONNECTED to create keys.`,
    );
  }
  if (store.type === 'EXTERNAL_KEY_STORE') return store.id;
  const needed = deps.keyStores.cluster(store.clusterId)?.minActiveMembersForCreateKey ?? 1;
  const active = deps.keyStores.activeMembers(customKeyStoreId);
  if (active < needed) {
    throw new KmsError(
      'CloudHsmClusterInvalidConfigurationException',
      `Cluster ${store.clusterId} has ${active} active HSM${active === 1 ? '' : 's'}; creating a key needs ${needed}.`,
    );
  }
  return store.id;
}

/**
 * Generates the key's material in its HSM: an AES key, an HMAC key or a key pair. Refuses, before
 * anything is generated, a spec and usage the HSM lacks a mechanism for (never emulated).
 * Resolves the public key (DER SPKI, base64) for key pairs, null otherwise.
 */
async function generateKeyMaterial(hsm: Hsm, key: KeyRecord): Promise<Pick<KeyRecord, 'publicKey' | 'suite'>> {
  const ref = backingKeyRef(key);
  if (key.keySpec === 'SYMMETRIC_DEFAULT') {
    // AES-GCM where the token has it, the CBC-HMAC suite otherwise (or as configured).
    const choice = await hsmCall(() => hsm.symmetricSuite());
    if ('refusal' in choice) throw unsupported(key, choice.refusal);
    await hsmCall(() => hsm.generateSymmetricKey(ref, choice.suite));
    // Absent means AES_256_GCM (KeyRecord.suite).
    return { publicKey: null, ...(choice.suite === 'AES_256_GCM' ? {} : { suite: choice.suite }) };
  }
  const missing = await hsmCall(() => hsm.missingMechanism(key.keySpec, key.keyUsage));
  if (missing !== undefined) throw unsupported(key, missing);
  if (isHmacSpec(key.keySpec)) {
    await hsmCall(() => hsm.generateMacKey(ref, key.keySpec as HmacSpec));
    return { publicKey: null };
  }
  const spec = key.keySpec as AsymmetricKeySpec;
  try {
    return { publicKey: (await hsm.generateKeyPair(ref, spec, key.keyUsage)).toString('base64') };
  } catch (err) {
    if (err instanceof HsmError && err.code === 'HSM_UNSUPPORTED') {
      throw new KmsError('UnsupportedOperationException', `KeySpec ${key.keySpec} is not supported by the HSM of this key store: it refused the curve.`, { cause: err });
    }
    throw toKmsError(err);
  }
}

function unsupported(key: KeyRecord, why: string): KmsError {
  return new KmsError('UnsupportedOperationException', `KeySpec ${key.keySpec} with KeyUsage ${key.keyUsage} is not supported by the HSM of this key store: ${why}.`);
}

export const createKey = defineOperation({
  name: 'CreateKey',
  input: z.object({
    Policy: str(1, 131072).optional(),
    Description: str(0, 8192).optional(),
    KeyUsage: z.enum(['SIGN_VERIFY', 'ENCRYPT_DECRYPT', 'GENERATE_VERIFY_MAC', 'KEY_AGREEMENT']).optional(),
    CustomerMasterKeySpec: z.enum(CMK_SPECS).optional(),
    KeySpec: z.enum(KEY_SPECS).optional(),
    Origin: z.enum(['AWS_KMS', 'EXTERNAL', 'AWS_CLOUDHSM', 'EXTERNAL_KEY_STORE']).optional(),
    CustomKeyStoreId: str(1, 64).optional(),
    BypassPolicyLockoutSafetyCheck: z.boolean().optional(),
    Tags: tagList.optional(),
    MultiRegion: z.boolean().optional(),
    XksKeyId: str(1, 128).optional(),
  }),
  async run(ctx, deps, input) {
    if (input.KeySpec && input.CustomerMasterKeySpec && input.KeySpec !== input.CustomerMasterKeySpec) {
      throw new KmsError('ValidationException', 'You cannot specify KeySpec and CustomerMasterKeySpec in the same request. CustomerMasterKeySpec is deprecated.');
    }
    const requestedSpec = input.KeySpec ?? input.CustomerMasterKeySpec ?? 'SYMMETRIC_DEFAULT';
    if (!isKeySpec(requestedSpec)) {
      throw new KmsError('UnsupportedOperationException', `KeySpec ${requestedSpec} is not supported by keybridge.`);
    }
    const keySpec: KeySpec = requestedSpec;
    if (keySpec !== 'SYMMETRIC_DEFAULT' && input.KeyUsage === undefined) {
      throw new KmsError('ValidationException', 'You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys.');
    }
    const keyUsage: KeyUsage = input.KeyUsage ?? 'ENCRYPT_DECRYPT';
    if (algorithmsOf(keySpec, keyUsage) === undefined) {
      throw new KmsError('ValidationException', `KeyUsage ${keyUsage} is not compatible with KeySpec ${keySpec}.`);
    }
    const origin = input.Origin ?? 'AWS_KMS';
    if (origin === 'EXTERNAL') assertImportableSpec(keySpec);
    if ((input.XksKeyId !== undefined) !== (origin === 'EXTERNAL_KEY_STORE')) {
      throw new KmsError('ValidationException', input.XksKeyId === undefined ? 'Origin EXTERNAL_KEY_STORE requires an XksKeyId.' : 'XksKeyId is allowed only with Origin EXTERNAL_KEY_STORE.');
    }
    if (input.XksKeyId !== undefined && !/^[a-zA-Z0-9\-_.]+$/.test(input.XksKeyId)) {
      throw new KmsError('ValidationException', `1 validation error detected: Value '${input.XksKeyId}' at 'xksKeyId' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9-_.]+$`);
    }
    if ((origin === 'AWS_CLOUDHSM' || origin === 'EXTERNAL_KEY_STORE') && input.CustomKeyStoreId === undefined) {
      throw new KmsError('ValidationException', `Origin ${origin} requires a CustomKeyStoreId.`);
    }
    if (origin === 'EXTERNAL_KEY_STORE' && (keySpec !== 'SYMMETRIC_DEFAULT' || keyUsage !== 'ENCRYPT_DECRYPT')) {
      throw new KmsError('UnsupportedOperationException', 'A key in an external key store must have KeySpec SYMMETRIC_DEFAULT and KeyUsage ENCRYPT_DECRYPT.');
    }
    if (input.MultiRegion) {
      throw new KmsError('UnsupportedOperationException', 'Multi-Region keys are not supported by keybridge.');
    }
    if (input.Policy !== undefined) validateKeyPolicy(input.Policy);
    const tags = checkTags(input.Tags ?? []);
    if (tags.length > MAX_TAGS_PER_KEY) {
      throw new KmsError('LimitExceededException', `A KMS key can have at most ${MAX_TAGS_PER_KEY} tags; this request gives ${tags.length}.`);
    }

    const customKeyStoreId = input.CustomKeyStoreId === undefined ? null : await checkStoreCanCreateKeys(deps, input.CustomKeyStoreId, origin);
    const keyId = randomUUID();
    const arn = keyArn(deps.account, keyId);
    if (input.Policy !== undefined) assertCallerKeepsControl(ctx, deps, input.Policy, arn, input.BypassPolicyLockoutSafetyCheck);
    const key: KeyRecord = {
      keyId,
      arn,
      accountId: deps.account.accountId,
      region: deps.account.region,
      createdAt: deps.clock.now(),
      description: input.Description ?? '',
      keyUsage,
      keySpec,
      origin,
      customKeyStoreId,
      // EXTERNAL: no material until ImportKeyMaterial brings it (its id is computed from it then).
      state: origin === 'EXTERNAL' ? 'PendingImport' : 'Enabled',
      deletionDate: null,
      pendingWindowDays: null,
      policy: input.Policy ?? defaultKeyPolicy(deps.account),
      backingKeyId: origin === 'EXTERNAL' ? '' : randomBytes(32).toString('hex'),
      ...(input.XksKeyId === undefined ? {} : { xksKeyId: input.XksKeyId }),
    };
    // The external key must exist at the proxy and be usable, as AWS KMS checks with GetKeyMetadata.
    if (origin === 'EXTERNAL_KEY_STORE') await checkExternalKey(deps, key, ctx);
    if (origin === 'EXTERNAL') {
      await assertSymmetricImportable(deps.keyStores.hsmFor(key), keySpec);
      await deps.store.createKey(key, tags);
      return { KeyMetadata: await keyMetadata(deps, key) };
    }
    // Durability order: the HSM object first, then the metadata. A crash in between leaves an
    // HSM object no client can reach; start-up reconciliation reports it and never uses it.
    const hsm = deps.keyStores.hsmFor(key);
    const created: KeyRecord = { ...key, ...(await generateKeyMaterial(hsm, key)) };
    try {
      await deps.store.createKey(created, tags);
    } catch (err) {
      await hsm.destroySymmetricKey(backingKeyRef(key)).catch((cleanupErr: unknown) => {
        deps.logger.error({ err: cleanupErr, keyId }, 'could not remove the backing key of a key whose metadata failed to save');
      });
      // The only unique constraint a new key can meet: one KMS key per external key in a store.
      if (err instanceof StoreError && err.code === 'CONFLICT' && key.xksKeyId !== undefined) {
        throw new KmsError('XksKeyAlreadyInUseException', `External key ${key.xksKeyId} is already associated with another KMS key in custom key store ${key.customKeyStoreId}.`);
      }
      throw err;
    }
    return { KeyMetadata: await keyMetadata(deps, created) };
  },
});
