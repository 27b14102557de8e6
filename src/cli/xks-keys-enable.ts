// keybridge xks keys-enable: EnableXksKey.

import { oneKeyCommand } from './xks-common.js';

export const xksKeysEnable = oneKeyCommand(
  'keys-enable',
  'EnableXksKey',
  'Let AWS KMS encrypt and decrypt with an XKS key again (EnableXksKey).',
  'Sets the key ENABLED; the proxy serves it at once.',
);
