// The SigV4 credential sets AWS KMS signs proxy requests with: per XksProxyUriPath, at most two at
// once (the spec: so one can be rotated while the other works). Secrets are generated here, stored
// only sealed under the default key store's HSM (as custom-key-store passwords and access keys
// are), and held unsealed in memory to verify signatures.

import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { AccessKey, CredentialsProvider } from '../ports/principals.js';
import type { XksCredentialRecord, XksStore } from '../ports/xks-store.js';
import type { SecretSealer } from '../services/secret-sealer.js';

/** The spec's "SHOULD accept two credential sets per path prefix at once". */
export const MAX_CREDENTIALS_PER_PATH = 2;

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** Binds each sealed secret to its access key id and URI path. */
function sealContext(accessKeyId: string, uriPath: string): string {
  return `xks-credential:${accessKeyId}:${uriPath}`;
}

/** 26 of A–Z2–7 (the spec: 20–30) from 128 random bits, "XKS" first so operators can tell them apart. */
function newAccessKeyId(): string {
  const bytes = randomBytes(15);
  let out = 'XKS';
  let bits = 0;
  let value = 0;
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5 && out.length < 26) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return out;
}

/** 43 of [A-Za-z0-9/+] (the spec: 43–64 of [A-Za-z0-9/+=]): 256 random bits, unpadded base64. */
function newSecret(): string {
  return randomBytes(32).toString('base64').replace(/=+$/, '');
}

export interface XksCredentialsOptions {
  readonly store: XksStore;
  readonly sealer: SecretSealer;
  readonly logger: Logger;
}

interface LiveCredential {
  readonly key: AccessKey;
  readonly uriPath: string;
}

export class XksCredentials implements CredentialsProvider {
  readonly #store: XksStore;
  readonly #sealer: SecretSealer;
  readonly #logger: Logger;
  #byId: ReadonlyMap<string, LiveCredential> = new Map();
  #paths: ReadonlySet<string> = new Set();
  #refreshing: Promise<void> = Promise.resolve();

  constructor(options: XksCredentialsOptions) {
    this.#store = options.store;
    this.#sealer = options.sealer;
    this.#logger = options.logger;
  }

  lookup(accessKeyId: string): AccessKey | undefined {
    return this.#byId.get(accessKeyId)?.key;
  }

  /** The URI path a credential belongs to; a request signed with it is valid only there. */
  uriPathOf(accessKeyId: string): string | undefined {
    return this.#byId.get(accessKeyId)?.uriPath;
  }

  /** Whether any credential serves this URI path (else the path is not configured at all). */
  hasPath(uriPath: string): boolean {
    return this.#paths.has(uriPath);
  }

  /** Reloads from the store; one at a time, the new table replacing the old at once. */
  refresh(): Promise<void> {
    const next = this.#refreshing.catch(() => undefined).then(() => this.#reload());
    this.#refreshing = next;
    return next;
  }

  /**
   * A new credential for `uriPath`, live on return; undefined when the path already has the
   * maximum. The only time the secret leaves keybridge is the caller's response.
   */
  async create(uriPath: string, now: number): Promise<{ record: XksCredentialRecord; secret: string } | undefined> {
    const accessKeyId = newAccessKeyId();
    const secret = newSecret();
    const record: XksCredentialRecord = { accessKeyId, uriPath, sealedSecret: await this.#sealer.seal(secret, sealContext(accessKeyId, uriPath)), createdAt: now };
    if (!(await this.#store.createXksCredential(record, MAX_CREDENTIALS_PER_PATH))) return undefined;
    await this.refresh();
    return { record, secret };
  }

  /** The stored credentials (sealed: for listing, never for their secrets). */
  list(uriPath?: string): Promise<XksCredentialRecord[]> {
    return this.#store.listXksCredentials(uriPath);
  }

  /** Removes a credential; requests signed with it fail from the moment this resolves. */
  async delete(accessKeyId: string): Promise<boolean> {
    const deleted = await this.#store.deleteXksCredential(accessKeyId);
    await this.refresh();
    return deleted;
  }

  async #reload(): Promise<void> {
    const byId = new Map<string, LiveCredential>();
    const paths = new Set<string>();
    for (const record of await this.#store.listXksCredentials()) {
      paths.add(record.uriPath);
      const known = this.#byId.get(record.accessKeyId);
      if (known !== undefined) {
        byId.set(record.accessKeyId, known);
        continue;
      }
      let secret: string;
      try {
        secret = await this.#sealer.unseal(record.sealedSecret, sealContext(record.accessKeyId, record.uriPath));
      } catch (err) {
        // One unreadable credential must not take the others down.
        this.#logger.error({ err, accessKeyId: record.accessKeyId }, 'cannot unseal an XKS proxy credential; it will not authenticate');
        continue;
      }
      byId.set(record.accessKeyId, {
        uriPath: record.uriPath,
        key: {
          accessKeyId: record.accessKeyId,
          secretAccessKey: secret,
          // AWS KMS itself, as the holder of this external key store's credential.
          principal: { arn: `keybridge:xks-proxy-credential${record.uriPath}`, accountId: '', type: 'IAMUser', accessKeyId: record.accessKeyId },
        },
      });
    }
    this.#byId = byId;
    this.#paths = paths;
  }
}
