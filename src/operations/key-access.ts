// Finding the key a request names: parse the identifier, follow an alias, load the record.
// Authorization (operations/authorization.ts) has usually loaded the same record a moment before:
// the first lookup of that key takes it from deps.authorizedKey instead of reading the store again.

import { aliasArn, keyArn } from '../domain/arn.js';
import { KmsError } from '../domain/errors.js';
import type { KeyRecord } from '../domain/key.js';
import { parseKeyRef } from '../domain/key-ref.js';
import type { AuthorizedKey, OperationDeps } from './operation.js';

/** For operations that accept a key id, key ARN, alias name or alias ARN. */
export async function resolveKey(deps: OperationDeps, keyIdText: string): Promise<KeyRecord> {
  return load(deps, keyIdText, true);
}

/** For management operations, which accept only a key id or key ARN. */
export async function resolveKeyById(deps: OperationDeps, keyIdText: string): Promise<KeyRecord> {
  return load(deps, keyIdText, false);
}

async function load(deps: OperationDeps, text: string, allowAlias: boolean): Promise<KeyRecord> {
  const ref = parseKeyRef(text, deps.account, allowAlias);
  let keyId: string;
  if (ref.kind === 'alias') {
    const alias = await deps.store.getAlias(ref.aliasName);
    if (!alias) throw new KmsError('NotFoundException', `Alias ${aliasArn(deps.account, ref.aliasName)} is not found.`);
    keyId = alias.keyId;
  } else {
    keyId = ref.keyId;
  }
  const key = await keyById(deps, keyId);
  if (!key) throw new KmsError('NotFoundException', `Key '${keyArn(deps.account, keyId)}' does not exist`);
  return key;
}

/** The key with this id: the record authorization loaded for this request, else from the store. */
export async function keyById(deps: OperationDeps, keyId: string): Promise<KeyRecord | undefined> {
  return deps.authorizedKey?.take(keyId) ?? deps.store.getKey(keyId);
}

/**
 * Deps for running one request's operation after authorization loaded `key`. Given out once: an
 * operation that changes the key and reads it again reads the store.
 */
export function withAuthorizedKey(deps: OperationDeps, key: KeyRecord | undefined): OperationDeps {
  if (key === undefined) return deps;
  let held: KeyRecord | undefined = key;
  const authorizedKey: AuthorizedKey = {
    take(keyId) {
      if (held === undefined || held.keyId !== keyId) return undefined;
      const record = held;
      held = undefined;
      return record;
    },
  };
  return { ...deps, authorizedKey };
}
