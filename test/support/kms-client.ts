// Real AWS clients pointed at a test server: the JS SDK v3 and the AWS CLI v2.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { KMSClient } from '@aws-sdk/client-kms';
import type { TestServer } from './server.js';

/** What an SDK client needs of a server (a TestServer, or a keybridge running in a container). */
export type KmsEndpoint = Pick<TestServer, 'url' | 'region' | 'credentials'>;
/** What the AWS CLI needs: the URL, the region, the credentials file and a HOME (dataDir). */
export type CliEndpoint = Pick<TestServer, 'url' | 'region' | 'dataDir' | 'credentialsFile'>;

export function sdkClient(server: KmsEndpoint, overrides: { accessKeyId?: string; secretAccessKey?: string; region?: string } = {}): KMSClient {
  return new KMSClient({
    region: overrides.region ?? server.region,
    endpoint: server.url,
    maxAttempts: 1,
    credentials: {
      accessKeyId: overrides.accessKeyId ?? server.credentials.accessKeyId,
      secretAccessKey: overrides.secretAccessKey ?? server.credentials.secretAccessKey,
    },
  });
}

export const AWS_CLI = '/usr/bin/aws';
/** For `test(name, { skip: awsCliMissing }, …)`: names the missing real dependency. */
export const awsCliMissing: string | false = existsSync(AWS_CLI) ? false : 'AWS CLI v2 (/usr/bin/aws, Debian package awscli) is not installed';

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout parsed as JSON, or undefined when empty. */
  readonly json: any;
}

/** Runs `aws kms <args…>` with the server's credentials file, exactly as the README says. */
export function awsKms(server: CliEndpoint, args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(AWS_CLI, ['kms', ...args, '--endpoint-url', server.url, '--output', 'json'], {
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: server.dataDir,
        AWS_SHARED_CREDENTIALS_FILE: server.credentialsFile,
        AWS_CONFIG_FILE: '/dev/null',
        AWS_PROFILE: 'keybridge',
        AWS_DEFAULT_REGION: server.region,
        AWS_MAX_ATTEMPTS: '1',
        AWS_PAGER: '',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      let json: unknown;
      if (stdout.trim()) {
        try {
          json = JSON.parse(stdout);
        } catch {
          json = undefined;
        }
      }
      resolve({ code: code ?? -1, stdout, stderr, json });
    });
  });
}
