import { z } from 'zod';
import { KmsError } from '../domain/errors.js';
import type { MacAlgorithm } from '../domain/key-spec.js';
import { assertAlgorithm, keyForUsage } from './asymmetric-access.js';
import { macAlgorithm } from './generate-mac.js';
import { hsmCall } from './hsm-errors.js';
import { defineOperation } from './operation.js';
import { backingKeyRef, dryRunSucceeded } from './symmetric-crypto.js';
import { blob, dryRun, grantTokens, keyIdMember } from './wire.js';

export const verifyMac = defineOperation({
  name: 'VerifyMac',
  input: z.object({
    Message: blob(1, 4096),
    KeyId: keyIdMember,
    MacAlgorithm: macAlgorithm,
    Mac: blob(1, 6144),
    GrantTokens: grantTokens.optional(),
    DryRun: dryRun.optional(),
  }),
  async run(_ctx, deps, input) {
    const key = await keyForUsage(deps, input.KeyId, 'GENERATE_VERIFY_MAC', 'VerifyMac');
    const algorithm = assertAlgorithm(key, 'mac', input.MacAlgorithm, 'MAC') as MacAlgorithm;
    if (input.DryRun) throw dryRunSucceeded();
    const hsm = deps.keyStores.hsmFor(key);
    const valid = await hsmCall(() => hsm.verifyMac(backingKeyRef(key), algorithm, input.Message, input.Mac));
    // As with Verify, AWS reports a mismatch as an error, never as MacValid: false.
    if (!valid) throw new KmsError('KMSInvalidMacException', 'The MAC verification failed.');
    return { KeyId: key.arn, MacValid: true, MacAlgorithm: algorithm };
  },
});
