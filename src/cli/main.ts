#!/usr/bin/env node
// keybridge's operator command line: `keybridge [global options] <group> <command> [options]`.
// Each command lives in its own file. Most call the service through @aws-sdk/client-kms (or the
// admin API, admin-client.ts), signed like the AWS CLI would sign it (client.ts resolves endpoint,
// region and credentials); `cluster init` and `audit *` work on the HSMs and the data directory.
//
// Exit status: 0 success; 1 the service answered an error (printed as `keybridge: <AwsErrorName>:
// <message>`), could not be reached, or the command's outcome is a failure (wait); 2 usage or
// configuration error, with a one-line hint to use --help.

import { resolve as resolvePath } from 'node:path';
import { KMSServiceException, type KMSClient } from '@aws-sdk/client-kms';
import {
  displayName, formatOptions, HELP_OPTION, type OptionSpec, type OptionValues, splitOptionToken, UsageError, wrap,
} from './args.js';
import { ConfigError, createKmsClient, DEFAULT_DATA_DIR, DEFAULT_ENDPOINT, DEFAULT_PROFILE, DEFAULT_REGION, resolveConfig } from './client.js';
import type { Command, CommandContext } from './command.js';
import { loadConfig } from '../config/load.js';
import { auditDigests } from './audit-digests.js';
import { auditExport } from './audit-export.js';
import { auditTail } from './audit-tail.js';
import { auditVerify } from './audit-verify.js';
import { backupCreate } from './backup-create.js';
import { backupRestore } from './backup-restore.js';
import { backupVerify } from './backup-verify.js';
import { clusterInit } from './cluster-init.js';
import { clusterReplaceMember } from './cluster-replace-member.js';
import { keysList } from './keys-list.js';
import { principalsCreate } from './principals-create.js';
import { principalsDelete } from './principals-delete.js';
import { principalsList } from './principals-list.js';
import { principalsPutPolicy } from './principals-put-policy.js';
import { principalsRotateKeys } from './principals-rotate-keys.js';
import { keystoreConnect } from './keystore-connect.js';
import { keystoreCreate } from './keystore-create.js';
import { keystoreDelete } from './keystore-delete.js';
import { keystoreDescribe } from './keystore-describe.js';
import { keystoreDisconnect } from './keystore-disconnect.js';
import { keystoreUpdate } from './keystore-update.js';
import { keystoreHealth } from './keystore-health.js';
import { keystoreWait } from './keystore-wait.js';
import { xksCredentialsCreate } from './xks-credentials-create.js';
import { xksCredentialsDelete } from './xks-credentials-delete.js';
import { xksCredentialsList } from './xks-credentials-list.js';
import { xksKeysCreate } from './xks-keys-create.js';
import { xksKeysDelete } from './xks-keys-delete.js';
import { xksKeysDescribe } from './xks-keys-describe.js';
import { xksKeysDisable } from './xks-keys-disable.js';
import { xksKeysEnable } from './xks-keys-enable.js';
import { xksKeysList } from './xks-keys-list.js';
import { OUTPUT_FORMATS, type OutputFormat, Printer } from './output.js';

interface Group {
  readonly name: string;
  readonly summary: string;
  readonly commands: readonly Command[];
}

const GROUPS: readonly Group[] = [
  {
    name: 'keystore',
    summary: 'Custom key stores: PKCS#11 clusters (type AWS_CLOUDHSM) and external key stores behind an XKS proxy (EXTERNAL_KEY_STORE).',
    commands: [keystoreCreate, keystoreDescribe, keystoreConnect, keystoreDisconnect, keystoreUpdate, keystoreDelete, keystoreWait, keystoreHealth],
  },
  { name: 'keys', summary: 'KMS keys.', commands: [keysList] },
  {
    name: 'principals',
    summary: 'Users and roles with access keys and identity policies (keybridge admin API; operator only).',
    commands: [principalsCreate, principalsList, principalsDelete, principalsRotateKeys, principalsPutPolicy],
  },
  {
    name: 'xks',
    summary: 'The XKS proxy (external key store for AWS KMS): its keys and SigV4 credentials (keybridge admin API; operator only).',
    commands: [
      xksKeysCreate, xksKeysList, xksKeysDescribe, xksKeysEnable, xksKeysDisable, xksKeysDelete,
      xksCredentialsCreate, xksCredentialsList, xksCredentialsDelete,
    ],
  },
  { name: 'cluster', summary: 'HSM clusters: security-officer setup for keybridge replication, and seeding a replaced member.', commands: [clusterInit, clusterReplaceMember] },
  {
    name: 'audit',
    summary: 'The CloudTrail-shaped audit trail in <data-dir>/audit.db (read directly, not through the API).',
    commands: [auditVerify, auditExport, auditDigests, auditTail],
  },
  {
    name: 'backup',
    summary: 'Backups of the embedded default (metadata, audit trail, HSM tokens) taken while serving, checked and restored (read directly, not through the API).',
    commands: [backupCreate, backupVerify, backupRestore],
  },
];

