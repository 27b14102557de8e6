// Finding the key a request names: parse the identifier, follow an alias, load the record.
// Authorization (key policies and grants) will hook in here when that issue lands.

import { aliasArn, keyArn } from '../domain/arn.js';
import { KmsError } from '../domain/errors.js';
import type { KeyRecord } from '../domain/key.js';
import { parseKeyRef } from '../domain/key-ref.js';
import type { OperationDeps } from './operation.js';

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
  const key = await deps.store.getKey(keyId);
  if (!key) throw new KmsError('NotFoundException', `Key '${keyArn(deps.account, keyId)}' does not exist`);
  return key;
}
