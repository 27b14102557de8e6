// What every CLI command file exports, and what the dispatcher gives it to run.

import type { KMSClient } from '@aws-sdk/client-kms';
import type { Config } from '../config/schema.js';
import type { OptionSpec, OptionValues } from './args.js';
import type { Printer } from './output.js';

export interface CommandContext {
  /** The command's own options (global options are resolved into `kms`). */
  readonly values: OptionValues;
  /** The KMS client, created on first use (so usage errors need no credentials). */
  kms(): KMSClient;
  /** The keybridge data directory, absolute: --data-dir, else $KEYBRIDGE_DATA_DIR, else ./data. */
  dataDir(): string;
  /** The service configuration (--config, else $KEYBRIDGE_CONFIG), loaded and checked; undefined when neither is given. */
  serviceConfig(): Readonly<Config> | undefined;
  readonly out: Printer;
  /** One line on standard error, prefixed `keybridge: `. */
  warn(message: string): void;
  now(): number;
  sleep(ms: number): Promise<void>;
}

export interface Command {
  readonly group: string;
  readonly name: string;
  /** One line for the group's command list. */
  readonly summary: string;
  /** Paragraph(s) for the command's help, after the usage line. */
  readonly description: string;
  readonly options: readonly OptionSpec[];
  /** The option one positional argument after the command fills (`keybridge keystore health ID`). */
  readonly positional?: string;
  /** Checks option combinations and values; throws UsageError. Runs before any network call. */
  validate?(values: OptionValues): void;
  /** Resolves to the exit status (0, or 1 when the outcome is a failure the command reported). */
  run(ctx: CommandContext): Promise<number>;
}

/** The value of a string option (the dispatcher has already checked required ones). */
export function str(values: OptionValues, name: string): string | undefined {
  const v = values[name];
  return typeof v === 'string' ? v : undefined;
}

export function req(values: OptionValues, name: string): string {
  const v = str(values, name);
  if (v === undefined) throw new Error(`internal: --${name} is required but missing`);
  return v;
}
