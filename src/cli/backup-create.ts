// keybridge backup create: a consistent copy of the node's data while it serves (src/backup/create.ts).

import { createBackup } from '../backup/create.js';
import { adminCall } from './admin-client.js';
import { UsageError } from './args.js';
import { backupSource } from './backup-common.js';
import { req, str, type Command, type CommandContext } from './command.js';

export const backupCreate: Command = {
  group: 'backup',
  name: 'create',
  summary: 'Copy the metadata store, the audit trail and the embedded HSM tokens consistently, while the service runs.',
  description:
    'Writes into --out (new or empty): keybridge.db and audit.db (consistent SQLite snapshots), tokens/ (the embedded ' +
    'SoftHSM2 tokens, encrypted under their PINs), the audit signing public key, the cluster definitions of --config, and ' +
    'keybridge-backup.json listing every file with its SHA-256, the audit head and the latest signed digest. PINs and ' +
    'credentials are never copied: keep the data directory\'s pins/ apart, restore needs it. Safe while keybridge serves; ' +
    'if keys are created or deleted during the copy, it is taken again. For a PostgreSQL store, back the database up ' +
    'with PostgreSQL\'s tools (docs/backup.md). With --on-server instead of --out, the running service writes the backup ' +
    '(admin API CreateBackup) into a new directory under its backupDirectory (<data-dir>/backups by default), named by ' +
    '--name or by the time: for hosts where the CLI cannot reach the data directory.',
  options: [
    { name: 'out', kind: 'string', metavar: 'DIR', description: 'Directory to write (created; must be empty).' },
    { name: 'on-server', kind: 'flag', description: 'Have the service write it (admin API CreateBackup) under its backup directory.' },
    { name: 'name', kind: 'string', metavar: 'NAME', description: 'With --on-server: the backup directory\'s name (default: the time).' },
  ],
  validate(values) {
    const onServer = values['on-server'] === true;
    if (onServer === (values['out'] !== undefined)) throw new UsageError('give either --out DIR or --on-server');
    if (!onServer && values['name'] !== undefined) throw new UsageError('--name goes with --on-server');
  },
  async run(ctx) {
    if (ctx.values['on-server'] === true) return onServer(ctx);
    const result = await createBackup(backupSource(ctx), req(ctx.values, 'out'));
    const m = result.manifest;
    ctx.out.print({
      json: { Directory: result.directory, Bytes: result.bytes, Milliseconds: result.milliseconds, Attempts: result.attempts, Manifest: m },
      table: {
        lines: [
          `backup written to ${result.directory}: ${m.files.length} files, ${result.bytes} bytes, ${result.milliseconds} ms`,
          `keys: ${m.contents.keys}, custom key stores: ${m.contents.customKeyStores}, tokens: ${m.contents.tokens.join(', ') || 'none (not embedded)'}`,
          `audit: ${m.audit.records} records, head seq ${m.audit.head.seq} ${m.audit.head.hash}`,
          ...(m.audit.lastDigest ? [`last signed digest: seq ${m.audit.lastDigest.headSeq} (${m.audit.lastDigest.digestTime})`] : []),
          `not included: ${m.notIncluded.join('; ')}`,
        ],
      },
    });
    return 0;
  },
};

async function onServer(ctx: CommandContext): Promise<number> {
  const name = str(ctx.values, 'name');
  const made = await adminCall<{ Directory: string; Bytes: number; Milliseconds: number; Files: number; Keys: number; AuditRecords: number }>(
    ctx,
    'CreateBackup',
    name === undefined ? {} : { Name: name },
  );
  ctx.out.print({
    json: made,
    table: { lines: [`backup written by the service to ${made.Directory}: ${made.Files} files, ${made.Bytes} bytes, ${made.Milliseconds} ms; ${made.Keys} keys, ${made.AuditRecords} audit records`] },
  });
  return 0;
}
