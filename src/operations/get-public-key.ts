import { z } from 'zod';
import { KmsError } from '../domain/errors.js';
import { isAsymmetricSpec } from '../domain/key-spec.js';
import { resolveKey } from './key-access.js';
import { algorithmLists } from './key-metadata.js';
import { defineOperation } from './operation.js';
import { assertCryptoUsable } from './symmetric-crypto.js';
import { grantTokens, keyIdMember } from './wire.js';

export const getPublicKey = defineOperation({
  name: 'GetPublicKey',
  input: z.object({ KeyId: keyIdMember, GrantTokens: grantTokens.optional() }),
  async run(_ctx, deps, input) {
    const key = await resolveKey(deps, input.KeyId);
    assertCryptoUsable(deps, key);
    if (!isAsymmetricSpec(key.keySpec) || !key.publicKey) {
      throw new KmsError('UnsupportedOperationException', `${key.arn} key spec is ${key.keySpec}; only asymmetric KMS keys have a public key.`);
    }
    // Read from the HSM when the key was created and kept with its metadata: the public key is
    // public, and GetPublicKey then works even while the HSM is busy.
    return {
      KeyId: key.arn,
      PublicKey: key.publicKey,
      ...(key.keySpec === 'ECC_NIST_EDWARDS25519' ? {} : { CustomerMasterKeySpec: key.keySpec }),
      KeySpec: key.keySpec,
      KeyUsage: key.keyUsage,
      ...algorithmLists(key),
    };
  },
});
