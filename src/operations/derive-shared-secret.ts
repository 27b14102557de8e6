import { createPublicKey, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import { KmsError } from '../domain/errors.js';
import { ECC_FIELD_BYTES, isEccSpec, type EccSpec } from '../domain/key-spec.js';
import { assertAlgorithm, keyForUsage } from './asymmetric-access.js';
import { hsmCall } from './hsm-errors.js';
import { defineOperation } from './operation.js';
import { backingKeyRef, dryRunSucceeded } from './symmetric-crypto.js';
import { blob, dryRun, grantTokens, keyIdMember } from './wire.js';

// Node's names for the curves (KeyObject.asymmetricKeyDetails.namedCurve).
const NODE_CURVE: Record<EccSpec, string> = {
  ECC_NIST_P256: 'prime256v1',
  ECC_NIST_P384: 'secp384r1',
  ECC_NIST_P521: 'secp521r1',
  ECC_SECG_P256K1: 'secp256k1',
};

/** The peer's public key as an uncompressed point on the key's curve; ValidationException otherwise. */
function peerPoint(der: Buffer, spec: EccSpec): Buffer {
  let peer: KeyObject;
  try {
    // OpenSSL checks that the point is on the curve while parsing.
    peer = createPublicKey({ key: der, format: 'der', type: 'spki' });
  } catch {
    throw new KmsError('ValidationException', 'PublicKey must be a DER-encoded X.509 SubjectPublicKeyInfo of an elliptic-curve public key.');
  }
  if (peer.asymmetricKeyType !== 'ec' || peer.asymmetricKeyDetails?.namedCurve !== NODE_CURVE[spec]) {
    throw new KmsError('ValidationException', `PublicKey must be on the curve of the KMS key (${spec}).`);
  }
  const jwk = peer.export({ format: 'jwk' });
  const size = ECC_FIELD_BYTES[spec];
  const pad = (b64u: string | undefined): Buffer => {
    const bytes = Buffer.from(b64u ?? '', 'base64url');
    return Buffer.concat([Buffer.alloc(Math.max(0, size - bytes.length)), bytes]);
  };
  return Buffer.concat([Buffer.from([0x04]), pad(jwk.x), pad(jwk.y)]);
}

export const deriveSharedSecret = defineOperation({
  name: 'DeriveSharedSecret',
  input: z.object({
    KeyId: keyIdMember,
    KeyAgreementAlgorithm: z.enum(['ECDH']),
    PublicKey: blob(1, 8192),
    GrantTokens: grantTokens.optional(),
    DryRun: dryRun.optional(),
    Recipient: z.object({}).passthrough().optional(),
  }),
  async run(_ctx, deps, input) {
    if (input.Recipient !== undefined) {
      throw new KmsError('UnsupportedOperationException', 'Recipient (Nitro Enclaves attestation) is not supported by keybridge.');
    }
    const key = await keyForUsage(deps, input.KeyId, 'KEY_AGREEMENT', 'DeriveSharedSecret');
    assertAlgorithm(key, 'keyAgreement', input.KeyAgreementAlgorithm, 'key agreement');
    if (!isEccSpec(key.keySpec)) throw new KmsError('InvalidKeyUsageException', `${key.arn} cannot derive shared secrets.`);
    const spec = key.keySpec;
    const point = peerPoint(input.PublicKey, spec);
    if (input.DryRun) throw dryRunSucceeded();
    const hsm = deps.keyStores.hsmFor(key);
    const secret = await hsmCall(() => hsm.deriveSharedSecret(backingKeyRef(key), point, ECC_FIELD_BYTES[spec]));
    try {
      return { KeyId: key.arn, SharedSecret: secret.toString('base64'), KeyAgreementAlgorithm: 'ECDH', KeyOrigin: key.origin };
    } finally {
      secret.fill(0);
    }
  },
});
