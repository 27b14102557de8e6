// The XKS proxy's records (issue #15, face 1): the external keys AWS KMS may use through the
// proxy, and the SigV4 credential sets AWS KMS signs with, per URI path. No key material and no
// plaintext secret passes through it: keys are HSM objects named by id, secrets are sealed.
//
// Implemented by the metadata store's adapters next to the MetadataStore port (same database,
// same durability contract: a resolved promise is durable).

/** What an XKS key may be used for (the spec's keyUsage values keybridge offers). */
export type XksKeyUsage = 'ENCRYPT' | 'DECRYPT';
export type XksKeyStatus = 'ENABLED' | 'DISABLED';

export interface XksKeyRecord {
  /** The spec's externalKeyId: 1–128 of [A-Za-z0-9._-]; unique across the proxy. */
  readonly xksKeyId: string;
  /** The XksProxyUriPath the key is served under (…/kms/xks/v1); other paths do not see it. */
  readonly uriPath: string;
  /** The key store whose HSM holds it; null = the default key store. */
  readonly customKeyStoreId: string | null;
  /** Hex CKA_ID of the AES-256 object in that HSM. */
  readonly backingKeyId: string;
  readonly usage: readonly XksKeyUsage[];
  readonly status: XksKeyStatus;
  readonly description: string;
  readonly createdAt: number;
}

export interface XksCredentialRecord {
  /** 20–30 of A–Z2–7 (the spec's Appendix A). */
  readonly accessKeyId: string;
  readonly uriPath: string;
  /** The raw secret sealed by SecretSealer, bound to the access key id; never plaintext. */
  readonly sealedSecret: string;
  readonly createdAt: number;
}

export interface XksStore {
  /** CONFLICT if the id exists. */
  createXksKey(key: XksKeyRecord): Promise<void>;
  getXksKey(xksKeyId: string): Promise<XksKeyRecord | undefined>;
  /** Ordered by id; only one URI path's keys when given. */
  listXksKeys(uriPath?: string): Promise<XksKeyRecord[]>;
  /** NOT_FOUND if absent. Returns the updated record. */
  setXksKeyStatus(xksKeyId: string, status: XksKeyStatus): Promise<XksKeyRecord>;
  /** Resolves false if it did not exist. */
  deleteXksKey(xksKeyId: string): Promise<boolean>;

  /**
   * Inserts a credential unless its URI path already has `maxPerPath` (checked and inserted in one
   * transaction, so two callers cannot both take the last place). Resolves false when full;
   * CONFLICT if the access key id exists.
   */
  createXksCredential(credential: XksCredentialRecord, maxPerPath: number): Promise<boolean>;
  getXksCredential(accessKeyId: string): Promise<XksCredentialRecord | undefined>;
  /** Ordered by URI path, then creation; only one path's when given. */
  listXksCredentials(uriPath?: string): Promise<XksCredentialRecord[]>;
  /** Resolves false if it did not exist. */
  deleteXksCredential(accessKeyId: string): Promise<boolean>;
}
