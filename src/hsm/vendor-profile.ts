// Vendor quirks as data. A profile says how one kind of device behaves where PKCS#11 leaves room;
// the JSON files live in hsm-config/profiles/ and the config layer validates them (zod) before
// they reach the adapter. Nothing here reads files.

export interface VendorProfile {
  readonly name: string;
  /** Names the device and its quirks for operators; ignored by the code. */
  readonly comment?: string;
  /**
   * Who makes the AES-GCM IV, as the vendor documents it. keybridge learns it from the token
   * itself before its first encrypt (Pkcs11Token.discoverIvGeneration: one probe under a
   * throw-away key) and uses this only when the probe cannot tell.
   * - caller: we draw 12 bytes from the token's RNG (C_GenerateRandom) and pass them in
   *   (SoftHSM2, and the PKCS#11 v2.40 default).
   * - hsm: the device ignores the supplied IV and writes its own into the IV buffer, which
   *   pkcs11js passes by pointer, so we read it back after C_Encrypt (AWS CloudHSM).
   */
  readonly ivGeneration: 'caller' | 'hsm';
  /**
   * HSM calls at once per token when the deployment does not say: the executor's worker threads,
   * each holding a work session and a login anchor (so at most half the token's session limit).
   */
  readonly defaultMaxSessions: number;
  /** Return values of C_Decrypt that mean "the GCM tag did not verify" on this device. */
  readonly badTagCkrs: readonly string[];
  /** How long a caller waits for a free session before HSM_BUSY. */
  readonly acquireTimeoutMs: number;
  /** An idle session older than this is checked with C_GetSessionInfo before it is reused. */
  readonly validateAfterIdleMs: number;
  /**
   * Whether keybridge may re-initialise the library (C_Finalize + C_Initialize) while serving, to
   * see a token that disappeared and came back (default true). False for a library that cannot be
   * initialised twice in one process: a member whose token is lost then needs a restart, and its
   * health reason says so.
   */
  readonly reinitializeOnTokenLoss?: boolean;
  /**
   * Return values with which the device fails a token object's creation now and then although the
   * request was sound (SoftHSM2 2.6.1: CKR_GENERAL_ERROR while another thread looks objects up):
   * such a creation is tried again after what it left is removed (creation-retry.ts). Default none.
   */
  readonly retryObjectCreationOn?: readonly string[];
}
