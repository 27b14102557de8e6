// Finding the key a request names: parse the identifier, follow an alias, load the record — once
// per request, by authorization (operations/authorization.ts), which then decides on exactly the
// records it found. Operations read those records from the request's ResolvedKeys; they never
// look a key up in the store themselves.
//
// WARNING: an operation that resolved a key on its own (an alias re-pointed between the decision
// and the operation would lead it to a key nobody authorized) is the bug this module prevents.
// resolveKey, resolveKeyById and keyById throw KMSInternalException for any identifier the
// decision did not resolve, so a rule table that forgets a member fails closed, in tests.

import { aliasArn, keyArn } from '../domain/arn.js';
import { invalidCiphertext } from '../domain/ciphertext-blob.js';
import { keyIdOfBlob } from '../domain/xks-ciphertext-blob.js';
import { KmsError } from '../domain/errors.js';
import type { KeyRecord } from '../domain/key.js';
import { parseKeyRef } from '../domain/key-ref.js';
import type { OperationDeps } from './operation.js';

type Lookup = { readonly key: KeyRecord } | { readonly error: KmsError };

/**
 * The keys one request's authorization resolved, each read from the store once. Owned by that
 * request; handed to its operation through deps.resolvedKeys.
 */
export class ResolvedKeys {
  readonly #byText = new Map<string, Lookup>();
  readonly #byKeyId = new Map<string, KeyRecord | undefined>();

  /**
   * Resolves a KeyId-shaped member (`allowAlias`: key id, key ARN, alias name or alias ARN; else
   * key id or key ARN only) and remembers the outcome. Throws NotFoundException (or
   * InvalidArnException) with AWS's messages when it names no key.
   */
  async resolve(deps: OperationDeps, text: string, allowAlias: boolean): Promise<KeyRecord> {
    const slot = textSlot(text, allowAlias);
    let found = this.#byText.get(slot);
    if (found === undefined) {
      try {
        found = { key: await load(deps, text, allowAlias) };
      } catch (err) {
        if (!(err instanceof KmsError)) throw err;
        found = { error: err };
      }
      this.#byText.set(slot, found);
      if ('key' in found) this.#byKeyId.set(found.key.keyId, found.key);
    }
    if ('error' in found) throw found.error;
    return found.key;
  }

  /**
   * The key a ciphertext blob names (InvalidCiphertextException when the blob is malformed or
   * names no key of this account), remembered by key id for keyById.
   */
  async resolveCiphertext(deps: OperationDeps, blob: Buffer): Promise<KeyRecord> {
    let keyId: string;
    try {
      keyId = keyIdOfBlob(blob);
    } catch {
      throw invalidCiphertext();
    }
    if (!this.#byKeyId.has(keyId)) this.#byKeyId.set(keyId, await deps.store.getKey(keyId));
    const key = this.#byKeyId.get(keyId);
    if (key === undefined) throw invalidCiphertext();
    return key;
  }

  /**
   * When the key was named by KeyId: reads the key the blob names, if the blob has our format, so
   * the operation can tell IncorrectKeyException from a match. Throws nothing: an RSA ciphertext
   * (no key id inside) or a damaged blob is the operation's to judge.
   */
  async noteCiphertext(deps: OperationDeps, blob: Buffer): Promise<void> {
    let keyId: string;
    try {
      keyId = keyIdOfBlob(blob);
    } catch {
      return;
    }
    if (!this.#byKeyId.has(keyId)) this.#byKeyId.set(keyId, await deps.store.getKey(keyId));
  }

  /** The alias's target key (NotFoundException when the alias does not exist). */
  async resolveAlias(deps: OperationDeps, aliasName: string): Promise<KeyRecord> {
    const slot = `alias\u0000${aliasName}`;
    let found = this.#byText.get(slot);
    if (found === undefined) {
      const alias = await deps.store.getAlias(aliasName);
      const key = alias === undefined ? undefined : await deps.store.getKey(alias.keyId);
      found = key === undefined ? { error: aliasNotFound(deps, aliasName) } : { key };
      this.#byText.set(slot, found);
    }
    if ('error' in found) throw found.error;
    return found.key;
  }

  /** What resolve() found for this text; throws when the decision never resolved it. */
  byText(text: string, allowAlias: boolean): KeyRecord {
    const found = this.#byText.get(textSlot(text, allowAlias));
    if (found === undefined) throw undecided(`key identifier ${JSON.stringify(text.slice(0, 300))}`);
    if ('error' in found) throw found.error;
    return found.key;
  }

  /** A key resolved by id (from a ciphertext, or as the target of an identifier); undefined when it does not exist. */
  byKeyId(keyId: string): KeyRecord | undefined {
    if (!this.#byKeyId.has(keyId)) throw undecided(`key ${keyId}`);
    return this.#byKeyId.get(keyId);
  }

  /** The key an alias pointed at when the decision was made. */
  byAlias(aliasName: string): KeyRecord {
    const found = this.#byText.get(`alias\u0000${aliasName}`);
    if (found === undefined) throw undecided(`alias ${aliasName}`);
    if ('error' in found) throw found.error;
    return found.key;
  }
}

/** For operations that accept a key id, key ARN, alias name or alias ARN. */
export async function resolveKey(deps: OperationDeps, keyIdText: string): Promise<KeyRecord> {
  return resolved(deps).byText(keyIdText, true);
}

/** For management operations, which accept only a key id or key ARN. */
export async function resolveKeyById(deps: OperationDeps, keyIdText: string): Promise<KeyRecord> {
  return resolved(deps).byText(keyIdText, false);
}

/** The key with this id as authorization read it; undefined when it does not exist. */
export async function keyById(deps: OperationDeps, keyId: string): Promise<KeyRecord | undefined> {
  return resolved(deps).byKeyId(keyId);
}

/** The key the alias pointed at when the request was decided. */
export function keyOfAlias(deps: OperationDeps, aliasName: string): KeyRecord {
  return resolved(deps).byAlias(aliasName);
}

/** Deps for running one request's operation with the keys its authorization resolved. */
export function withResolvedKeys(deps: OperationDeps, keys: ResolvedKeys): OperationDeps {
  return { ...deps, resolvedKeys: keys };
}

export function aliasNotFound(deps: OperationDeps, aliasName: string): KmsError {
  return new KmsError('NotFoundException', `Alias ${aliasArn(deps.account, aliasName)} is not found.`);
}

function resolved(deps: OperationDeps): ResolvedKeys {
  if (deps.resolvedKeys === undefined) throw undecided('a key');
  return deps.resolvedKeys;
}

function textSlot(text: string, allowAlias: boolean): string {
  return `${allowAlias ? 'any' : 'id'}\u0000${text}`;
}

function undecided(what: string): KmsError {
  // A defect in the rule table, never a client's doing: fail closed, loudly.
  return new KmsError('KMSInternalException', `The request could not be processed: ${what} was not resolved by its authorization.`);
}

async function load(deps: OperationDeps, text: string, allowAlias: boolean): Promise<KeyRecord> {
  const ref = parseKeyRef(text, deps.account, allowAlias);
  let keyId: string;
  if (ref.kind === 'alias') {
    const alias = await deps.store.getAlias(ref.aliasName);
    if (!alias) throw aliasNotFound(deps, ref.aliasName);
    keyId = alias.keyId;
  } else {
    keyId = ref.keyId;
  }
  const key = await deps.store.getKey(keyId);
  if (!key) throw new KmsError('NotFoundException', `Key '${keyArn(deps.account, keyId)}' does not exist`);
  return key;
}
