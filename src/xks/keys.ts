// XKS keys: the AES-256 keys AWS KMS uses through the proxy. Each is a non-extractable HSM object
// in a keybridge key store (the default store or a custom key store's cluster, which replicates
// and fails over as for KMS keys), named by the spec's externalKeyId and served under one
// XksProxyUriPath. The operator manages them (admin API, `keybridge xks keys`); AWS KMS only reads
// their metadata and encrypts and decrypts with them.

import { randomBytes, randomUUID } from 'node:crypto';
import { KmsError } from '../domain/errors.js';
import type { BackingKeyRef, Hsm } from '../ports/hsm.js';
import type { KeyStores } from '../ports/key-stores.js';
import type { MetadataStore } from '../ports/store.js';
import { StoreError } from '../ports/store.js';
import type { XksKeyRecord, XksKeyUsage, XksStore } from '../ports/xks-store.js';

export interface XksKeysDeps {
  readonly xks: XksStore;
  readonly store: MetadataStore;
  readonly keyStores: KeyStores;
  /** The default key store's HSM. */
  readonly defaultHsm: Hsm;
  readonly accountId: string;
  readonly now: () => number;
}

export interface NewXksKey {
  readonly uriPath: string;
  readonly xksKeyId?: string | undefined;
  readonly customKeyStoreId?: string | undefined;
  readonly description?: string | undefined;
  readonly usage?: readonly XksKeyUsage[] | undefined;
}

/**
 * The HSM object's label. It starts with "arn:" like a KMS key's, so a keybridge-replicated
 * cluster copies and re-syncs it to every member as it does KMS keys; reconciliation knows it by
 * its id (XksKeys.backingKeyIds).
 */
export function xksBackingKeyLabel(accountId: string, xksKeyId: string): string {
  return `arn:keybridge:xks-proxy::${accountId}:key/${xksKeyId}`;
}

export class XksKeys {
  /**
   * Records by id, read once: every proxy call looks its key up. This process's changes update the
   * entry before they answer; every other node's reach us through the store's change feed, which
   * calls forget() (compose-xks.ts).
   */
  readonly #cache = new Map<string, XksKeyRecord>();
  /** Bumped by forget(): a read that started before must not put its (maybe stale) record back. */
  #generation = 0;

  constructor(private readonly deps: XksKeysDeps) {}

