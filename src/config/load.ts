// Loading the configuration: an optional JSON file (KEYBRIDGE_CONFIG or --config), then
// KEYBRIDGE_* environment overrides, validated by the one schema, resolved to absolute paths and
// frozen. Errors name the path of the offending setting.

import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { configSchema, type Config } from './schema.js';

export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

const ENV_OVERRIDES: ReadonlyArray<[string, (raw: Record<string, unknown>, value: string) => void]> = [
  ['KEYBRIDGE_DATA_DIR', (raw, v) => (raw.dataDir = v)],
  ['KEYBRIDGE_HOST', (raw, v) => (raw.listen = { ...(raw.listen as object), host: v })],
  ['KEYBRIDGE_PORT', (raw, v) => (raw.listen = { ...(raw.listen as object), port: Number(v) })],
  ['KEYBRIDGE_REGION', (raw, v) => (raw.region = v)],
  ['KEYBRIDGE_ACCOUNT_ID', (raw, v) => (raw.accountId = v)],
  ['KEYBRIDGE_LOG_LEVEL', (raw, v) => (raw.logLevel = v)],
  ['KEYBRIDGE_LOG_FILE', (raw, v) => (raw.logFile = v)],
  // "false" turns the web console off; anything but true/false is refused by the schema.
  ['KEYBRIDGE_CONSOLE', (raw, v) => (raw.console = { ...(raw.console as object), enabled: v === 'true' ? true : v === 'false' ? false : v })],
];

export function loadConfig(options: { file?: string; env?: NodeJS.ProcessEnv; cwd?: string } = {}): Readonly<Config> {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const file = options.file ?? env.KEYBRIDGE_CONFIG;
  let raw: Record<string, unknown> = {};
  let base = cwd;
  if (file) {
    const path = resolve(cwd, file);
    try {
      raw = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
    } catch (err) {
      throw new ConfigError(`cannot read configuration file ${path}: ${(err as Error).message}`);
    }
    base = dirname(path);
  }
  for (const [name, apply] of ENV_OVERRIDES) {
    const value = env[name];
    if (value !== undefined && value !== '') apply(raw, value);
  }
  return parseConfig(raw, base);
}

/** Validates raw settings; relative paths are taken from `base` (the config file's folder). */
export function parseConfig(raw: unknown, base: string): Readonly<Config> {
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
  }
  const c = result.data;
  const abs = (p: string) => resolve(base, p);
  const dataDir = abs(c.dataDir);
  const resolved: Config = {
    ...c,
    dataDir,
    credentialsFile: c.credentialsFile ? abs(c.credentialsFile) : resolve(dataDir, 'credentials'),
    store:
      c.store.kind === 'sqlite'
        ? { kind: 'sqlite', path: c.store.path ? abs(c.store.path) : resolve(dataDir, 'keybridge.db') }
        : {
            ...c.store,
            ...(c.store.password && 'file' in c.store.password ? { password: { file: abs(c.store.password.file) } } : {}),
            ...(c.store.tls?.caFile ? { tls: { caFile: abs(c.store.tls.caFile) } } : {}),
          },
    audit: { ...c.audit, path: c.audit.path ? abs(c.audit.path) : resolve(dataDir, 'audit.db') },
    backupDirectory: c.backupDirectory ? abs(c.backupDirectory) : resolve(dataDir, 'backups'),
    ...(c.logFile ? { logFile: abs(c.logFile) } : {}),
    ...(c.listen.tls ? { listen: { ...c.listen, tls: { certFile: abs(c.listen.tls.certFile), keyFile: abs(c.listen.tls.keyFile) } } } : {}),
    ...(c.defaultKeyStore
      ? {
          defaultKeyStore: {
            ...c.defaultKeyStore,
            userPin: 'file' in c.defaultKeyStore.userPin ? { file: abs(c.defaultKeyStore.userPin.file) } : c.defaultKeyStore.userPin,
          },
        }
      : {}),
  };
  return deepFreeze(resolved);
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
