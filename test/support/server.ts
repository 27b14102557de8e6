// Starts a real keybridge in this test process: embedded SoftHSM2 token and SQLite store in a
// temp data directory, a real HTTP listener on a free loopback port, and an injectable clock.
// One data directory per test file (SoftHSM2 reads its configuration once per process).

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compose, type Keybridge } from '../../src/compose.js';
import { parseConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/logger.js';
import type { Clock } from '../../src/ports/clock.js';

export class TestClock implements Clock {
  private offsetMs = 0;
  now(): number {
    return Date.now() + this.offsetMs;
  }
  advance(ms: number): void {
    this.offsetMs += ms;
  }
}

export interface TestServer {
  readonly url: string;
  readonly region: string;
  readonly accountId: string;
  readonly dataDir: string;
  readonly logFile: string;
  readonly credentialsFile: string;
  readonly credentials: { accessKeyId: string; secretAccessKey: string };
  readonly clock: TestClock;
  readonly keybridge: Keybridge;
  /** Closes the server; the data directory stays for a restart. */
  stop(): Promise<void>;
  /** Closes the server and removes the data directory. */
  destroy(): Promise<void>;
}

/**
 * KEYBRIDGE_TEST_SYMMETRIC_SUITE=AES_256_CBC_HMAC_SHA_256 runs a test's servers with the default key
 * store forced to that suite (scripts/test.sh runs the symmetric end-to-end tests once more so, as
 * on an HSM without AES-GCM). A test's own settings still win.
 */
function forcedSuite(): Record<string, unknown> {
  const suite = process.env['KEYBRIDGE_TEST_SYMMETRIC_SUITE'];
  return suite === undefined || suite === '' ? {} : { defaultKeyStoreSymmetricSuite: suite };
}

export function makeDataDir(): string {
  return mkdtempSync(join(tmpdir(), 'keybridge-test-'));
}

export async function startServer(options: { dataDir?: string; clock?: TestClock; settings?: Record<string, unknown> } = {}): Promise<TestServer> {
  const dataDir = options.dataDir ?? makeDataDir();
  const logFile = join(dataDir, 'keybridge.log');
  const config = parseConfig({ dataDir, listen: { host: '127.0.0.1', port: 0 }, logLevel: 'debug', logFile, ...forcedSuite(), ...options.settings }, dataDir);
  const logger = createLogger({ level: config.logLevel, file: logFile });
  const clock = options.clock ?? new TestClock();
  const keybridge = await compose(config, { logger, clock });
  const url = await keybridge.listen();
  const access = keybridge.accessKeys.get(config.credentialsProfile)!;
  const stop = async () => {
    await keybridge.close();
    logger.flush();
  };
  return {
    url,
    region: config.region,
    accountId: config.accountId,
    dataDir,
    logFile,
    credentialsFile: config.credentialsFile!,
    credentials: { accessKeyId: access.accessKeyId, secretAccessKey: access.secretAccessKey },
    clock,
    keybridge,
    stop,
    async destroy() {
      await stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
