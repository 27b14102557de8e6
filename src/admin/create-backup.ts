import { existsSync } from 'node:fs';
import { join } from 'node:path';

import { z } from 'zod';

import { createBackupOffThread } from '../backup/off-thread.js';
import { KmsError } from '../domain/errors.js';
import { defineAdminOperation } from './operation.js';

// One backup at a time per node: two would copy the same files twice over for nothing.
let running = false;

/**
 * `keybridge backup create` through the admin API (issue #21): a consistent backup of this node's
 * data directory, written while it serves, into a new directory under the configured
 * backupDirectory (<dataDir>/backups by default) — named by the caller (Name) or by the time. The
 * caller never names a path: the admin API cannot be made to write anywhere else. The copy runs in
 * a thread of its own, so requests go on meanwhile.
 */
export const createBackup = defineAdminOperation({
  name: 'CreateBackup',
  input: z.object({
    Name: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/u, 'Name must be 1 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit')
      .optional(),
  }),
  async run(_ctx, deps, input) {
    const { source, refusal, directory } = deps.backups;
    if (source === undefined) throw new KmsError('UnsupportedOperationException', `CreateBackup is not available: ${refusal ?? 'nothing to back up'}.`);
    const name = input.Name ?? `keybridge-${new Date(deps.clock.now()).toISOString().replace(/[:.]/gu, '-')}`;
    const out = join(directory, name);
    if (existsSync(out)) throw new KmsError('AlreadyExistsException', `A backup named ${name} already exists in the backup directory.`);
    if (running) throw new KmsError('KMSInvalidStateException', 'A backup is already being written on this node; try again when it is done.');
    running = true;
    try {
      const result = await createBackupOffThread(source, out);
      const m = result.manifest;
      return {
        Name: name,
        Directory: result.directory,
        Bytes: result.bytes,
        Milliseconds: result.milliseconds,
        Attempts: result.attempts,
        Files: m.files.length,
        Keys: m.contents.keys,
        CustomKeyStores: m.contents.customKeyStores,
        Tokens: m.contents.tokens,
        AuditRecords: m.audit.records,
        AuditHead: { Seq: m.audit.head.seq, Hash: m.audit.head.hash },
        NotIncluded: m.notIncluded,
      };
    } finally {
      running = false;
    }
  },
});
