// The CredentialsProvider of a running keybridge: access keys of the principals in the metadata
// store (users and roles created through the admin API), plus the operator's keys from the
// credentials file (the account's root principal).
//
// Secrets are stored only sealed under the HSM's internal key (SecretSealer); they are unsealed
// into memory when the server starts and when a key is created, so that lookup() — called for
// every request by the SigV4 verifier — stays synchronous and never touches the HSM.
//
// WARNING: a key the store knows (or knew: deleted ids are remembered) is never answered from the
// credentials file. An operator's file may still hold a deleted user's profile; that copy must not
// come back as the root principal.

import type { Logger } from 'pino';
import type { AccessKey, CredentialsProvider, Principal } from '../ports/principals.js';
import type { AccessKeyRecord, MetadataStore, PrincipalRecord } from '../ports/store.js';
import type { SecretSealer } from '../services/secret-sealer.js';
import { generateAccessKey } from './credentials-file.js';

export interface PrincipalCredentialsOptions {
  readonly store: MetadataStore;
  readonly sealer: SecretSealer;
  /** The operator's keys from the credentials file. */
  readonly operatorKeys: readonly AccessKey[];
  readonly logger: Logger;
}

/** The sealing context binds each sealed secret to its access key id. */
function sealContext(accessKeyId: string): string {
  return `access-key:${accessKeyId}`;
}

export function principalOf(record: PrincipalRecord, accessKeyId: string): Principal {
  return {
    arn: record.arn,
    accountId: record.accountId,
    type: record.type === 'User' ? 'IAMUser' : 'AssumedRole',
    ...(record.type === 'User' ? { userName: record.name } : {}),
    accessKeyId,
    identityPolicies: Object.values(record.policies),
  };
}

export class PrincipalCredentials implements CredentialsProvider {
  readonly #store: MetadataStore;
  readonly #sealer: SecretSealer;
  readonly #operatorKeys: readonly AccessKey[];
  readonly #logger: Logger;
  /** Unsealed secrets by access key id; a key's secret never changes, so this only grows or shrinks. */
  readonly #secrets = new Map<string, string>();
  #byId: ReadonlyMap<string, AccessKey> = new Map();
  #refreshing: Promise<void> = Promise.resolve();

  constructor(options: PrincipalCredentialsOptions) {
    this.#store = options.store;
    this.#sealer = options.sealer;
    this.#operatorKeys = options.operatorKeys;
    this.#logger = options.logger;
  }

  lookup(accessKeyId: string): AccessKey | undefined {
    return this.#byId.get(accessKeyId);
  }

  /**
   * Reloads principals and keys from the store. Call once at start and after every change (the
   * admin operations do). Refreshes run one at a time; the new table replaces the old at once.
   */
  refresh(): Promise<void> {
    const next = this.#refreshing.catch(() => undefined).then(() => this.#reload());
    this.#refreshing = next;
    return next;
  }

  /**
   * Issues a new Active key for `principalArn`: generated here, stored sealed, live on return.
   * The only place the plaintext secret leaves keybridge is the caller's response.
   */
  async createAccessKey(principalArn: string, now: number): Promise<{ record: AccessKeyRecord; secretAccessKey: string }> {
    const { accessKeyId, secretAccessKey } = generateAccessKey();
    const record: AccessKeyRecord = {
      accessKeyId,
      principalArn,
      sealedSecret: await this.#sealer.seal(secretAccessKey, sealContext(accessKeyId)),
      status: 'Active',
      createdAt: now,
    };
    await this.#store.createAccessKey(record);
    this.#secrets.set(accessKeyId, secretAccessKey);
    await this.refresh();
    return { record, secretAccessKey };
  }

  async #reload(): Promise<void> {
    const byId = new Map<string, AccessKey>();
    const principals = new Map<string, PrincipalRecord>();
    const keys = await this.#store.listAccessKeys();
    const live = new Set<string>();
    for (const key of keys) {
      live.add(key.accessKeyId);
      let principal = principals.get(key.principalArn);
      if (principal === undefined) {
        principal = await this.#store.getPrincipal(key.principalArn);
        if (principal === undefined) continue; // deleted between the two reads; gone next time
        principals.set(key.principalArn, principal);
      }
      if (key.status !== 'Active') continue;
      let secret = this.#secrets.get(key.accessKeyId);
      if (secret === undefined) {
        try {
          secret = await this.#sealer.unseal(key.sealedSecret, sealContext(key.accessKeyId));
        } catch (err) {
          // One unreadable key must not lock every other principal out.
          this.#logger.error({ err, accessKeyId: key.accessKeyId }, 'cannot unseal an access key; it will not authenticate');
          continue;
        }
        this.#secrets.set(key.accessKeyId, secret);
      }
      byId.set(key.accessKeyId, { accessKeyId: key.accessKeyId, secretAccessKey: secret, principal: principalOf(principal, key.accessKeyId) });
    }
    for (const id of this.#secrets.keys()) if (!live.has(id)) this.#secrets.delete(id);

    for (const key of this.#operatorKeys) {
      if (live.has(key.accessKeyId) || byId.has(key.accessKeyId)) continue;
      if (await this.#store.isAccessKeyDeleted(key.accessKeyId)) {
        this.#logger.warn({ accessKeyId: key.accessKeyId }, 'the credentials file holds a deleted access key; ignoring it');
        continue;
      }
      byId.set(key.accessKeyId, { ...key, principal: { ...key.principal, accessKeyId: key.accessKeyId, identityPolicies: key.principal.identityPolicies ?? [] } });
    }
    this.#byId = byId;
  }
}
