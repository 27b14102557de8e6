// How a symmetric KMS key's material encrypts (docs/ciphertext-format.md). Chosen per material when
// it is made, from what the key store's token can do (or its configuration), recorded with the
// material and named by every CiphertextBlob it makes:
// - AES_256_GCM: one AES-256 object; AES-GCM inside the HSM (12-byte IV, 16-byte tag).
// - AES_256_CBC_HMAC_SHA_256: for tokens without AES-GCM (openCryptoki, YubiHSM 2). Two objects, an
//   AES-256 key that only encrypts and decrypts and an HMAC key that only signs and verifies;
//   AES-CBC and HMAC-SHA-256 both inside the HSM, encrypt-then-MAC (16-byte IV, 32-byte tag).

export type SymmetricSuite = 'AES_256_GCM' | 'AES_256_CBC_HMAC_SHA_256';

export const SYMMETRIC_SUITES: readonly SymmetricSuite[] = ['AES_256_GCM', 'AES_256_CBC_HMAC_SHA_256'];

/** What a key store configuration may ask for: a suite, or `auto` (GCM where the token has it). */
export type SymmetricSuiteSetting = SymmetricSuite | 'auto';

/** Why a token cannot serve each suite (undefined: it can). */
export type SuiteSupport = Readonly<Record<SymmetricSuite, string | undefined>>;

/** Which suite a key store gives new symmetric material, or why it can give none. */
export type SymmetricSuiteChoice = { readonly suite: SymmetricSuite } | { readonly refusal: string };

/**
 * The suite for new material: the configured one if the token can serve it; under `auto`, AES-GCM
 * where the token has it and the CBC-HMAC suite otherwise. The refusal names what is missing.
 */
export function chooseSuite(support: SuiteSupport, setting: SymmetricSuiteSetting = 'auto'): SymmetricSuiteChoice {
  if (setting !== 'auto') {
    const missing = support[setting];
    return missing === undefined ? { suite: setting } : { refusal: `the key store is configured for ${setting}, and ${missing}` };
  }
  if (support.AES_256_GCM === undefined) return { suite: 'AES_256_GCM' };
  if (support.AES_256_CBC_HMAC_SHA_256 === undefined) return { suite: 'AES_256_CBC_HMAC_SHA_256' };
  return support.AES_256_GCM === support.AES_256_CBC_HMAC_SHA_256
    ? { refusal: support.AES_256_GCM }
    : { refusal: `${support.AES_256_GCM}, and for the CBC-HMAC suite: ${support.AES_256_CBC_HMAC_SHA_256}` };
}
