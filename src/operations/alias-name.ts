// Alias-name rules AWS applies on top of the model's pattern (reference §1.1).

import { z } from 'zod';
import { KmsError } from '../domain/errors.js';
import { MAX_ALIASES_PER_KEY, type KeyRecord } from '../domain/key.js';
import { aliasArn } from '../domain/arn.js';
import type { OperationDeps } from './operation.js';

export const aliasNameMember = z.string().min(1).max(256).regex(/^[a-zA-Z0-9:/_-]+$/);

/** For CreateAlias: the name must start with `alias/`, name something, avoid `alias/aws/`. */
export function checkNewAliasName(name: string): void {
  checkAliasPrefix(name);
  if (name.startsWith('alias/aws/')) {
    throw new KmsError('InvalidAliasNameException', `Alias ${name} uses the reserved prefix "alias/aws/", which is reserved for AWS managed keys.`);
  }
  const rest = name.slice('alias/'.length);
  if (rest.length === 0 || !/^[a-zA-Z0-9/_-]+$/.test(rest)) {
    throw new KmsError('InvalidAliasNameException', `Alias ${name} is not valid: after "alias/" it must contain 1 or more of the characters a-z, A-Z, 0-9, /, _ and -.`);
  }
}

export function checkAliasPrefix(name: string): void {
  if (!name.startsWith('alias/')) {
    throw new KmsError('ValidationException', 'Alias must start with the prefix "alias/". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html');
  }
}

/** CreateAlias and UpdateAlias point aliases at keys, never at other aliases. */
export function checkTargetIsKey(targetKeyId: string): void {
  if (targetKeyId.startsWith('alias/') || /^arn:[^:]*:kms:[^:]*:[^:]*:alias\//.test(targetKeyId)) {
    throw new KmsError('ValidationException', 'Aliases must refer to keys. Not aliases');
  }
}

/** A key may have at most 50 aliases (AWS's quota); the store holds it (`limits`) even against other nodes. */
export const ALIAS_LIMIT = { maxPerKey: MAX_ALIASES_PER_KEY } as const;

/** What one alias more than ALIAS_LIMIT answers. */
export function aliasLimitExceeded(key: KeyRecord): KmsError {
  return new KmsError('LimitExceededException', `The KMS key ${key.arn} already has ${MAX_ALIASES_PER_KEY} aliases, the most a key may have.`);
}

/**
 * UpdateAlias and DeleteAlias change an alias only while it points at the key they were
 * authorized on; another request re-pointed it in between (a compare-and-set that lost).
 */
export function aliasChanged(deps: OperationDeps, aliasName: string): KmsError {
  return new KmsError('ConflictException', `Alias ${aliasArn(deps.account, aliasName)} was changed by another request while this one was processed. Retry the request.`);
}