  async get(xksKeyId: string): Promise<XksKeyRecord | undefined> {
    const cached = this.#cache.get(xksKeyId);
    if (cached !== undefined) return cached;
    const generation = this.#generation;
    const record = await this.deps.xks.getXksKey(xksKeyId);
    if (record !== undefined && generation === this.#generation) this.#cache.set(xksKeyId, record);
    return record;
  }

  /** Drops every cached record: the store changed under us (another node). */
  forget(): void {
    this.#generation++;
    this.#cache.clear();
  }

  list(uriPath?: string): Promise<XksKeyRecord[]> {
    return this.deps.xks.listXksKeys(uriPath);
  }

  refOf(key: XksKeyRecord): BackingKeyRef {
    return { id: key.backingKeyId, label: xksBackingKeyLabel(this.deps.accountId, key.xksKeyId) };
  }

  /**
   * The HSM that holds the key. A custom key store that is not CONNECTED throws KmsError
   * CustomKeyStoreInvalidStateException (the proxy answers InvalidStateException).
   */
  hsmOf(key: Pick<XksKeyRecord, 'customKeyStoreId'>): Hsm {
    return key.customKeyStoreId === null ? this.deps.defaultHsm : this.deps.keyStores.hsmForStore(key.customKeyStoreId);
  }

  /**
   * Generates the key in its store's HSM, then records it. Refused (KmsError) when the id is
   * taken, the custom key store does not exist or is not connected, or the store's HSM has no
   * AES-GCM (the XKS API is AES-GCM only).
   */
  async create(input: NewXksKey): Promise<XksKeyRecord> {
    const xksKeyId = input.xksKeyId ?? randomUUID();
    if ((await this.deps.xks.getXksKey(xksKeyId)) !== undefined) throw alreadyExists(xksKeyId);
    const customKeyStoreId = input.customKeyStoreId ?? null;
    const store = customKeyStoreId === null ? undefined : await this.deps.store.getCustomKeyStore(customKeyStoreId);
    if (customKeyStoreId !== null && store === undefined) {
      throw new KmsError('CustomKeyStoreNotFoundException', `Custom key store ${customKeyStoreId} does not exist.`);
    }
    if (store?.type === 'EXTERNAL_KEY_STORE') {
      throw new KmsError('UnsupportedOperationException', `Custom key store ${customKeyStoreId} is itself an external key store; an XKS key lives in keybridge's HSMs (the default key store or a CloudHSM-type store).`);
    }
    const hsm = this.hsmOf({ customKeyStoreId });
    const suite = await hsm.symmetricSuite();
    if (!('suite' in suite) || suite.suite !== 'AES_256_GCM') {
      const why = 'refusal' in suite ? suite.refusal : `its symmetric keys use ${suite.suite}`;
      throw new KmsError('UnsupportedOperationException', `XKS keys need AES-GCM in the key store's HSM, and ${customKeyStoreId ?? 'the default key store'} cannot: ${why}.`);
    }
    const record: XksKeyRecord = {
      xksKeyId,
      uriPath: input.uriPath,
      customKeyStoreId,
      backingKeyId: randomBytes(32).toString('hex'),
      usage: input.usage ?? ['ENCRYPT', 'DECRYPT'],
      status: 'ENABLED',
      description: input.description ?? '',
      createdAt: this.deps.now(),
    };
    const ref = this.refOf(record);
    // The object first, then the record: a crash between them leaves an orphan object, never a
    // record without its key (reconciliation reports orphans).
    await hsm.generateSymmetricKey(ref, 'AES_256_GCM');
    try {
      await this.deps.xks.createXksKey(record);
    } catch (err) {
      await hsm.destroySymmetricKey(ref).catch(() => undefined);
      if (err instanceof StoreError && err.code === 'CONFLICT') throw alreadyExists(xksKeyId);
      throw err;
    }
    return record;
  }

  async setStatus(xksKeyId: string, status: XksKeyRecord['status']): Promise<XksKeyRecord> {
    try {
      const record = await this.deps.xks.setXksKeyStatus(xksKeyId, status);
      this.#cache.set(xksKeyId, record);
      return record;
    } catch (err) {
      if (err instanceof StoreError && err.code === 'NOT_FOUND') throw notFound(xksKeyId);
      throw err;
    }
  }

  /**
   * Destroys a DISABLED key's HSM object, then its record. Like AWS KMS's deletion, it cannot be
   * undone: every ciphertext under it is lost, so an ENABLED key is refused.
   */
  async delete(xksKeyId: string): Promise<void> {
    const key = await this.deps.xks.getXksKey(xksKeyId);
    if (key === undefined) throw notFound(xksKeyId);
    if (key.status !== 'DISABLED') {
      throw new KmsError('KMSInvalidStateException', `XKS key ${xksKeyId} is ENABLED; disable it before deleting it.`);
    }
    // Unusable from here on, whatever happens next.
    this.#cache.delete(xksKeyId);
    await this.hsmOf(key).destroySymmetricKey(this.refOf(key));
    await this.deps.xks.deleteXksKey(xksKeyId);
  }

  /** Ids of every XKS key's HSM object (for reconciliation and store deletion). */
  async backingKeyIds(customKeyStoreId: string | null): Promise<Set<string>> {
    return new Set((await this.deps.xks.listXksKeys()).filter((k) => k.customKeyStoreId === customKeyStoreId).map((k) => k.backingKeyId));
  }
}

function alreadyExists(xksKeyId: string): KmsError {
  return new KmsError('AlreadyExistsException', `An XKS key with id ${xksKeyId} already exists.`);
}

export function notFound(xksKeyId: string): KmsError {
  return new KmsError('NotFoundException', `XKS key ${xksKeyId} does not exist.`);
}
