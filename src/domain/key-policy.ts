// Key policy documents: the default one AWS attaches, and the checks PutKeyPolicy and CreateKey
// apply. A policy is stored exactly as sent; evaluation lives in ./policy/.

import type { Account } from './arn.js';
import { rootPrincipalArn } from './arn.js';
import type { PolicyDocument } from './policy/document.js';
import { parsePolicy } from './policy/document.js';

export const DEFAULT_POLICY_NAME = 'default';

/**
 * AWS's default key policy. Its one statement names the account root, which does not grant the
 * account's users anything by itself: it delegates every kms:* action to the account's IAM
 * policies (and lets the root user in).
 */
export function defaultKeyPolicy(account: Account): string {
  return JSON.stringify(
    {
      Version: '2012-10-17',
      Id: 'key-default-1',
      Statement: [
        {
          Sid: 'Enable IAM User Permissions',
          Effect: 'Allow',
          Principal: { AWS: rootPrincipalArn(account) },
          Action: 'kms:*',
          Resource: '*',
        },
      ],
    },
    null,
    2,
  );
}

/**
 * Throws MalformedPolicyDocumentException naming the first problem found: the grammar AWS enforces
 * for key policies (JSON object, known Version, a Statement whose entries have Effect Allow/Deny,
 * exactly one of Principal/NotPrincipal and of Action/NotAction, valid principals, known condition
 * operators with well-typed values). The parser in ./policy/document.ts does the work.
 */
export function validateKeyPolicy(text: string): void {
  parseKeyPolicy(text);
}

/** Parses a key policy for evaluation; throws as validateKeyPolicy does. */
export function parseKeyPolicy(text: string): PolicyDocument {
  return parsePolicy(text, { kind: 'key' });
}
