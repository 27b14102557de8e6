// Process entry: config → compose → listen → graceful close on SIGTERM / SIGINT.

import { loadConfig } from './config/load.js';
import { compose } from './compose.js';
import { createLogger } from './logger.js';

async function main(): Promise<void> {
  const configArg = process.argv.indexOf('--config');
  const file = configArg >= 0 ? process.argv[configArg + 1] : undefined;
  const config = loadConfig(file ? { file } : {});
  const logger = createLogger({ level: config.logLevel, ...(config.logFile ? { file: config.logFile } : {}) });

  const keybridge = await compose(config, { logger });
  const url = await keybridge.listen();
  logger.info({ url, region: config.region, accountId: config.accountId, dataDir: config.dataDir }, 'keybridge is serving the KMS API');
  if (config.embedded) printQuickStart(url, config.credentialsFile!, config.credentialsProfile, config.region);

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
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
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

function printQuickStart(url: string, credentialsFile: string, profile: string, region: string): void {
  process.stderr.write(
    [
      '',
      `keybridge is listening on ${url}`,
      '',
      'Use it with the AWS CLI:',
      `  export AWS_SHARED_CREDENTIALS_FILE=${credentialsFile} AWS_PROFILE=${profile} AWS_DEFAULT_REGION=${region}`,
      `  aws kms create-key --description "my first keybridge key" --endpoint-url ${url}`,
      '',
    ].join('\n') + '\n',
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`keybridge failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
