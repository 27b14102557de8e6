import { z } from 'zod';
import type { MacAlgorithm } from '../domain/key-spec.js';
import { assertAlgorithm, keyForUsage } from './asymmetric-access.js';
import { hsmCall } from './hsm-errors.js';
import { defineOperation } from './operation.js';
import { backingKeyRef, dryRunSucceeded } from './symmetric-crypto.js';
import { blob, dryRun, grantTokens, keyIdMember } from './wire.js';

export const macAlgorithm = z.enum(['HMAC_SHA_224', 'HMAC_SHA_256', 'HMAC_SHA_384', 'HMAC_SHA_512']);

export const generateMac = defineOperation({
  name: 'GenerateMac',
  input: z.object({
    Message: blob(1, 4096),
    KeyId: keyIdMember,
    MacAlgorithm: macAlgorithm,
    GrantTokens: grantTokens.optional(),
    DryRun: dryRun.optional(),
  }),
  async run(_ctx, deps, input) {
    const key = await keyForUsage(deps, input.KeyId, 'GENERATE_VERIFY_MAC', 'GenerateMac');
    const algorithm = assertAlgorithm(key, 'mac', input.MacAlgorithm, 'MAC') as MacAlgorithm;
    if (input.DryRun) throw dryRunSucceeded();
    const hsm = deps.keyStores.hsmFor(key);
    const mac = await hsmCall(() => hsm.mac(backingKeyRef(key), algorithm, input.Message));
    return { Mac: mac.toString('base64'), MacAlgorithm: algorithm, KeyId: key.arn };
  },
});
