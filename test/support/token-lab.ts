// Token lab: throw-away PKCS#11 tokens of three implementations, each with all its state (and its
// daemons' state) in a fresh temporary directory, started and stopped by scripts/tokens/<impl>.sh.
//
// The token is only reachable through its environment: run the code under test as a child process
// with `runPrefix` in front of its argv (openCryptoki lives in a private mount+IPC namespace; SoftHSM2
// and tpm2-pkcs11 need environment variables set before their library is loaded).

import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { REPO_ROOT } from './repo-root.js';

const execFileAsync = promisify(execFile);

export type TokenImplementation = 'softhsm2' | 'opencryptoki' | 'tpm2';

export interface LabToken {
  implementation: TokenImplementation;
  /** The temporary directory holding the token, its daemons' state and their logs. */
  dir: string;
  /** Absolute path of the PKCS#11 library. */
  module: string;
  label: string;
  pin: string;
  soPin: string;
  /** tpm2 only (no C_GenerateKey there): label of an AES-256 key provisioned with tpm2_ptool. */
  secretKeyLabel?: string;
  /** tpm2 only: label of a provisioned HMAC-SHA256 key (CKK_SHA256_HMAC, 32 bytes). */
  hmacKeyLabel?: string;
  /** argv prefix that runs a command in the token's environment: [dir/run] */
  runPrefix: string[];
  /** Stops the token's processes and removes dir; safe to call more than once. */
  stop(): Promise<void>;
}

// Valid for all three: openCryptoki wants 4-8 characters and an SO PIN other than its default 87654321.
const SO_PIN = '11223344';
const USER_PIN = '12345678';
// Starting takes ~0.1 s (SoftHSM2), ~0.5 s (openCryptoki), ~2.5 s (tpm2); the margin is for loaded machines.
const SCRIPT_TIMEOUT_MS = 60_000;

function script(impl: TokenImplementation): string {
  return join(REPO_ROOT, 'scripts', 'tokens', `${impl}.sh`);
}

/** undefined when installed; otherwise the reason (missing package), for a skip message */
export function tokenLabMissing(impl: TokenImplementation): string | undefined {
  const result = spawnSync('bash', [script(impl), 'check'], { encoding: 'utf8', timeout: SCRIPT_TIMEOUT_MS });
  if (result.status === 0) return undefined;
  const reason = (result.stderr ?? '').trim() || result.error?.message || `exit status ${String(result.status)}`;
  return `${impl} token lab unavailable: ${reason}`;
}

async function runScript(impl: TokenImplementation, args: string[]): Promise<void> {
  await execFileAsync('bash', [script(impl), ...args], { timeout: SCRIPT_TIMEOUT_MS, killSignal: 'SIGKILL' });
}

export async function startLabToken(impl: TokenImplementation, label?: string): Promise<LabToken> {
  const tokenLabel = label ?? `lab-${randomBytes(4).toString('hex')}`;
  if (Buffer.byteLength(tokenLabel) > 32) throw new Error(`token label longer than 32 bytes: ${tokenLabel}`);
  const dir = await mkdtemp(join(tmpdir(), `keybridge-${impl}-`));
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    // The script removes dir; rm again in case the script could not run at all.
    stopping ??= runScript(impl, ['stop', dir]).finally(() => rm(dir, { recursive: true, force: true }));
    return stopping;
  };

  try {
    await runScript(impl, ['start', dir, tokenLabel, SO_PIN, USER_PIN]);
  } catch (error) {
    const stderr = (error as { stderr?: unknown }).stderr;
    await stop().catch(() => undefined); // a failed start may have left daemons running
    const detail = typeof stderr === 'string' && stderr.trim() !== '' ? stderr.trim() : String(error);
    throw new Error(`could not start a ${impl} lab token: ${detail}`, { cause: error });
  }

  const read = async (name: string): Promise<string> => (await readFile(join(dir, name), 'utf8')).trim();
  const readOptional = async (name: string): Promise<string | undefined> =>
    existsSync(join(dir, name)) ? read(name) : undefined;
  try {
    const token: LabToken = {
      implementation: impl,
      dir,
      module: await read('module'),
      label: tokenLabel,
      pin: USER_PIN,
      soPin: SO_PIN,
      runPrefix: [join(dir, 'run')],
      stop,
    };
    const secretKeyLabel = await readOptional('secret-key-label');
    if (secretKeyLabel !== undefined) token.secretKeyLabel = secretKeyLabel;
    const hmacKeyLabel = await readOptional('hmac-key-label');
    if (hmacKeyLabel !== undefined) token.hmacKeyLabel = hmacKeyLabel;
    return token;
  } catch (error) {
    await stop().catch(() => undefined);
    throw error;
  }
}
