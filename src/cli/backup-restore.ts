// keybridge backup restore: a verified backup into a new data directory (src/backup/restore.ts).

import { resolve } from 'node:path';
import { restoreBackup } from '../backup/restore.js';
import { req, type Command } from './command.js';

export const backupRestore: Command = {
  group: 'backup',
  name: 'restore',
  summary: 'Restore a backup into a new, empty data directory, with the PINs kept apart.',
  description:
    'Verifies the backup (as `backup verify`), then copies it into the data directory (--data-dir or KEYBRIDGE_DATA_DIR; ' +
    'it must be new or empty) and the PIN files of --pins into its pins/. Start keybridge on that directory: it writes ' +
    'softhsm2.conf and new operator credentials, and every key and ciphertext of the backup works again. Keys created ' +
    'after the backup are not in it.',
  options: [
    { name: 'from', kind: 'string', metavar: 'DIR', required: true, description: 'The backup directory.' },
    { name: 'pins', kind: 'string', metavar: 'DIR', required: true, description: 'The pins/ folder of the data directory the backup was taken from.' },
  ],
  async run(ctx) {
    const result = restoreBackup(req(ctx.values, 'from'), ctx.dataDir(), resolve(req(ctx.values, 'pins')));
    ctx.out.print({
      json: { DataDir: result.dataDir, Pins: result.pins, Manifest: result.manifest },
      table: {
        lines: [
          `restored ${result.manifest.contents.keys} keys (backup of ${result.manifest.createdAt}) into ${result.dataDir}, with ${result.pins.length} PIN files`,
          `start keybridge with KEYBRIDGE_DATA_DIR=${result.dataDir}; its operator credentials are written at the first start`,
        ],
      },
    });
    return 0;
  },
};
