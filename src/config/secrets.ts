// Reading a secret reference ({file} or {env}). The value is returned to the one caller that needs
// it (the HSM login) and never logged; error messages name the reference, not the content.

import { readFileSync } from 'node:fs';
import type { SecretRef } from './schema.js';

export function readSecret(ref: SecretRef, env: NodeJS.ProcessEnv = process.env): string {
  if ('file' in ref) {
    let text: string;
    try {
      text = readFileSync(ref.file, 'utf8');
    } catch (err) {
      throw new Error(`cannot read secret file ${ref.file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
    }
    const value = text.replace(/\r?\n$/, '');
    if (value.length === 0) throw new Error(`secret file ${ref.file} is empty`);
    return value;
  }
  const value = env[ref.env];
  if (value === undefined || value === '') throw new Error(`environment variable ${ref.env} (a secret reference) is not set`);
  return value;
}
