// The shape every KMS operation has: a wire schema and a `run` function. registry.ts lists them.

import type { z } from 'zod';
import type { Logger } from 'pino';
import type { Account } from '../domain/arn.js';
import type { KeyRecord } from '../domain/key.js';
import type { Clock } from '../ports/clock.js';
import type { Hsm } from '../ports/hsm.js';
import type { KeyStores } from '../ports/key-stores.js';
import type { Principal } from '../ports/principals.js';
import type { MetadataStore } from '../ports/store.js';

/** What an operation may use. Built once by compose.ts; never holds per-request state. */
export interface OperationDeps {
  readonly account: Account;
  readonly store: MetadataStore;
  /** The default key store's HSM. Keys may live elsewhere: use keyStores.hsmFor(key). */
  readonly hsm: Hsm;
  /** Custom key stores and which HSM serves which key. */
  readonly keyStores: KeyStores;
  readonly clock: Clock;
  readonly logger: Logger;
  /**
   * Per request, the one exception to the rule above: the key record authorization has just
   * loaded (the HTTP layer runs the operation with a copy of deps that carries it), handed to the
   * operation's first lookup of that key instead of a second store read (key-access.ts).
   */
  readonly authorizedKey?: AuthorizedKey;
}

/** A key record read once for this request; `take` gives it out once, for its own key id only. */
export interface AuthorizedKey {
  take(keyId: string): KeyRecord | undefined;
}

/** Per-request facts, established by the HTTP layer after SigV4 verification. */
export interface RequestContext {
  readonly requestId: string;
  readonly principal: Principal;
  readonly sourceIp: string;
  readonly userAgent: string;
  /** The request came over TLS (aws:SecureTransport). */
  readonly secureTransport: boolean;
}

export interface Operation<Schema extends z.ZodType = z.ZodType, Output = unknown> {
  /** The name after `TrentService.` in X-Amz-Target. */
  readonly name: string;
  /** The request body's schema, PascalCase members exactly as AWS names them. */
  readonly input: Schema;
  /** Resolves the response body, or undefined for operations whose response is empty. */
  run(ctx: RequestContext, deps: OperationDeps, input: z.output<Schema>): Promise<Output | undefined>;
}

/** Keeps each operation file's types precise while the registry holds them as one list. */
export function defineOperation<Schema extends z.ZodType, Output>(op: Operation<Schema, Output>): Operation<Schema, Output> {
  return op;
}
