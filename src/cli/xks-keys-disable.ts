// keybridge xks keys-disable: DisableXksKey.

import { oneKeyCommand } from './xks-common.js';

export const xksKeysDisable = oneKeyCommand(
  'keys-disable',
  'DisableXksKey',
  'Stop AWS KMS from encrypting and decrypting with an XKS key (DisableXksKey).',
  'Sets the key DISABLED: from the next request on, the proxy refuses to encrypt or decrypt with it (its metadata ' +
    'still answers, with status DISABLED). Reversible with keys-enable.',
);
