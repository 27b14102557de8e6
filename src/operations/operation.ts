// The shape every KMS operation has: a wire schema and a `run` function. registry.ts lists them.

import type { XksStore } from '../ports/xks-store.js';
import type { z } from 'zod';
import type { Logger } from 'pino';
import type { Account } from '../domain/arn.js';
import type { Clock } from '../ports/clock.js';
import type { Hsm } from '../ports/hsm.js';
import type { KeyStores } from '../ports/key-stores.js';
import type { Principal } from '../ports/principals.js';
import type { MetadataStore } from '../ports/store.js';
import type { SecretSealer } from '../services/secret-sealer.js';
import type { ResolvedKeys } from './key-access.js';

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
  /** Seals what keybridge hands out and must trust again later (ImportKeyMaterial's import tokens). */
  readonly sealer: SecretSealer;
  /** RotateKeyOnDemand calls allowed per key (config maxOnDemandRotationsPerKey; AWS: 25). */
  readonly maxOnDemandRotations?: number;
  /** The XKS proxy's records: DeleteCustomKeyStore refuses while XKS keys live in the store. */
  readonly xksStore?: XksStore;
  /**
   * Per request, the one exception to the rule above: the keys that request's authorization
   * resolved and decided on (the HTTP layer runs the operation with a copy of deps that carries
   * them). Operations find their keys only here (key-access.ts), never in the store.
   */
  readonly resolvedKeys?: ResolvedKeys;
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
  /**
   * Checks on the input that the schema cannot express (AWS's rules across members, reserved
   * prefixes). Runs after the schema and before authorization, so malformed input is refused
   * before any key is looked up. Throws the wire error.
   */
  validate?(input: z.output<Schema>): void;
  /** Resolves the response body, or undefined for operations whose response is empty. */
  run(ctx: RequestContext, deps: OperationDeps, input: z.output<Schema>): Promise<Output | undefined>;
}

/** Keeps each operation file's types precise while the registry holds them as one list. */
export function defineOperation<Schema extends z.ZodType, Output>(op: Operation<Schema, Output>): Operation<Schema, Output> {
  return op;
}
