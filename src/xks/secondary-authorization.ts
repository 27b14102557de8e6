// Optional secondary authorization (spec "Authorization"): after SigV4 has proved the caller is
// AWS KMS holding this path's credential, rules on the requestMetadata decide whether this
// principal may use this KMS key for this operation. Evaluated before any HSM call; never for
// GetHealthStatus (the spec excludes it).
//
// The spec leaves the policy language to each proxy. keybridge's is data in the configuration: a
// list of allow rules; a request is allowed when any rule matches it, and a rule matches when every
// condition it states matches (a condition lists patterns, any of which may match; `*` and `?` are
// wildcards as in IAM's StringLike). A condition on a metadata member the request lacks (say
// awsSourceVpc on a request not made through a VPC endpoint) does not match. An empty rule list
// denies everything.

import { XksError } from './errors.js';
import type { XksOperation } from './uri.js';
import type { RequestMetadata } from './wire.js';

export interface AuthorizationRule {
  readonly uriPath?: readonly string[] | undefined;
  readonly operations?: readonly Exclude<XksOperation, 'GetHealthStatus'>[] | undefined;
  readonly awsPrincipalArn?: readonly string[] | undefined;
  readonly kmsKeyArn?: readonly string[] | undefined;
  readonly kmsOperation?: readonly string[] | undefined;
  readonly awsSourceVpc?: readonly string[] | undefined;
  readonly awsSourceVpce?: readonly string[] | undefined;
  readonly kmsViaService?: readonly string[] | undefined;
}

const METADATA_CONDITIONS = ['awsPrincipalArn', 'kmsKeyArn', 'kmsOperation', 'awsSourceVpc', 'awsSourceVpce', 'kmsViaService'] as const;

interface CompiledRule {
  readonly uriPath?: readonly RegExp[];
  readonly operations?: ReadonlySet<string>;
  readonly metadata: ReadonlyArray<readonly [(typeof METADATA_CONDITIONS)[number], readonly RegExp[]]>;
}

/** StringLike: `*` any run of characters, `?` one character, everything else literal; whole string. */
function likePattern(pattern: string): RegExp {
  const body = pattern.replace(/[.+^${}()|[\]\\/-]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${body}$`, 's');
}

export class SecondaryAuthorization {
  readonly #rules: readonly CompiledRule[];

  constructor(rules: readonly AuthorizationRule[]) {
    this.#rules = rules.map((rule) => ({
      ...(rule.uriPath ? { uriPath: rule.uriPath.map(likePattern) } : {}),
      ...(rule.operations ? { operations: new Set(rule.operations) } : {}),
      metadata: METADATA_CONDITIONS.filter((name) => rule[name] !== undefined).map((name) => [name, rule[name]!.map(likePattern)] as const),
    }));
  }

  /** Throws AccessDeniedException unless a rule allows the request. */
  check(uriPath: string, operation: Exclude<XksOperation, 'GetHealthStatus'>, metadata: RequestMetadata): void {
    if (this.#rules.some((rule) => matches(rule, uriPath, operation, metadata))) return;
    throw new XksError(
      'AccessDeniedException',
      `${operation} by ${metadata.awsPrincipalArn ?? 'an unnamed principal'} for ${metadata.kmsKeyArn ?? 'no KMS key'} (${metadata.kmsOperation ?? 'no operation'}) is not allowed by the proxy's secondary authorization rules.`,
    );
  }
}

function matches(rule: CompiledRule, uriPath: string, operation: string, metadata: RequestMetadata): boolean {
  if (rule.uriPath && !rule.uriPath.some((p) => p.test(uriPath))) return false;
  if (rule.operations && !rule.operations.has(operation)) return false;
  for (const [name, patterns] of rule.metadata) {
    const value = metadata[name];
    if (value === undefined || !patterns.some((p) => p.test(value))) return false;
  }
  return true;
}
