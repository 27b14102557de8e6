// keybridge xks keys-describe: DescribeXksKey.

import { oneKeyCommand } from './xks-common.js';

export const xksKeysDescribe = oneKeyCommand(
  'keys-describe',
  'DescribeXksKey',
  'Show one XKS key (DescribeXksKey).',
  "Shows the key's URI path, status, usage, key store, creation date and description.",
);