const GLOBAL_OPTIONS: readonly OptionSpec[] = [
  {
    name: 'endpoint-url',
    kind: 'string',
    metavar: 'URL',
    description: `KMS endpoint. Default: $AWS_ENDPOINT_URL_KMS, else $AWS_ENDPOINT_URL, else ${DEFAULT_ENDPOINT}.`,
  },
  { name: 'profile', kind: 'string', metavar: 'NAME', description: `Profile in the credentials file. Default: $AWS_PROFILE, else ${DEFAULT_PROFILE}.` },
  {
    name: 'region',
    kind: 'string',
    metavar: 'REGION',
    description: `Region to sign for. Default: $AWS_REGION, else $AWS_DEFAULT_REGION, else ${DEFAULT_REGION}.`,
  },
  {
    name: 'data-dir',
    kind: 'string',
    metavar: 'DIR',
    description: `keybridge data directory; its "credentials" file is used. Default: $KEYBRIDGE_DATA_DIR, else ${DEFAULT_DATA_DIR}.`,
  },
  {
    name: 'config',
    kind: 'string',
    metavar: 'FILE',
    description: 'The keybridge service configuration. Default: $KEYBRIDGE_CONFIG. With a PostgreSQL store the audit commands read the trail from that database.',
  },
  { name: 'output', kind: 'string', metavar: 'table|json', choices: OUTPUT_FORMATS, description: 'table (aligned columns, the default) or json.' },
  HELP_OPTION,
];

const CREDENTIALS_HELP =
  'Credentials: $AWS_ACCESS_KEY_ID and $AWS_SECRET_ACCESS_KEY when set (ignored when --profile is given); ' +
  'otherwise the profile\'s keys in a shared-credentials file: <--data-dir>/credentials when --data-dir is given, ' +
  `else $AWS_SHARED_CREDENTIALS_FILE, else <$KEYBRIDGE_DATA_DIR or ${DEFAULT_DATA_DIR}>/credentials (written by \`npm start\`).`;

const EXIT_HELP = 'Exit status: 0 success; 1 the service answered an error or could not be reached; 2 usage or configuration error.';

export interface Io {
  stdout(text: string): void;
  stderr(text: string): void;
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
}

interface Parsed {
  globals: OptionValues;
  values: OptionValues;
  group?: Group;
  command?: Command;
  help: boolean;
  /**
   * The first mistake. Later ones are often its consequences (the value of an unknown option
   * taken for a command), so only the first is reported. --help wins over option mistakes, not
   * over an unknown group or command.
   */
  error?: UsageError;
  errorIsPositional?: boolean;
}

function commandPath(group?: Group, command?: Command): string {
  return ['keybridge', group?.name, command?.name].filter(Boolean).join(' ');
}

function findSpec(specs: readonly OptionSpec[], name: string, short: boolean): OptionSpec | undefined {
  return specs.find((s) => (short ? s.short === name : s.name === name));
}

