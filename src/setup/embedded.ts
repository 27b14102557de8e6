// The embedded default: everything `npm start` needs, created once under the data directory and
// reused on every later start. Nothing here is ever re-initialised or overwritten.
//
//   <dataDir>/softhsm2.conf      SoftHSM2 configuration pointing at <dataDir>/tokens
//   <dataDir>/tokens/            the token (SoftHSM2 keeps private objects encrypted under the PIN)
//   <dataDir>/pins/user.pin      the token's user PIN, mode 0600
//   <dataDir>/pins/so.pin        the token's security-officer PIN, mode 0600
//   <dataDir>/credentials        AWS shared-credentials file, profile `keybridge`, mode 0600
//   <dataDir>/keybridge.db       the SQLite metadata store (created by the store)
//   <dataDir>/pins/<clusterId>.pin   crypto-user PIN of an example cluster's tokens (embeddedSoftHsm)
//   <dataDir>/pins/<clusterId>-so.pin  their SO PIN (used once more to install the wrapping key)

import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { generateAccessKey, readCredentialsFile, writeCredentialsProfile } from '../auth/credentials-file.js';
import type { ClusterDefinition, Config, TokenConfig } from '../config/schema.js';
import { readSecret } from '../config/secrets.js';
import { installClusterWrappingKey } from '../hsm/pkcs11/cluster-wrapping-key.js';
import { initializeToken, tokenExists } from '../hsm/pkcs11/token-init.js';
import { withSetupLock } from './setup-lock.js';

export const EMBEDDED_TOKEN_LABEL = 'keybridge';

export interface EmbeddedSetup {
  readonly defaultKeyStore: TokenConfig;
  /** What this start created (false = reused from an earlier start). */
  readonly created: { readonly token: boolean; readonly credentials: boolean };
}

/**
 * Prepares the data directory. Must run before any PKCS#11 module is loaded in this process,
 * because SoftHSM2 reads SOFTHSM2_CONF when it is initialised.
 */
export async function prepareEmbedded(config: Readonly<Config>, clusters: Iterable<ClusterDefinition>, logger: Logger): Promise<EmbeddedSetup> {
  const dir = config.dataDir;
  const pinsDir = join(dir, 'pins');
  const tokensDir = join(dir, 'tokens');
  for (const d of [dir, pinsDir, tokensDir]) {
    mkdirSync(d, { recursive: true, mode: 0o700 });
  }
  chmodSync(pinsDir, 0o700);
  // Processes sharing the data directory (several nodes on one token directory) prepare it one at a time.
  return withSetupLock(dir, () => prepareLocked(config, clusters, logger, { dir, pinsDir, tokensDir }));
}

async function prepareLocked(
  config: Readonly<Config>,
  clusters: Iterable<ClusterDefinition>,
  logger: Logger,
  { dir, pinsDir, tokensDir }: { dir: string; pinsDir: string; tokensDir: string },
): Promise<EmbeddedSetup> {

  const softhsmConf = join(dir, 'softhsm2.conf');
  if (!existsSync(softhsmConf)) {
    writeFileSync(
      softhsmConf,
      `# Written by keybridge for the embedded default token.\ndirectories.tokendir = ${tokensDir}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`,
      { mode: 0o600 },
    );
  }
  // WARNING: SoftHSM2 reads this when the library is initialised; set it before anything loads it.
  process.env.SOFTHSM2_CONF = softhsmConf;

  const userPin = { file: join(pinsDir, 'user.pin') };
  const soPin = { file: join(pinsDir, 'so.pin') };
  const modulePath = config.softhsmModule;
  let tokenCreated = false;
  if (!(await tokenExists({ modulePath, label: EMBEDDED_TOKEN_LABEL }))) {
    if (existsSync(userPin.file) !== existsSync(soPin.file)) {
      throw new Error(`the embedded token's PIN files in ${pinsDir} are incomplete; refusing to guess`);
    }
    writePinIfAbsent(userPin.file);
    writePinIfAbsent(soPin.file);
    await initializeToken({ modulePath, label: EMBEDDED_TOKEN_LABEL, soPin: readSecret(soPin), userPin: readSecret(userPin) });
    tokenCreated = true;
    logger.info({ tokenLabel: EMBEDDED_TOKEN_LABEL, tokensDir }, 'initialised the embedded SoftHSM2 token');
  } else if (!existsSync(userPin.file)) {
    throw new Error(`the embedded token exists but its user PIN file ${userPin.file} is missing`);
  }

  for (const cluster of clusters) {
    if (cluster.embeddedSoftHsm) await prepareExampleCluster(cluster, pinsDir, logger);
  }

  let credentialsCreated = false;
  const credentialsFile = config.credentialsFile!;
  const profiles = existsSync(credentialsFile) ? readCredentialsFile(credentialsFile) : new Map();
  if (!profiles.has(config.credentialsProfile)) {
    writeCredentialsProfile(credentialsFile, config.credentialsProfile, generateAccessKey());
    credentialsCreated = true;
    logger.info({ credentialsFile, profile: config.credentialsProfile }, 'wrote operator credentials');
  }

  return {
    defaultKeyStore: {
      module: modulePath,
      tokenLabel: EMBEDDED_TOKEN_LABEL,
      userPin,
      profile: 'softhsm2',
      ...(config.embeddedMaxSessions !== undefined ? { maxSessions: config.embeddedMaxSessions } : {}),
    },
    created: { token: tokenCreated, credentials: credentialsCreated },
  };
}

/**
 * Creates the SoftHSM2 tokens of an example cluster. All members share one crypto-user PIN, the
 * KeyStorePassword an operator gives CreateCustomKeyStore; keybridge itself stores it only sealed.
 */
async function prepareExampleCluster(cluster: ClusterDefinition, pinsDir: string, logger: Logger): Promise<void> {
  const userPin = { file: join(pinsDir, `${cluster.clusterId}.pin`) };
  const soPin = { file: join(pinsDir, `${cluster.clusterId}-so.pin`) };
  for (const member of cluster.members) {
    if (await tokenExists({ modulePath: member.module, label: member.tokenLabel })) continue;
    writePinIfAbsent(userPin.file);
    writePinIfAbsent(soPin.file);
    await initializeToken({ modulePath: member.module, label: member.tokenLabel, soPin: readSecret(soPin), userPin: readSecret(userPin) });
    logger.info({ clusterId: cluster.clusterId, member: member.name, tokenLabel: member.tokenLabel }, 'initialised an example cluster token');
  }
  if (cluster.replication === 'keybridge') {
    // The SO's setup step (`keybridge cluster init`), done here because we hold the example SO PIN.
    const members = cluster.members.map((m) => ({ name: m.name, modulePath: m.module, tokenLabel: m.tokenLabel }));
    const { outcome } = await installClusterWrappingKey(members, readSecret(soPin));
    if (outcome === 'installed') logger.info({ clusterId: cluster.clusterId }, 'installed the example cluster\'s trusted wrapping key');
  }
}

function writePinIfAbsent(path: string): void {
  if (existsSync(path)) return;
  // 16 random bytes as hex: 32 characters, within every token's PIN length limits and AWS's
  // KeyStorePassword limit (7–32), and never starting with '-' (operators pass it on command lines).
  writeFileSync(path, `${randomBytes(16).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
}
