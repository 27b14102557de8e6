// A fixed set of access keys, looked up by id. The foundation's only CredentialsProvider: the
// operator's keys come from the credentials file at start and do not change while running.

import type { AccessKey, CredentialsProvider } from '../ports/principals.js';

export class StaticCredentials implements CredentialsProvider {
  private readonly byId = new Map<string, AccessKey>();

  /** Throws on a repeated access key id: two secrets for one id would make lookups ambiguous. */
  constructor(keys: Iterable<AccessKey>) {
    for (const key of keys) {
      if (this.byId.has(key.accessKeyId)) {
        throw new Error(`duplicate access key id ${key.accessKeyId}`);
      }
      this.byId.set(key.accessKeyId, key);
    }
  }

  lookup(accessKeyId: string): AccessKey | undefined {
    return this.byId.get(accessKeyId);
  }
}
