import { z } from 'zod';
import { KmsError } from '../domain/errors.js';
import type { SigningAlgorithm } from '../domain/key-spec.js';
import { assertAlgorithm, asymmetricSpec, keyForUsage } from './asymmetric-access.js';
import { hsmCall } from './hsm-errors.js';
import { defineOperation } from './operation.js';
import { messageType, signingAlgorithm, signingInput } from './signing-input.js';
import { backingKeyRef, dryRunSucceeded } from './symmetric-crypto.js';
import { blob, dryRun, grantTokens, keyIdMember } from './wire.js';

export const verify = defineOperation({
  name: 'Verify',
  input: z.object({
    KeyId: keyIdMember,
    Message: blob(1, 4096),
    MessageType: messageType.optional(),
    Signature: blob(1, 6144),
    SigningAlgorithm: signingAlgorithm,
    GrantTokens: grantTokens.optional(),
    DryRun: dryRun.optional(),
  }),
  async run(_ctx, deps, input) {
    const key = await keyForUsage(deps, input.KeyId, 'SIGN_VERIFY', 'Verify');
    const algorithm = assertAlgorithm(key, 'signing', input.SigningAlgorithm, 'signing') as SigningAlgorithm;
    const data = signingInput(algorithm, input.MessageType ?? 'RAW', input.Message);
    if (input.DryRun) throw dryRunSucceeded();
    const hsm = deps.keyStores.hsmFor(key);
    const valid = await hsmCall(() => hsm.verify(backingKeyRef(key), asymmetricSpec(key), algorithm, data, input.Signature));
    // AWS answers an invalid signature with an error, never with SignatureValid: false.
    if (!valid) throw new KmsError('KMSInvalidSignatureException', 'The signature verification failed.');
    return { KeyId: key.arn, SignatureValid: true, SigningAlgorithm: algorithm };
  },
});
