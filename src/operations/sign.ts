import { z } from 'zod';
import type { SigningAlgorithm } from '../domain/key-spec.js';
import { assertAlgorithm, keyForUsage } from './asymmetric-access.js';
import { hsmCall } from './hsm-errors.js';
import { defineOperation } from './operation.js';
import { messageType, signingAlgorithm, signingInput } from './signing-input.js';
import { backingKeyRef, dryRunSucceeded } from './symmetric-crypto.js';
import { blob, dryRun, grantTokens, keyIdMember } from './wire.js';

export const sign = defineOperation({
  name: 'Sign',
  input: z.object({
    KeyId: keyIdMember,
    Message: blob(1, 4096),
    MessageType: messageType.optional(),
    GrantTokens: grantTokens.optional(),
    SigningAlgorithm: signingAlgorithm,
    DryRun: dryRun.optional(),
  }),
  async run(_ctx, deps, input) {
    const key = await keyForUsage(deps, input.KeyId, 'SIGN_VERIFY', 'Sign');
    const algorithm = assertAlgorithm(key, 'signing', input.SigningAlgorithm, 'signing') as SigningAlgorithm;
    const data = signingInput(algorithm, input.MessageType ?? 'RAW', input.Message);
    if (input.DryRun) throw dryRunSucceeded();
    const hsm = deps.keyStores.hsmFor(key);
    const signature = await hsmCall(() => hsm.sign(backingKeyRef(key), algorithm, data));
    return { KeyId: key.arn, Signature: signature.toString('base64'), SigningAlgorithm: algorithm };
  },
});
