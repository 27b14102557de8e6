// What the symmetric suite under test makes: scripts/test.sh runs the symmetric end-to-end tests
// twice, with the default key store left to choose (AES-256-GCM on SoftHSM2) and forced to
// AES_256_CBC_HMAC_SHA_256 (KEYBRIDGE_TEST_SYMMETRIC_SUITE, read by test/support/server.ts).

export const SUITE_UNDER_TEST = process.env['KEYBRIDGE_TEST_SYMMETRIC_SUITE'] === 'AES_256_CBC_HMAC_SHA_256' ? 'AES_256_CBC_HMAC_SHA_256' : 'AES_256_GCM';

/**
 * docs/ciphertext-format.md: a GCM blob is 78 + n bytes; a CBC-HMAC blob is 98 bytes plus the
 * plaintext padded to whole 16-byte blocks (PKCS#7 always adds 1–16 bytes).
 */
export function blobLength(plaintextBytes: number): number {
  return SUITE_UNDER_TEST === 'AES_256_GCM' ? 78 + plaintextBytes : 98 + (Math.floor(plaintextBytes / 16) + 1) * 16;
}
