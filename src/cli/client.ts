// Where the CLI sends its requests and with which keys, resolved like the AWS CLI does:
//
//   endpoint     --endpoint-url, else $AWS_ENDPOINT_URL_KMS, else $AWS_ENDPOINT_URL
//                (both ignored when $AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true), else http://127.0.0.1:4599
//   region       --region, else $AWS_REGION, else $AWS_DEFAULT_REGION, else us-east-1
//   profile      --profile, else $AWS_PROFILE, else keybridge
//   credentials  $AWS_ACCESS_KEY_ID + $AWS_SECRET_ACCESS_KEY when set, unless --profile is given
//                (an explicit profile wins over environment keys, as in the AWS CLI); else the
//                profile's keys in the shared-credentials file:
//                <--data-dir>/credentials when --data-dir is given, else $AWS_SHARED_CREDENTIALS_FILE,
//                else <$KEYBRIDGE_DATA_DIR or ./data>/credentials.
//
// Errors here are ConfigError (exit status 2). Messages never contain a secret key.

import { resolve } from 'node:path';
import { KMSClient } from '@aws-sdk/client-kms';
import { CredentialsFileError, readCredentialsFile } from '../auth/credentials-file.js';

export const DEFAULT_ENDPOINT = 'http://127.0.0.1:4599';
export const DEFAULT_PROFILE = 'keybridge';
export const DEFAULT_REGION = 'us-east-1';
export const DEFAULT_DATA_DIR = './data';

export interface GlobalOptions {
  readonly endpointUrl?: string;
  readonly profile?: string;
  readonly region?: string;
  readonly dataDir?: string;
}

export interface ResolvedCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

export interface ResolvedConfig {
  readonly endpoint: string;
  readonly region: string;
  readonly profile: string;
  /** `environment`, or the credentials file's path. */
  readonly credentialsSource: string;
  readonly credentials: ResolvedCredentials;
}

/** The configuration cannot give a usable endpoint, region or credentials. Exit status 2. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

type Env = Readonly<Record<string, string | undefined>>;

/** An environment variable, with the empty string treated as unset. */
function envValue(env: Env, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v === '' ? undefined : v;
}

export function resolveEndpoint(globals: GlobalOptions, env: Env): string {
  let endpoint = globals.endpointUrl;
  let source = '--endpoint-url';
  if (endpoint === undefined && envValue(env, 'AWS_IGNORE_CONFIGURED_ENDPOINT_URLS')?.toLowerCase() !== 'true') {
    for (const name of ['AWS_ENDPOINT_URL_KMS', 'AWS_ENDPOINT_URL']) {
      endpoint = envValue(env, name);
      source = `$${name}`;
      if (endpoint !== undefined) break;
    }
  }
  if (endpoint === undefined) return DEFAULT_ENDPOINT;
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new ConfigError(`${source} is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError(`${source} must be an http:// or https:// URL`);
  return endpoint;
}

export function resolveRegion(globals: GlobalOptions, env: Env): string {
  return globals.region ?? envValue(env, 'AWS_REGION') ?? envValue(env, 'AWS_DEFAULT_REGION') ?? DEFAULT_REGION;
}

export function resolveProfile(globals: GlobalOptions, env: Env): string {
  return globals.profile ?? envValue(env, 'AWS_PROFILE') ?? DEFAULT_PROFILE;
}

export function resolveCredentialsFile(globals: GlobalOptions, env: Env, cwd: string): string {
  if (globals.dataDir !== undefined) return resolve(cwd, globals.dataDir, 'credentials');
  const shared = envValue(env, 'AWS_SHARED_CREDENTIALS_FILE');
  if (shared !== undefined) return resolve(cwd, shared);
  return resolve(cwd, envValue(env, 'KEYBRIDGE_DATA_DIR') ?? DEFAULT_DATA_DIR, 'credentials');
}

export function resolveConfig(globals: GlobalOptions, env: Env, cwd: string): ResolvedConfig {
  const endpoint = resolveEndpoint(globals, env);
  const region = resolveRegion(globals, env);
  const profile = resolveProfile(globals, env);

  if (globals.profile === undefined) {
    const accessKeyId = envValue(env, 'AWS_ACCESS_KEY_ID');
    const secretAccessKey = envValue(env, 'AWS_SECRET_ACCESS_KEY');
    if (accessKeyId !== undefined || secretAccessKey !== undefined) {
      if (accessKeyId === undefined) throw new ConfigError('AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not');
      if (secretAccessKey === undefined) throw new ConfigError('AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not');
      const sessionToken = envValue(env, 'AWS_SESSION_TOKEN');
      return {
        endpoint,
        region,
        profile,
        credentialsSource: 'environment',
        credentials: sessionToken === undefined ? { accessKeyId, secretAccessKey } : { accessKeyId, secretAccessKey, sessionToken },
      };
    }
  }

  const file = resolveCredentialsFile(globals, env, cwd);
  let profiles;
  try {
    profiles = readCredentialsFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new ConfigError(
        `no credentials: ${file} does not exist (set --data-dir, KEYBRIDGE_DATA_DIR, AWS_SHARED_CREDENTIALS_FILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)`,
      );
    }
    if (err instanceof CredentialsFileError) throw new ConfigError(`cannot read credentials: ${err.message}`);
    throw new ConfigError(`cannot read credentials file ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const creds = profiles.get(profile);
  if (creds === undefined) throw new ConfigError(`profile ${JSON.stringify(profile)} not found in ${file}`);
  return { endpoint, region, profile, credentialsSource: file, credentials: creds };
}

export function createKmsClient(config: ResolvedConfig, env: NodeJS.ProcessEnv = process.env): KMSClient {
  // The SDK warns on stderr under Node 20; an operator's command output stays clean.
  env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  return new KMSClient({
    endpoint: config.endpoint,
    region: config.region,
    credentials: { ...config.credentials },
  });
}
