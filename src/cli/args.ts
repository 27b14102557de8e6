// Command-line parsing for the operator CLI: long options (`--name value` or `--name=value`),
// `-h`, `--` to end options, and help text. Small and our own so that error messages are one
// line and never echo an option's value (a value may be a password).

import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';

export interface OptionSpec {
  /** Long name without the dashes. */
  readonly name: string;
  /** One letter, used as `-x`. */
  readonly short?: string;
  /** `flag` takes no value; `string` takes exactly one. */
  readonly kind: 'string' | 'flag';
  /** Shown in usage: `--name METAVAR`. */
  readonly metavar?: string;
  readonly required?: boolean;
  /** The only values allowed (checked while parsing). */
  readonly choices?: readonly string[];
  readonly description: string;
}

export type OptionValues = Record<string, string | true | undefined>;

/** A mistake in the command line: exit status 2 and a hint to run `<helpCommand> --help`. */
export class UsageError extends Error {
  constructor(
    message: string,
    /** e.g. `keybridge keystore create`; filled in by the dispatcher when empty. */
    public helpCommand = '',
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

export const HELP_OPTION: OptionSpec = { name: 'help', short: 'h', kind: 'flag', description: 'Show this help and exit.' };

/** `--name VALUE` as shown in usage lines and help. */
export function optionLabel(spec: OptionSpec): string {
  const long = spec.kind === 'flag' ? `--${spec.name}` : `--${spec.name} ${spec.metavar ?? 'VALUE'}`;
  return spec.short ? `-${spec.short}, ${long}` : long;
}

/** Aligned `  label  description` lines, wrapped to 100 columns. */
export function formatOptions(specs: readonly OptionSpec[]): string[] {
  const labels = specs.map(optionLabel);
  const width = Math.max(...labels.map((l) => l.length));
  return specs.map((spec, i) => {
    const text = spec.required ? `(required) ${spec.description}` : spec.description;
    return wrap(`  ${labels[i]!.padEnd(width)}  `, text);
  });
}

/** `prefix` + text wrapped at 100 columns, continuation lines indented under the text. */
export function wrap(prefix: string, text: string, columns = 100): string {
  const indent = ' '.repeat(prefix.length);
  const lines: string[] = [];
  let line = prefix;
  let empty = true;
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (!empty && line.length + 1 + word.length > columns) {
      lines.push(line);
      line = indent + word;
    } else {
      line += (empty ? '' : ' ') + word;
    }
    empty = false;
  }
  lines.push(line);
  return lines.join('\n');
}

/** One option token split into name and inline value: `--a=b` → a, b. */
export function splitOptionToken(token: string): { name: string; inline: string | undefined; short: boolean } {
  if (token.startsWith('--')) {
    const eq = token.indexOf('=');
    return eq < 0 ? { name: token.slice(2), inline: undefined, short: false } : { name: token.slice(2, eq), inline: token.slice(eq + 1), short: false };
  }
  return { name: token.slice(1), inline: undefined, short: true };
}

/** Shown in errors: the option as typed, without any value. */
export function displayName(name: string, short: boolean): string {
  return short ? `-${name}` : `--${name}`;
}

/**
 * Reads an argument that may be `file://path` (AWS CLI convention: the rest is the path, `~/`
 * is the home directory). Otherwise the argument itself. Errors name the option and the path,
 * never the content.
 */
export function readValueArgument(option: string, value: string, opts: { dropTrailingNewline?: boolean } = {}): string {
  if (!value.startsWith('file://')) return value;
  let path = value.slice('file://'.length);
  if (path === '') throw new UsageError(`--${option}: file:// needs a path`);
  if (path === '~' || path.startsWith('~/')) path = homedir() + path.slice(1);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new UsageError(`--${option}: cannot read ${path} (${code})`);
  }
  return opts.dropTrailingNewline ? text.replace(/\r?\n$/, '') : text;
}

/** A positive number of the given kind, or a UsageError naming the option. */
export function parsePositive(option: string, value: string, integer: boolean): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
    throw new UsageError(`--${option} must be a positive ${integer ? 'integer' : 'number'}`);
  }
  return n;
}