function parse(argv: readonly string[]): Parsed {
  const p: Parsed = { globals: {}, values: {}, help: false };
  const fail = (kind: 'positional' | 'option', message: string) => {
    if (p.error) return;
    p.error = new UsageError(message);
    p.errorIsPositional = kind === 'positional';
  };
  let endOfOptions = false;
  let lastValueOption: string | undefined;

  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    const previousValueOption = lastValueOption;
    lastValueOption = undefined;

    if (!endOfOptions && token === '--') {
      endOfOptions = true;
      continue;
    }
    if (!endOfOptions && token.startsWith('-') && token !== '-') {
      const { name, inline, short } = splitOptionToken(token);
      const shown = displayName(name, short);
      const commandSpec = p.command ? findSpec(p.command.options, name, short) : undefined;
      const spec = commandSpec ?? findSpec(GLOBAL_OPTIONS, name, short);
      if (spec === undefined) {
        fail('option', `unknown option ${shown}${p.command || !p.group ? '' : ` (give the ${p.group.name} command first)`}`);
        continue;
      }
      const target = commandSpec ? p.values : p.globals;
      let value: string | true;
      if (spec.kind === 'flag') {
        if (inline !== undefined) {
          fail('option', `option ${shown} takes no value`);
          continue;
        }
        value = true;
      } else if (inline !== undefined) {
        value = inline;
      } else {
        const next = argv[i + 1];
        if (next === undefined || next.startsWith('--')) {
          fail('option', `option --${spec.name} needs a value${next === undefined ? '' : ` (use --${spec.name}=VALUE for a value starting with -)`}`);
          continue;
        }
        value = next;
        i++;
      }
      if (spec.name === 'help') {
        p.help = true;
        continue;
      }
      if (target[spec.name] !== undefined) {
        fail('option', `option --${spec.name} is given more than once`);
        continue;
      }
      if (spec.choices && !spec.choices.includes(value as string)) {
        fail('option', `option --${spec.name} must be one of ${spec.choices.join(', ')}`);
        continue;
      }
      target[spec.name] = value;
      lastValueOption = spec.name;
      continue;
    }

    // A positional argument: the group, then the command, then nothing more.
    if (p.group === undefined) {
      const group = GROUPS.find((g) => g.name === token);
      if (group) p.group = group;
      else fail('positional', `unknown command group ${JSON.stringify(token.slice(0, 40))} (groups: ${GROUPS.map((g) => g.name).join(', ')})`);
    } else if (p.command === undefined) {
      const command = p.group.commands.find((c) => c.name === token);
      if (command) p.command = command;
      else {
        fail(
          'positional',
          `unknown ${p.group.name} command ${JSON.stringify(token.slice(0, 40))} (commands: ${p.group.commands.map((c) => c.name).join(', ')})`,
        );
      }
    } else if (p.command.positional !== undefined && p.values[p.command.positional] === undefined) {
      p.values[p.command.positional] = token;
    } else {
      // Do not echo what follows an option's value: it may be the rest of a password.
      fail('positional', previousValueOption ? `unexpected argument after the value of --${previousValueOption}` : `unexpected argument ${JSON.stringify(token.slice(0, 40))}`);
    }
  }
  return p;
}

// ---- help ----

function topHelp(): string {
  const commands = GROUPS.flatMap((g) => g.commands.map((c) => ({ label: `${g.name} ${c.name}`, summary: c.summary })));
  const width = Math.max(...commands.map((c) => c.label.length), ...GROUPS.map((g) => g.name.length));
  return [
    'Usage: keybridge [global options] <group> <command> [options]',
    '',
    wrap('', 'Operator command line for keybridge, the AWS-KMS-compatible API in front of PKCS#11 HSMs. The keystore, keys and principals commands call the service (AWS JSON 1.1, SigV4) like the AWS CLI does; cluster init and the audit commands work on the HSMs and the data directory directly.'),
    '',
    'Groups:',
    ...GROUPS.map((g) => wrap(`  ${g.name.padEnd(width)}  `, g.summary)),
    '',
    'Commands:',
    ...commands.map((c) => wrap(`  ${c.label.padEnd(width)}  `, c.summary)),
    '',
    'Global options (accepted before or after the command):',
    ...formatOptions(GLOBAL_OPTIONS),
    '',
    wrap('', CREDENTIALS_HELP),
    '',
    wrap('', EXIT_HELP),
    '',
    "Run 'keybridge <group> --help' or 'keybridge <group> <command> --help' for more.",
    '',
  ].join('\n');
}

function groupHelp(group: Group): string {
  const width = Math.max(...group.commands.map((c) => c.name.length));
  return [
    `Usage: keybridge [global options] ${group.name} <command> [options]`,
    '',
    wrap('', group.summary),
    '',
    'Commands:',
    ...group.commands.map((c) => wrap(`  ${c.name.padEnd(width)}  `, c.summary)),
    '',
    'Global options:',
    ...formatOptions(GLOBAL_OPTIONS),
    '',
    wrap('', CREDENTIALS_HELP),
    '',
    `Run 'keybridge ${group.name} <command> --help' for a command's options.`,
    '',
  ].join('\n');
}

