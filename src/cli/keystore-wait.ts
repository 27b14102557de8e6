// keybridge keystore wait: polls DescribeCustomKeyStores until the store reaches a state.

import { parsePositive } from './args.js';
import { type Command, req, str } from './command.js';
import { describeStores, storesPrintable } from './keystore-describe.js';

export const WAIT_STATES = ['CONNECTED', 'DISCONNECTED', 'FAILED'] as const;
export const DEFAULT_TIMEOUT_SECONDS = 300;
export const DEFAULT_INTERVAL_MS = 2000;

export const keystoreWait: Command = {
  group: 'keystore',
  name: 'wait',
  summary: 'Wait until a custom key store is CONNECTED, DISCONNECTED or FAILED.',
  description:
    'Polls DescribeCustomKeyStores until the store reaches STATE, then shows it (exit status 0). Waiting for ' +
    'CONNECTED stops with exit status 1 if the store becomes FAILED, printing its ConnectionErrorCode. ' +
    'Exit status 1 too when the timeout passes first.',
  options: [
    { name: 'id', kind: 'string', metavar: 'ID', required: true, description: 'The store (cks-...).' },
    { name: 'state', kind: 'string', metavar: 'STATE', required: true, choices: WAIT_STATES, description: 'CONNECTED, DISCONNECTED or FAILED.' },
    { name: 'timeout', kind: 'string', metavar: 'SECONDS', description: `Give up after this long (default ${DEFAULT_TIMEOUT_SECONDS}).` },
    { name: 'interval', kind: 'string', metavar: 'MS', description: `Milliseconds between polls (default ${DEFAULT_INTERVAL_MS}).` },
  ],
  validate(values) {
    const timeout = str(values, 'timeout');
    const interval = str(values, 'interval');
    if (timeout !== undefined) parsePositive('timeout', timeout, false);
    if (interval !== undefined) parsePositive('interval', interval, true);
  },
  async run(ctx) {
    const id = req(ctx.values, 'id');
    const target = req(ctx.values, 'state');
    const timeoutArg = str(ctx.values, 'timeout');
    const intervalArg = str(ctx.values, 'interval');
    const timeoutMs = (timeoutArg === undefined ? DEFAULT_TIMEOUT_SECONDS : parsePositive('timeout', timeoutArg, false)) * 1000;
    const intervalMs = intervalArg === undefined ? DEFAULT_INTERVAL_MS : parsePositive('interval', intervalArg, true);
    const deadline = ctx.now() + timeoutMs;

    for (;;) {
      const stores = await describeStores(ctx.kms(), { id });
      const store = stores.find((s) => s.CustomKeyStoreId === id);
      if (store === undefined) {
        ctx.warn(`DescribeCustomKeyStores did not return ${id}`);
        return 1;
      }
      const state = store.ConnectionState ?? 'UNKNOWN';
      if (state === target) {
        ctx.out.print(storesPrintable([store]));
        return 0;
      }
      if (target === 'CONNECTED' && state === 'FAILED') {
        ctx.warn(`custom key store ${id} is FAILED (ConnectionErrorCode: ${store.ConnectionErrorCode ?? 'none'})`);
        return 1;
      }
      const left = deadline - ctx.now();
      if (left <= 0) {
        const code = store.ConnectionErrorCode ? `, ConnectionErrorCode ${store.ConnectionErrorCode}` : '';
        ctx.warn(`timed out after ${timeoutMs / 1000} s waiting for ${id} to be ${target} (it is ${state}${code})`);
        return 1;
      }
      await ctx.sleep(Math.min(intervalMs, left));
    }
  },
};
