// A throw-away SoftHSM2 token for tests: its own token directory and config, random PINs.
//
// WARNING: SoftHSM2 reads SOFTHSM2_CONF when the library is initialised. Call createSoftHsm()
// before anything in this process initialises the library (node --test runs each test file in its
// own process, so one fixture per file is the easy rule).

import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { describeModule } from '../../src/hsm/pkcs11/module.js';
import type { VendorProfile } from '../../src/hsm/vendor-profile.js';
import type { BackingKeyRef } from '../../src/ports/hsm.js';

const run = promisify(execFile);

export interface SoftHsmFixture {
  readonly modulePath: string;
  readonly tokenLabel: string;
  /** tokenLabel, then the labels of the extra tokens (all share userPin and soPin). */
  readonly tokenLabels: readonly string[];
  readonly userPin: string;
  readonly soPin: string;
  /** The temporary directory holding softhsm2.conf and tokens/. */
  readonly dir: string;
  readonly confPath: string;
  /** Removes the directory and restores SOFTHSM2_CONF. Close every Pkcs11Hsm first. */
  cleanup(): Promise<void>;
}

export interface SoftHsmFixtureOptions {
  /** Defaults to a random label. */
  readonly tokenLabel?: string;
  /** false: only the config and an empty token directory (for tests of token initialisation). */
  readonly initToken?: boolean;
  /** More tokens in the same config, with random labels and the same PINs (e.g. cluster members). */
  readonly extraTokens?: number;
}

const MODULE_CANDIDATES = [
  '/usr/lib/softhsm/libsofthsm2.so',
  '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so',
  '/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so',
  '/usr/local/lib/softhsm/libsofthsm2.so',
  '/opt/homebrew/lib/softhsm/libsofthsm2.so',
];

/** The SoftHSM2 library: $SOFTHSM2_MODULE, else the first of the usual install paths. */
export function softHsmModulePath(): string {
  const configured = process.env['SOFTHSM2_MODULE'];
  if (configured !== undefined && configured !== '') return configured;
  const found = MODULE_CANDIDATES.find((path) => existsSync(path));
  if (found === undefined) throw new Error('SoftHSM2 not found; install softhsm2 or set SOFTHSM2_MODULE');
  return found;
}

export async function createSoftHsm(options: SoftHsmFixtureOptions = {}): Promise<SoftHsmFixture> {
  const modulePath = softHsmModulePath();
  if ((describeModule(modulePath)?.refs ?? 0) > 0) {
    throw new Error('createSoftHsm() must run before the PKCS#11 library is initialised in this process');
  }
  const dir = await mkdtemp(join(tmpdir(), 'keybridge-softhsm-'));
  const confPath = join(dir, 'softhsm2.conf');
  await mkdir(join(dir, 'tokens'));
  await writeFile(
    confPath,
    [`directories.tokendir = ${join(dir, 'tokens')}`, 'objectstore.backend = file', 'log.level = ERROR', 'slots.removable = false', ''].join('\n'),
  );
  const tokenLabel = options.tokenLabel ?? `kb-test-${randomBytes(4).toString('hex')}`;
  const tokenLabels = [tokenLabel, ...Array.from({ length: options.extraTokens ?? 0 }, () => `kb-test-${randomBytes(4).toString('hex')}`)];
  const userPin = randomBytes(12).toString('hex');
  const soPin = randomBytes(12).toString('hex');
  const previousConf = process.env['SOFTHSM2_CONF'];
  process.env['SOFTHSM2_CONF'] = confPath;

  if (options.initToken !== false) {
    // One at a time: each takes the free slot the previous one left.
    for (const label of tokenLabels) {
      await run('softhsm2-util', ['--init-token', '--free', '--label', label, '--so-pin', soPin, '--pin', userPin], {
        env: { ...process.env, SOFTHSM2_CONF: confPath },
      });
    }
  }

  return {
    modulePath,
    tokenLabel,
    tokenLabels,
    userPin,
    soPin,
    dir,
    confPath,
    async cleanup() {
      if (process.env['SOFTHSM2_CONF'] === confPath) {
        if (previousConf === undefined) delete process.env['SOFTHSM2_CONF'];
        else process.env['SOFTHSM2_CONF'] = previousConf;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A vendor profile from hsm-config/profiles/ (read as is; the config layer's zod check is not applied). */
export function loadVendorProfile(name: string): VendorProfile {
  return JSON.parse(readFileSync(join(repoRoot(), 'hsm-config', 'profiles', `${name}.json`), 'utf8')) as VendorProfile;
}

/** A fresh backing key reference shaped like the ones keybridge makes. */
export function newBackingKeyRef(): BackingKeyRef {
  return { id: randomBytes(32).toString('hex'), label: `arn:aws:kms:eu-west-1:111122223333:key/${randomUUID()}` };
}

// Works from the sources and from a compiled copy (e.g. .tmp/hsm-dist/test/support/).
function repoRoot(): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'hsm-config', 'profiles'))) return dir;
    if (dirname(dir) === dir) throw new Error('hsm-config/profiles not found above the test support directory');
  }
}

/** The directory under `tokensDir` where SoftHSM2 keeps the token labelled `label` (its token.object names the label). */
export function tokenDirOf(tokensDir: string, label: string): string {
  const padded = Buffer.from(label.padEnd(32, ' '));
  const found = readdirSync(tokensDir).find((dir) => readFileSync(join(tokensDir, dir, 'token.object')).includes(padded));
  if (found === undefined) throw new Error(`no token directory under ${tokensDir} holds ${label}`);
  return join(tokensDir, found);
}