function commandHelp(group: Group, command: Command): string {
  const usage = command.options.map((o) => (o.required ? `--${o.name} ${o.metavar ?? 'VALUE'}` : `[--${o.name} ${o.metavar ?? 'VALUE'}]`));
  const options = [...command.options, HELP_OPTION];
  return [
    wrap(`Usage: keybridge [global options] ${group.name} ${command.name} `, usage.join(' ')).trimEnd(),
    '',
    wrap('', command.description),
    '',
    'Options:',
    ...formatOptions(options),
    '',
    'Global options:',
    ...formatOptions(GLOBAL_OPTIONS.filter((o) => o !== HELP_OPTION)),
    '',
    wrap('', EXIT_HELP),
    '',
  ].join('\n');
}

// ---- running ----

function reportUsage(io: Io, err: UsageError, fallbackPath: string): number {
  io.stderr(`keybridge: ${err.message}\n`);
  io.stderr(`Run '${err.helpCommand || fallbackPath} --help' for usage.\n`);
  return 2;
}

export async function run(argv: readonly string[], io: Io): Promise<number> {
  const p = parse(argv);
  const path = commandPath(p.group, p.command);
  if (p.error && p.errorIsPositional) return reportUsage(io, p.error, path);
  if (p.help) {
    io.stdout(p.command && p.group ? commandHelp(p.group, p.command) : p.group ? groupHelp(p.group) : topHelp());
    return 0;
  }
  if (p.error) return reportUsage(io, p.error, path);
  if (!p.group) return reportUsage(io, new UsageError('missing command group'), path);
  if (!p.command) return reportUsage(io, new UsageError(`missing ${p.group.name} command`), path);
  const command = p.command;

  const missing = command.options.filter((o) => o.required && p.values[o.name] === undefined);
  if (missing.length > 0) {
    return reportUsage(io, new UsageError(`missing required option${missing.length > 1 ? 's' : ''} ${missing.map((o) => `--${o.name}`).join(', ')}`), path);
  }

  const g = (name: string) => (typeof p.globals[name] === 'string' ? (p.globals[name] as string) : undefined);
  let client: KMSClient | undefined;
  let endpoint = '';
  const ctx: CommandContext = {
    values: p.values,
    kms() {
      if (!client) {
        const config = resolveConfig({ endpointUrl: g('endpoint-url'), profile: g('profile'), region: g('region'), dataDir: g('data-dir') }, io.env, io.cwd);
        endpoint = config.endpoint;
        client = createKmsClient(config, io.env);
      }
      return client;
    },
    dataDir: () => resolvePath(io.cwd, g('data-dir') ?? (io.env.KEYBRIDGE_DATA_DIR || DEFAULT_DATA_DIR)),
    serviceConfig() {
      const file = g('config') ?? (io.env.KEYBRIDGE_CONFIG || undefined);
      return file === undefined ? undefined : loadConfig({ file, env: io.env, cwd: io.cwd });
    },
    out: new Printer((g('output') ?? 'table') as OutputFormat, io.stdout),
    warn: (message) => io.stderr(`keybridge: ${message}\n`),
    now: () => Date.now(),
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  };

  try {
    command.validate?.(p.values);
    return await command.run(ctx);
  } catch (err) {
    if (err instanceof UsageError) return reportUsage(io, err, path);
    if (err instanceof ConfigError) {
      io.stderr(`keybridge: ${err.message}\n`);
      io.stderr("Run 'keybridge --help' for how the endpoint, region and credentials are found.\n");
      return 2;
    }
    if (err instanceof KMSServiceException) {
      io.stderr(`keybridge: ${err.name}: ${oneLine(err.message)}\n`);
      return 1;
    }
    const e = err as Error & { $metadata?: unknown; code?: string };
    if (e && typeof e === 'object' && '$metadata' in e) {
      io.stderr(`keybridge: request to ${endpoint} failed: ${oneLine(e.message || e.code || String(e))}\n`);
      return 1;
    }
    io.stderr(`keybridge: ${oneLine(e instanceof Error ? e.message : String(e))}\n`);
    return 1;
  } finally {
    client?.destroy();
  }
}

function oneLine(text: string): string {
  return text.replace(/\s*[\r\n]+\s*/g, ' ').trim();
}

// Piping into `head` closes stdout early: end quietly instead of with an EPIPE stack trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});

process.exitCode = await run(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  env: process.env,
  cwd: process.cwd(),
});
