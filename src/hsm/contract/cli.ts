// `npm run hsm-contract -- --module /path/lib.so --token-label L --pin-file F [--so-pin-file F]`:
// qualifies a PKCS#11 token for keybridge before it is deployed. Prints one line per check and
// writes the report as JSON with --json. Exit status: 0 when every check passed or the token
// said it cannot (keybridge then refuses what needs it); 2 when the token misbehaved in a check.
//
// `npm run hsm-contract -- matrix --doc docs/hsm-compatibility.md report.json…` rewrites the
// document's matrix from reports.

import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

import { renderMatrix, replaceMatrix } from './matrix.js';
import { runContract, type ContractReport } from './runner.js';

const USAGE = `usage:
  hsm-contract --module LIB --token-label LABEL --pin-file FILE [--so-pin-file FILE]
               [--name NAME] [--secret-key-label LABEL] [--hmac-key-label LABEL] [--json OUT]
  hsm-contract matrix --doc FILE REPORT.json...`;

/** A PIN from a file: the first line, without its line ending (PINs never come from argv). */
function pinFrom(path: string): string {
  return readFileSync(path, 'utf8').split(/\r?\n/u)[0] ?? '';
}

async function qualify(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      module: { type: 'string' },
      'token-label': { type: 'string' },
      'pin-file': { type: 'string' },
      'so-pin-file': { type: 'string' },
      name: { type: 'string' },
      'secret-key-label': { type: 'string' },
      'hmac-key-label': { type: 'string' },
      json: { type: 'string' },
    },
  });
  if (values.module === undefined || values['token-label'] === undefined || values['pin-file'] === undefined) {
    console.error(USAGE);
    return 1;
  }
  const report = await runContract(values.name ?? values.module, {
    module: values.module,
    tokenLabel: values['token-label'],
    pin: pinFrom(values['pin-file']),
    ...(values['so-pin-file'] === undefined ? {} : { soPin: pinFrom(values['so-pin-file']) }),
    ...(values['secret-key-label'] === undefined ? {} : { secretKeyLabel: values['secret-key-label'] }),
    ...(values['hmac-key-label'] === undefined ? {} : { hmacKeyLabel: values['hmac-key-label'] }),
  });
  if (values.json !== undefined) writeFileSync(values.json, `${JSON.stringify(report, null, 2)}\n`);
  const t = report.token;
  console.log(`${report.implementation}: ${t.libraryDescription} ${t.libraryVersion} (${t.libraryManufacturer}), token ${t.tokenModel} ${t.tokenFirmware}`);
  const width = Math.max(...report.results.map((r) => r.id.length));
  for (const r of report.results) console.log(`  ${r.status.padEnd(11)} ${r.id.padEnd(width)}  ${r.detail ?? ''}`);
  const count = (status: string): number => report.results.filter((r) => r.status === status).length;
  console.log(`${count('pass')} pass, ${count('unsupported')} unsupported, ${count('fail')} fail`);
  return count('fail') > 0 ? 2 : 0;
}

function matrix(argv: string[]): number {
  const { values, positionals } = parseArgs({ args: argv, options: { doc: { type: 'string' } }, allowPositionals: true });
  if (values.doc === undefined || positionals.length === 0) {
    console.error(USAGE);
    return 1;
  }
  const reports = positionals.map((path) => JSON.parse(readFileSync(path, 'utf8')) as ContractReport);
  writeFileSync(values.doc, replaceMatrix(readFileSync(values.doc, 'utf8'), renderMatrix(reports)));
  return 0;
}

const argv = process.argv.slice(2);
try {
  process.exitCode = argv[0] === 'matrix' ? matrix(argv.slice(1)) : await qualify(argv);
} catch (err) {
  console.error(`hsm-contract: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
}
