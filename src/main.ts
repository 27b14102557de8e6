// Process entry: config → compose → listen → graceful close on SIGTERM / SIGINT.

import cluster from 'node:cluster';
import { loadConfig } from './config/load.js';
import { compose, type Keybridge } from './compose.js';
import { createLogger } from './logger.js';
import { superviseWorkers, WORKER_INDEX_ENV, workerCount } from './workers.js';

function argument(name: string): string | undefined {
  const at = process.argv.indexOf(name);
  return at >= 0 ? process.argv[at + 1] : undefined;
}

async function main(): Promise<void> {
  const file = argument('--config');
  const config = loadConfig(file ? { file } : {});
  const logger = createLogger({ level: config.logLevel, ...(config.logFile ? { file: config.logFile } : {}) });

  if (cluster.isPrimary) {
    const workers = workerCount(config, argument('--workers'));
    if (workers > 1) {
      await superviseWorkers(config, workers, logger);
      logger.flush();
      process.exit(0);
    }
  }
  // One node: this process alone, or worker N of several (all on PostgreSQL, the audit trail included).
  const worker = process.env[WORKER_INDEX_ENV];

  // Installed before start-up work, so a stop that arrives while the token or store is being
  // opened (a container stopped right after its start) ends the process cleanly, not by SIGKILL.
  let keybridge: Keybridge | undefined;
  let stopping: string | undefined;
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));

  keybridge = await compose(config, { logger });
  if (stopping) return stop(stopping, true);
  const url = await keybridge.listen();
  logger.info({ url, region: config.region, accountId: config.accountId, dataDir: config.dataDir, ...(worker === undefined ? {} : { worker: Number(worker) }) }, 'keybridge is serving the KMS API');
  if (config.embedded && (worker === undefined || worker === '1')) printQuickStart(url, config.credentialsFile!, config.credentialsProfile, config.region, config.console.enabled);

  function stop(signal: string, deferred = false): void {
    if (stopping && !deferred) return;
    stopping = signal;
    // Still starting: compose() is running; it is closed as soon as it returns (above).
    if (!keybridge) return;
    logger.info({ signal }, 'shutting down');
    keybridge.close().then(
      () => {
        logger.flush();
        process.exit(0);
      },
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        logger.flush();
        process.exit(1);
      },
    );
  }
}

function printQuickStart(url: string, credentialsFile: string, profile: string, region: string, consoleEnabled: boolean): void {
  process.stderr.write(
    [
      '',
      `keybridge is listening on ${url}`,
      '',
      'Use it with the AWS CLI:',
      `  export AWS_SHARED_CREDENTIALS_FILE=${credentialsFile} AWS_PROFILE=${profile} AWS_DEFAULT_REGION=${region}`,
      `  aws kms create-key --description "my first keybridge key" --endpoint-url ${url}`,
      '',
      ...(consoleEnabled ? [`Or open the web console at ${url}/console/ and sign in with the [${profile}] profile of ${credentialsFile}.`, ''] : []),
    ].join('\n') + '\n',
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`keybridge failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
