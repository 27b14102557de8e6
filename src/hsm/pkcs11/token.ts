// One PKCS#11 token as seen from one executor worker thread: AES-256-GCM (or, without it, the
// AES-CBC + HMAC suite of cbc-hmac.ts) with non-extractable token keys, asymmetric and HMAC keys,
// random bytes, replication copies and the lifecycle of backing key objects, each method one whole
// operation on a leased session (find or cached handle, init, call).
//
// The serving process never uses this class on its main thread: Pkcs11Hsm (pkcs11-hsm.ts) runs it
// in worker threads (worker.ts) through the executor, so every PKCS#11 call here is synchronous —
// a slow or hung device holds one worker, never the event loop. Tests and set-up tools may use it
// directly.

import { randomBytes } from 'node:crypto';

import pkcs11js from 'pkcs11js';
import type { Logger } from 'pino';

import type { AsymmetricKeySpec, HmacSpec, KeySpec, KeyUsage, MacAlgorithm, SigningAlgorithm } from '../../domain/key-spec.js';
import { isHmacSpec, isRsaSpec } from '../../domain/key-spec.js';
import { chooseSuite, type SymmetricSuite, type SymmetricSuiteChoice } from '../../domain/symmetric-suite.js';
import type { BackingKeyRef, GcmResult, Hsm, ImportedKeyMaterial, ImportKeyMaterialRequest, ImportWrappingAlgorithm, ImportWrappingKeySpec, SuiteSupport } from '../../ports/hsm.js';
import { HsmError } from '../../ports/hsm.js';
import { flag, ulong } from './attribute-values.js';
import { CKR, ckrCodes, ckrName, ckrOf, ckrRule, toHsmError } from './ckr.js';
import {
  AES_KEY_GEN,
  BACKING_KEY_ID_BYTES,
  BACKING_KEY_LABEL_PREFIX,
  REQUIRED_KEY_FLAGS,
  aesBackingKeyTemplate,
  allSecretKeysTemplate,
  backingKeyId,
  findByIdTemplate,
  findByRefTemplate,
} from './key-templates.js';
import { acquireModule, loginKey, type Handle, type Pkcs11 } from './module.js';
import { nonNullData } from './buffers.js';
import * as cbcHmac from './cbc-hmac.js';
import { retryingObjectCreation } from './creation-retry.js';
import * as asymmetric from './asymmetric-ops.js';
import * as keyImport from './key-import.js';
import {
  REQUIRED_PRIVATE_KEY_FLAGS,
  allPrivateKeysTemplate,
  findByIdAndClassTemplate,
  hmacKeyTemplate,
  keyPairTemplates,
} from './asymmetric-templates.js';
import { discoverMechanisms, missingMechanism, type MechanismTable } from './mechanisms.js';
import {
  AES_KEY_WRAP,
  AES_KEY_WRAP_PAD,
  findWrappingKeyTemplate,
  hmacWrapProbeTemplate,
  OBJECT_CLASS,
  privateIdentityAttribute,
  publicKeyCopyTemplate,
  publicValueAttributes,
  replicable,
  REPLICABLE_KEY_FLAGS,
  REPLICABLE_PRIVATE_KEY_FLAGS,
  replicableAesTemplate,
  replicaAesTemplate,
  UNWRAPPED_PRIVATE_KEY_FLAGS,
  unwrappedKeyTemplate,
  USAGE_ATTRIBUTES,
  wrapMechanismFor,
  wrapProbeTemplates,
  type KeyObjectCopy,
  type KeyObjectKind,
} from './replication-templates.js';
import { SessionPool } from './session-pool.js';
import type { VendorProfile } from '../vendor-profile.js';

export interface Pkcs11TokenOptions {
  readonly modulePath: string;
  readonly tokenLabel: string;
  /** Disambiguates tokens that share a label. */
  readonly tokenSerial?: string;
  readonly pin: string;
  readonly profile: VendorProfile;
  readonly maxSessions?: number;
  readonly acquireTimeoutMs?: number;
  readonly validateAfterIdleMs?: number;
  readonly closeTimeoutMs?: number;
  readonly logger?: Logger;
}

const IV_BYTES = 12;
const CBC_IV_BYTES = 16;
const IV_BATCH = 256;
const TAG_BYTES = 16;
const AES_256_BYTES = 32;
const MAX_RANDOM_BYTES = 65_536;
// Bounds memory if something asks for many distinct keys; a miss costs one C_FindObjects.
const HANDLE_CACHE_MAX = 10_000;
const FIND_BATCH = 64;

/** One keybridge key object on a token (listKeyObjects): a key's secret, private or public object. */
export interface KeyObjectRef extends BackingKeyRef {
  readonly kind: KeyObjectKind;
}

export type { KeyObjectCopy, KeyObjectKind };

// Wrapped PKCS#8 of an RSA-4096 private key is about 2.4 KB; room to spare.
const MAX_WRAPPED_BYTES = 8192;
// C_WrapKey refusals that mean "this key (type) may not or cannot leave", not a broken member.
const WRAP_REFUSED: ReadonlySet<number> = new Set([CKR.CKR_KEY_NOT_WRAPPABLE, CKR.CKR_KEY_UNEXTRACTABLE, CKR.CKR_MECHANISM_INVALID]);

interface CachedHandle {
  readonly handle: Handle;
  readonly generation: number;
}

export class Pkcs11Token implements Hsm {
  // Object handles by backing key id (hex), tagged with the pool's login generation: a handle
  // found before a logout may be dead, or (on devices that reuse numbers) name another object.
  private readonly handles = new Map<string, CachedHandle>();
  // GCM IVs drawn from the token's RNG in batches: one C_GenerateRandom per IV_BATCH encrypts
  // instead of one per encrypt (a synchronous call on the event loop, and a round trip on a
  // network HSM). Each IV is handed out once; IVs are not secret.
  private ivReservoir: Buffer = Buffer.alloc(0);
  private ivOffset = 0;
  // Who makes the GCM IV on this token, learnt by one probe before the first encrypt
  // (discoverIvGeneration); the vendor profile says only what to assume when the probe cannot tell.
  // The answer once known, so later encrypts do not wait on the probe's promise.
  private ivGeneration: 'caller' | 'hsm' | undefined;
  private ivGenerationProbe: Promise<'caller' | 'hsm'> | undefined;
  // Creating and destroying token objects one at a time: SoftHSM2 2.6.1 fails concurrent
  // C_GenerateKey calls now and then (CKR_GENERAL_ERROR, once CKR_TEMPLATE_INCONSISTENT) while its
  // file object store is rewritten. Key creation is rare (AWS allows 5 CreateKey/s), so the queue
  // costs nothing that matters on any device. (A creation racing another worker's lookup fails
  // too; the queue cannot exclude lookups: creation-retry.ts tries such a creation again.)
  private objectChanges: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly pkcs11: Pkcs11,
    private readonly pool: SessionPool,
    private readonly profile: VendorProfile,
    private readonly badTagCodes: ReadonlySet<number>,
    private readonly logger: Logger | undefined,
  ) {}

  /**
   * Loads the library (shared per process), finds the token by label, logs in and starts the pool.
   * Throws HsmError: HSM_UNAVAILABLE (library missing), HSM_TOKEN_NOT_FOUND, HSM_LOGIN_FAILED.
   */
  static async open(options: Pkcs11TokenOptions): Promise<Pkcs11Token> {
    let badTagCodes: ReadonlySet<number>;
    let retryCreationOn: ReadonlySet<number>;
    try {
      badTagCodes = ckrCodes(options.profile.badTagCkrs);
      retryCreationOn = ckrCodes(options.profile.retryObjectCreationOn ?? []);
    } catch (err) {
      throw new HsmError('HSM_FAILED', `vendor profile ${options.profile.name} is invalid`, { cause: err });
    }
    const logger = options.logger?.child({ component: 'hsm', token: options.tokenLabel });
    const module = acquireModule(options.modulePath);
    try {
      const selector = options.tokenSerial === undefined ? { label: options.tokenLabel } : { label: options.tokenLabel, serial: options.tokenSerial };
      const slot = module.findSlot(selector);
      const pool = SessionPool.open({
        module,
        slot,
        tokenKey: loginKey(selector),
        pin: options.pin,
        maxSessions: options.maxSessions ?? options.profile.defaultMaxSessions,
        acquireTimeoutMs: options.acquireTimeoutMs ?? options.profile.acquireTimeoutMs,
        validateAfterIdleMs: options.validateAfterIdleMs ?? options.profile.validateAfterIdleMs,
        ...(options.closeTimeoutMs === undefined ? {} : { closeTimeoutMs: options.closeTimeoutMs }),
        logger,
      });
      logger?.info({ profile: options.profile.name, limit: pool.stats().limit }, 'pkcs11 token opened');
      return new Pkcs11Token(retryingObjectCreation(module.pkcs11, retryCreationOn, logger), pool, options.profile, badTagCodes, logger);
    } catch (err) {
      module.release();
      throw toHsmError(err, 'opening the token');
    }
  }

  /** The token's session pool, for health checks and tests. Do not close it directly. */
  get sessionPool(): SessionPool {
    return this.pool;
  }

  /** The AES-256 key; for AES_256_CBC_HMAC_SHA_256 also its MAC key (both, or neither). */
  async generateSymmetricKey(ref: BackingKeyRef, suite: SymmetricSuite = 'AES_256_GCM'): Promise<void> {
    await this.oneObjectChangeAtATime(() =>
      this.generateMaterial(ref, suite, () => this.generate(ref, cbcHmac.encryptionKeyTemplate(suite, aesBackingKeyTemplate(ref)), REQUIRED_KEY_FLAGS), () =>
        this.makeMacObject(ref, cbcHmac.macKeyTemplate(ref), REQUIRED_PRIVATE_KEY_FLAGS),
      ),
    );
  }

  /**
   * Like generateSymmetricKey, but the key (and MAC key) may leave this token wrapped under the
   * cluster's trusted wrapping key (and under no other key): the origin copy in `keybridge` replication.
   */
  async generateReplicableSymmetricKey(ref: BackingKeyRef, suite: SymmetricSuite = 'AES_256_GCM'): Promise<void> {
    await this.oneObjectChangeAtATime(() =>
      this.generateMaterial(ref, suite, () => this.generate(ref, cbcHmac.encryptionKeyTemplate(suite, replicableAesTemplate(ref)), REPLICABLE_KEY_FLAGS), () =>
        this.makeMacObject(ref, replicable(cbcHmac.macKeyTemplate(ref)), REPLICABLE_PRIVATE_KEY_FLAGS),
      ),
    );
  }

  private async generateMaterial(ref: BackingKeyRef, suite: SymmetricSuite, encryptionKey: () => Promise<void>, macKey: () => Promise<void>): Promise<void> {
    await encryptionKey();
    if (suite !== 'AES_256_CBC_HMAC_SHA_256') return;
    try {
      await macKey();
    } catch (err) {
      // Half a material is no material: the encryption key goes again.
      await this.destroy(ref).catch(() => undefined);
      throw err;
    }
  }

  /**
   * Why this token cannot serve each symmetric suite (undefined: it can): the mechanisms listed,
   * and whether C_GenerateKey really makes the secret keys a suite needs (tpm2-pkcs11 lists key
   * generation but cannot do it). Learnt once per token.
   */
  async symmetricSuites(): Promise<SuiteSupport> {
    // A failed probe (device trouble) is not an answer: the next call asks again.
    this.suiteSupport ??= guard('probing symmetric suites', () =>
      this.pool.withSession(async (session) => {
        this.mechanismTable ??= discoverMechanisms(this.pkcs11, session);
        const table = this.mechanismTable;
        const aes = await this.generationRefusal(session, AES_KEY_GEN, IV_PROBE_KEY_TEMPLATE, 'CKM_AES_KEY_GEN');
        const gcm = aes ?? missingMechanism(table, 'SYMMETRIC_DEFAULT', 'ENCRYPT_DECRYPT');
        const cbcMissing = !table.has(pkcs11js.CKM_AES_CBC_PAD) && !table.has(pkcs11js.CKM_AES_CBC) ? 'neither CKM_AES_CBC_PAD nor CKM_AES_CBC is supported by the HSM' : undefined;
        const cbc =
          aes ??
          cbcMissing ??
          missingMechanism(table, 'HMAC_256', 'GENERATE_VERIFY_MAC') ??
          (await this.generationRefusal(session, { mechanism: pkcs11js.CKM_GENERIC_SECRET_KEY_GEN }, MAC_PROBE_KEY_TEMPLATE, 'CKM_GENERIC_SECRET_KEY_GEN'));
        return { AES_256_GCM: gcm, AES_256_CBC_HMAC_SHA_256: cbc };
      }),
    );
    return this.suiteSupport.catch((err: unknown) => {
      this.suiteSupport = undefined;
      throw err;
    });
  }

  /** The suite new material here gets when nothing is configured (Pkcs11Hsm and ClusterHsm apply configuration). */
  async symmetricSuite(): Promise<SymmetricSuiteChoice> {
    return chooseSuite(await this.symmetricSuites());
  }

  // Why C_GenerateKey cannot make a session key with this mechanism, or undefined when it can.
  private async generationRefusal(session: Handle, mechanism: pkcs11js.Mechanism, template: pkcs11js.Template, name: string): Promise<string | undefined> {
    const info = this.mechanismTable?.get(mechanism.mechanism);
    if (info === undefined) return `${name} is not supported by the HSM`;
    let key: Handle | undefined;
    try {
      key = await this.pkcs11.C_GenerateKey(session, mechanism, template);
      return undefined;
    } catch (err) {
      const code = ckrOf(err);
      if (code === undefined || ckrRule(code).code === 'HSM_UNAVAILABLE' || ckrRule(code).code === 'HSM_DEVICE_GONE') throw err;
      return `the HSM cannot generate secret keys through PKCS#11 (C_GenerateKey with ${name}: ${ckrName(code)})`;
    } finally {
      if (key !== undefined) destroyQuietly(this.pkcs11, session, key);
    }
  }

  /** Where AES-CBC padding is done: on the host over raw CKM_AES_CBC, in the token only without it (cbc-hmac.ts). */
  private cbcPadding(session: Handle): cbcHmac.CbcPadding {
    this.mechanismTable ??= discoverMechanisms(this.pkcs11, session);
    return this.mechanismTable.has(pkcs11js.CKM_AES_CBC) ? 'host' : 'token';
  }

  /** Whether the security officer installed the cluster's trusted wrapping key on this token. */
  async hasWrappingKey(): Promise<boolean> {
    return guard('looking for the wrapping key', () =>
      this.pool.withSession(async (session) => this.findObjects(session, findWrappingKeyTemplate(), 1).length === 1),
    );
  }

  /** Unwraps an AES key exported by another member (exportKeyObject) as a replica: wrappable under a trusted key only. */
  async importWrapped(ref: BackingKeyRef, wrapped: Buffer): Promise<void> {
    await this.oneObjectChangeAtATime(() =>
      guard('unwrapping a key', async () => {
        const id = backingKeyId(ref);
        await this.pool.withSession(async (session) => {
          this.pool.ensureLoggedIn();
          if (this.findObjects(session, findByIdTemplate(id), 1).length > 0) return; // already here
          // RFC 3394 adds one 8-byte block: an AES-256 key wraps to exactly 40 bytes. Checked here
          // because SoftHSM2 2.6.1 leaves CKA_VALUE_LEN at 0 on unwrapped keys (and rejects it in
          // the unwrap template).
          if (wrapped.length !== AES_256_BYTES + 8) {
            throw new HsmError('HSM_FAILED', `a wrapped AES-256 key is ${AES_256_BYTES + 8} bytes, not ${wrapped.length}`);
          }
          const wrappingKey = this.wrappingKey(session);
          const handle = this.pkcs11.C_UnwrapKey(session, AES_KEY_WRAP, wrappingKey, wrapped, replicaAesTemplate(ref));
          try {
            this.verifyKeyAttributes(session, handle, REPLICABLE_KEY_FLAGS, true);
          } catch (err) {
            destroyQuietly(this.pkcs11, session, handle);
            throw err;
          }
          this.remember(id.toString('hex'), handle);
        });
      }),
    );
  }

  private wrappingKey(session: Handle): Handle {
    const found = this.findObjects(session, findWrappingKeyTemplate(), 2);
    if (found.length !== 1) {
      throw new HsmError(
        'HSM_FAILED',
        found.length === 0 ? 'the cluster wrapping key is not installed on this token (run `keybridge cluster init`)' : 'several cluster wrapping keys on this token',
      );
    }
    return found[0]!;
  }

  private async generate(ref: BackingKeyRef, template: pkcs11js.Template, requiredFlags: typeof REQUIRED_KEY_FLAGS): Promise<void> {
    await guard('generating a key', async () => {
      const id = backingKeyId(ref);
      await this.pool.withSession(async (session) => {
        // Two objects with one CKA_ID would make every later lookup ambiguous.
        if (this.findObjects(session, findByIdTemplate(id), 1).length > 0) {
          throw new HsmError('HSM_FAILED', 'a key object with this CKA_ID already exists');
        }
        const handle = await this.pkcs11.C_GenerateKey(session, AES_KEY_GEN, template);
        try {
          this.verifyKeyAttributes(session, handle, requiredFlags);
        } catch (err) {
          destroyQuietly(this.pkcs11, session, handle);
          throw err;
        }
        this.remember(id.toString('hex'), handle);
      });
    });
  }

  async encrypt(ref: BackingKeyRef, plaintext: Buffer, aad: Buffer, suite: SymmetricSuite = 'AES_256_GCM'): Promise<GcmResult> {
    if (suite === 'AES_256_CBC_HMAC_SHA_256') {
      return guard('encrypting (CBC-HMAC)', () =>
        this.withCbcHmacKeys(ref, async (session, keys) => {
          const iv = this.nextIv(session, CBC_IV_BYTES);
          const { ciphertext, tag } = await cbcHmac.sealCbcHmac(this.pkcs11, session, keys, this.cbcPadding(session), iv, plaintext, aad);
          return { iv, ciphertext, tag };
        }),
      );
    }
    return guard('encrypting', () =>
      this.withKey(ref, async (session, key) => {
        const ivGeneration = this.ivGeneration ?? (this.ivGeneration = await (this.ivGenerationProbe ??= this.discoverIvGeneration(session)));
        // 'hsm': the device writes its IV into this buffer (AWS CloudHSM wants it zeroed).
        const iv = ivGeneration === 'caller' ? this.nextIv(session) : Buffer.alloc(IV_BYTES);
        // WARNING: pkcs11js passes pIv (and pAAD) as pointers into these Buffers; they must stay
        // referenced until the async call has returned — `iv` is read again below, which keeps it.
        this.pkcs11.C_EncryptInit(session, gcm(iv, aad), key);
        const out = await this.pkcs11.C_Encrypt(session, nonNullData(plaintext), Buffer.alloc(plaintext.length + TAG_BYTES));
        if (out.length !== plaintext.length + TAG_BYTES) {
          throw new HsmError('HSM_FAILED', 'C_Encrypt returned an unexpected length');
        }
        if (ivGeneration === 'hsm' && iv.every((byte) => byte === 0)) {
          // WARNING: never hand out a ciphertext under an IV we cannot prove is fresh.
          throw new HsmError('HSM_FAILED', 'the token returned no GCM IV, though it made its own before');
        }
        return {
          iv: Buffer.from(iv),
          ciphertext: Buffer.from(out.subarray(0, plaintext.length)),
          tag: Buffer.from(out.subarray(plaintext.length)),
        };
      }),
    );
  }

  async decrypt(ref: BackingKeyRef, iv: Buffer, ciphertext: Buffer, tag: Buffer, aad: Buffer, suite: SymmetricSuite = 'AES_256_GCM'): Promise<Buffer> {
    if (suite === 'AES_256_CBC_HMAC_SHA_256') {
      return guard('decrypting (CBC-HMAC)', () =>
        this.withCbcHmacKeys(ref, (session, keys) => cbcHmac.openCbcHmac(this.pkcs11, session, keys, this.cbcPadding(session), iv, ciphertext, tag, aad)),
      );
    }
    return guard('decrypting', () => {
      if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) {
        throw new HsmError('HSM_DECRYPT_FAILED', 'the GCM IV or tag has the wrong length');
      }
      const input = Buffer.concat([ciphertext, tag]);
      return this.withKey(ref, async (session, key) => {
        // A private copy: the IV buffer is passed by pointer and some devices write into it.
        this.pkcs11.C_DecryptInit(session, gcm(Buffer.from(iv), aad), key);
        let out: Buffer;
        try {
          // WARNING: the output buffer must be as long as the whole input (ciphertext‖tag).
          // SoftHSM2 2.6.1 answers CKR_BUFFER_TOO_SMALL otherwise, and that leaves the operation
          // active on the session.
          out = await this.pkcs11.C_Decrypt(session, input, Buffer.alloc(input.length));
        } catch (err) {
          const code = ckrOf(err);
          if (code !== undefined && (this.badTagCodes.has(code) || ckrRule(code).code === 'HSM_DECRYPT_FAILED')) {
            throw new HsmError('HSM_DECRYPT_FAILED', `C_Decrypt failed: ${ckrName(code)}`, { ckr: code, cause: err });
          }
          throw err;
        }
        if (out.length !== ciphertext.length) {
          throw new HsmError('HSM_FAILED', 'C_Decrypt returned an unexpected length');
        }
        return Buffer.from(out);
      });
    });
  }

  async random(length: number): Promise<Buffer> {
    return guard('drawing random bytes', async () => {
      if (!Number.isInteger(length) || length < 0 || length > MAX_RANDOM_BYTES) {
        throw new HsmError('HSM_FAILED', `random length must be an integer from 0 to ${MAX_RANDOM_BYTES}`);
      }
      if (length === 0) return Buffer.alloc(0);
      return this.pool.withSession(async (session) => Buffer.from(this.pkcs11.C_GenerateRandom(session, Buffer.alloc(length))));
    });
  }

  async destroySymmetricKey(ref: BackingKeyRef): Promise<boolean> {
    return this.oneObjectChangeAtATime(() => this.destroy(ref));
  }

  /**
   * Who makes the AES-GCM IV: one encryption under a throw-away session key with a zeroed IV buffer.
   * A device that makes its own IV (AWS CloudHSM, Luna in FIPS mode) writes it into the buffer; one
   * that takes the caller's leaves the zeros (and used them, once, under that key alone). Decrypting
   * with the IV so learnt must give the probe back, or nothing is learnt: then, and when the token
   * refuses the probe, the vendor profile's `ivGeneration` stands.
   */
  private async discoverIvGeneration(session: Handle): Promise<'caller' | 'hsm'> {
    const assumed = this.profile.ivGeneration;
    let key: Handle | undefined;
    try {
      key = await this.pkcs11.C_GenerateKey(session, AES_KEY_GEN, IV_PROBE_KEY_TEMPLATE);
      const iv = Buffer.alloc(IV_BYTES);
      const probe = randomBytes(16);
      this.pkcs11.C_EncryptInit(session, gcm(iv, Buffer.alloc(0)), key);
      const sealed = Buffer.from(await this.pkcs11.C_Encrypt(session, probe, Buffer.alloc(probe.length + TAG_BYTES)));
      const learnt = iv.every((byte) => byte === 0) ? 'caller' : 'hsm';
      this.pkcs11.C_DecryptInit(session, gcm(Buffer.from(iv), Buffer.alloc(0)), key);
      const opened = await this.pkcs11.C_Decrypt(session, sealed, Buffer.alloc(sealed.length));
      if (!Buffer.from(opened).equals(probe)) throw new HsmError('HSM_FAILED', 'the probe did not decrypt under the IV it reported');
      const log = { ivGeneration: learnt, profile: this.profile.name };
      if (learnt === assumed) this.logger?.debug(log, 'GCM IV generation learnt from the token');
      else this.logger?.warn({ ...log, profileSays: assumed }, 'GCM IV generation learnt from the token differs from the vendor profile; using what the token does');
      return learnt;
    } catch (err) {
      this.logger?.warn({ err: toHsmError(err, 'GCM IV probe').message, ivGeneration: assumed }, "could not learn who makes the GCM IV; using the vendor profile's");
      return assumed;
    } finally {
      if (key !== undefined) destroyQuietly(this.pkcs11, session, key);
    }
  }

  /** A fresh IV (12 bytes for GCM, 16 for CBC; its own Buffer: pkcs11js passes it by pointer) from the token's RNG. */
  private nextIv(session: Handle, bytes = IV_BYTES): Buffer {
    if (this.ivOffset + bytes > this.ivReservoir.length) {
      this.ivReservoir = this.pkcs11.C_GenerateRandom(session, Buffer.alloc(CBC_IV_BYTES * IV_BATCH));
      this.ivOffset = 0;
    }
    const iv = Buffer.from(this.ivReservoir.subarray(this.ivOffset, this.ivOffset + bytes));
    this.ivOffset += bytes;
    return iv;
  }

  private oneObjectChangeAtATime<T>(change: () => Promise<T>): Promise<T> {
    const result = this.objectChanges.then(change, change);
    this.objectChanges = result.catch(() => undefined);
    return result;
  }

  private async destroy(ref: BackingKeyRef): Promise<boolean> {
    return guard('destroying a key', async () => {
      const template = findByRefTemplate(ref);
      const cacheKey = backingKeyId(ref).toString('hex');
      // A CBC-HMAC material's MAC key carries its own CKA_ID (cbc-hmac.ts).
      const macTemplate: pkcs11js.Template = [
        { type: pkcs11js.CKA_ID, value: cbcHmac.macObjectId(ref) },
        { type: pkcs11js.CKA_LABEL, value: ref.label },
      ];
      return this.pool.withSession(async (session) => {
        this.handles.delete(cacheKey);
        const find = (): Handle[] => [...this.findObjects(session, template), ...this.findObjects(session, macTemplate)];
        let found = find();
        // Logged out, private objects are invisible: make sure "absent" really means absent.
        if (found.length === 0 && this.pool.ensureLoggedIn()) found = find();
        let destroyed = false;
        for (const handle of found) {
          try {
            this.pkcs11.C_DestroyObject(session, handle);
            destroyed = true;
          } catch (err) {
            // Destroyed concurrently by somebody else: the outcome we wanted.
            if (ckrRule(ckrOf(err) ?? -1).recovery !== 'refind') throw err;
          }
        }
        this.handles.delete(cacheKey);
        // The private and public objects of a key pair, and a MAC key, are cached under their own keys.
        this.handles.delete(`${cacheKey}:${pkcs11js.CKO_PRIVATE_KEY}`);
        this.handles.delete(`${cacheKey}:${pkcs11js.CKO_PUBLIC_KEY}`);
        this.handles.delete(`${cacheKey}:mac`);
        return destroyed;
      });
    });
  }

  async listSymmetricKeys(): Promise<BackingKeyRef[]> {
    // Secret keys (AES, HMAC) and the private halves of key pairs: one per KMS key.
    return guard('listing keys', () =>
      this.pool.withSession(async (session) => {
        this.pool.ensureLoggedIn();
        return this.listObjects(session, ['secret', 'private']).map(({ id, label }) => ({ id, label }));
      }),
    );
  }

  /** Every keybridge key object on the token, each with its kind: what a resync compares. */
  async listKeyObjects(): Promise<KeyObjectRef[]> {
    return guard('listing key objects', () =>
      this.pool.withSession(async (session) => {
        this.pool.ensureLoggedIn();
        return this.listObjects(session, ['secret', 'mac', 'private', 'public']);
      }),
    );
  }

  private listObjects(session: Handle, kinds: readonly KeyObjectKind[]): KeyObjectRef[] {
    const refs: KeyObjectRef[] = [];
    // `mac` objects are secret keys too: found by the `secret` search, told apart by their CKA_ID.
    for (const kind of kinds.filter((k) => k !== 'mac')) {
      for (const handle of this.findObjects(session, [{ type: pkcs11js.CKA_CLASS, value: OBJECT_CLASS[kind] }])) {
        let attrs: pkcs11js.TemplateResult;
        try {
          attrs = this.pkcs11.C_GetAttributeValue(session, handle, [{ type: pkcs11js.CKA_ID }, { type: pkcs11js.CKA_LABEL }]);
        } catch (err) {
          // Destroyed between the search and the read, or not ours to read: not a backing key.
          const code = ckrOf(err);
          if (code !== undefined && (ckrRule(code).recovery === 'refind' || code === CKR.CKR_ATTRIBUTE_TYPE_INVALID)) continue;
          throw err;
        }
        const id = attrs[0]?.value;
        const label = attrs[1]?.value.toString('utf8');
        if (label?.startsWith(BACKING_KEY_LABEL_PREFIX) !== true || id === undefined) continue;
        if (id.length === BACKING_KEY_ID_BYTES) {
          refs.push({ id: id.toString('hex'), label, kind });
          continue;
        }
        const macOf = kind === 'secret' && kinds.includes('mac') ? cbcHmac.materialIdOfMacObject(id) : undefined;
        if (macOf !== undefined) refs.push({ id: macOf, label, kind: 'mac' });
      }
    }
    return refs;
  }

  // --- Asymmetric, HMAC and key-agreement keys (issue #8): thin wrappers over asymmetric-ops.ts ---

  // What the token can do, read on first use: mechanisms do not change while a token is open.
  private mechanismTable: MechanismTable | undefined;
  private suiteSupport: Promise<SuiteSupport> | undefined;
  // Whether the token does RSA-OAEP with a hash itself (oaepInToken): learnt on first use.
  private readonly oaepNative = new Map<'sha1' | 'sha256', boolean>();
  // Whether the token makes key pairs whose template sets the other usages false (learnt on the
  // first refusal): tpm2-pkcs11 refuses them ("User specified and TPM specified attr mismatch").
  private singlePurposeKeyPairs = true;

  /** SYMMETRIC_DEFAULT: what neither suite can do without (undefined when one can serve it). */
  async missingMechanism(spec: KeySpec, usage: KeyUsage): Promise<string | undefined> {
    if (spec === 'SYMMETRIC_DEFAULT') {
      const choice = await this.symmetricSuite();
      return 'refusal' in choice ? choice.refusal : undefined;
    }
    return guard('listing mechanisms', async () => {
      this.mechanismTable ??= await this.pool.withSession(async (session) => discoverMechanisms(this.pkcs11, session));
      return missingMechanism(this.mechanismTable, spec, usage);
    });
  }

  async generateKeyPair(ref: BackingKeyRef, spec: AsymmetricKeySpec, usage: KeyUsage): Promise<Buffer> {
    return this.makeKeyPair(ref, spec, keyPairTemplates(ref, spec, usage), REQUIRED_PRIVATE_KEY_FLAGS);
  }

  /**
   * Like generateKeyPair, but the private key may leave this token wrapped under the cluster's
   * trusted wrapping key (and under no other key): the origin copy in `keybridge` replication.
   */
  async generateReplicableKeyPair(ref: BackingKeyRef, spec: AsymmetricKeySpec, usage: KeyUsage): Promise<Buffer> {
    const templates = keyPairTemplates(ref, spec, usage);
    return this.makeKeyPair(ref, spec, { publicKey: templates.publicKey, privateKey: replicable(templates.privateKey) }, REPLICABLE_PRIVATE_KEY_FLAGS);
  }

  private async makeKeyPair(
    ref: BackingKeyRef,
    spec: AsymmetricKeySpec,
    templates: { publicKey: pkcs11js.Template; privateKey: pkcs11js.Template },
    requiredFlags: typeof REQUIRED_PRIVATE_KEY_FLAGS,
  ): Promise<Buffer> {
    return this.oneObjectChangeAtATime(() =>
      guard('generating a key pair', () =>
        this.pool.withSession(async (session) => {
          const id = backingKeyId(ref);
          this.assertIdUnused(session, id);
          const pair = await unsupportedCurveAsUnsupported(spec, () => this.generatePair(session, spec, templates));
          try {
            this.checkFlags(session, pair.privateKey, requiredFlags);
            const publicKey = asymmetric.readPublicKey(this.pkcs11, session, pair.publicKey, spec);
            this.remember(`${id.toString('hex')}:${pkcs11js.CKO_PRIVATE_KEY}`, pair.privateKey);
            this.remember(`${id.toString('hex')}:${pkcs11js.CKO_PUBLIC_KEY}`, pair.publicKey);
            return publicKey;
          } catch (err) {
            destroyQuietly(this.pkcs11, session, pair.privateKey);
            destroyQuietly(this.pkcs11, session, pair.publicKey);
            throw err;
          }
        }),
      ),
    );
  }

  /**
   * C_GenerateKeyPair with keybridge's single-purpose templates; on a token that refuses a template
   * which sets usages false, once more without those attributes (the token's defaults then allow
   * more than the KeyUsage, and keybridge alone keeps each key to its job), remembered per token.
   * Nothing else of the template is relaxed: sensitive and non-extractable stay, and are checked.
   */
  private async generatePair(session: Handle, spec: AsymmetricKeySpec, templates: { publicKey: pkcs11js.Template; privateKey: pkcs11js.Template }): Promise<pkcs11js.KeyPair> {
    if (!this.singlePurposeKeyPairs) return asymmetric.generateKeyPair(this.pkcs11, session, spec, withoutDeniedUsages(templates));
    try {
      return await asymmetric.generateKeyPair(this.pkcs11, session, spec, templates);
    } catch (err) {
      if (!TEMPLATE_REFUSALS.has(ckrOf(err) ?? -1)) throw err;
      let pair: pkcs11js.KeyPair;
      try {
        pair = await asymmetric.generateKeyPair(this.pkcs11, session, spec, withoutDeniedUsages(templates));
      } catch {
        throw err;
      }
      this.singlePurposeKeyPairs = false;
      this.logger?.warn({ spec, ckr: ckrName(ckrOf(err)!) }, 'the token refuses key pairs restricted to one usage: generating them with its default usages; keybridge enforces each KeyUsage itself');
      return pair;
    }
  }

  async generateMacKey(ref: BackingKeyRef, spec: HmacSpec): Promise<void> {
    await this.makeMacKey(ref, hmacKeyTemplate(ref, spec), REQUIRED_PRIVATE_KEY_FLAGS);
  }

  /** Like generateMacKey, but wrappable under the cluster's trusted wrapping key only (replication origin). */
  async generateReplicableMacKey(ref: BackingKeyRef, spec: HmacSpec): Promise<void> {
    await this.makeMacKey(ref, replicable(hmacKeyTemplate(ref, spec)), REPLICABLE_PRIVATE_KEY_FLAGS);
  }

  private async makeMacKey(ref: BackingKeyRef, template: pkcs11js.Template, requiredFlags: typeof REQUIRED_PRIVATE_KEY_FLAGS): Promise<void> {
    await this.oneObjectChangeAtATime(() => this.generateGenericSecret(backingKeyId(ref), backingKeyId(ref).toString('hex'), template, requiredFlags));
  }

  /** A CBC-HMAC material's MAC key (cbc-hmac.ts); the caller holds the object-change queue. */
  private async makeMacObject(ref: BackingKeyRef, template: pkcs11js.Template, requiredFlags: typeof REQUIRED_PRIVATE_KEY_FLAGS): Promise<void> {
    await this.generateGenericSecret(cbcHmac.macObjectId(ref), `${backingKeyId(ref).toString('hex')}:mac`, template, requiredFlags);
  }

  private async generateGenericSecret(id: Buffer, cacheKey: string, template: pkcs11js.Template, requiredFlags: typeof REQUIRED_PRIVATE_KEY_FLAGS): Promise<void> {
    await guard('generating an HMAC key', () =>
      this.pool.withSession(async (session) => {
        this.assertIdUnused(session, id);
        const handle = await this.pkcs11.C_GenerateKey(session, { mechanism: pkcs11js.CKM_GENERIC_SECRET_KEY_GEN }, template);
        try {
          this.checkFlags(session, handle, requiredFlags);
        } catch (err) {
          destroyQuietly(this.pkcs11, session, handle);
          throw err;
        }
        this.remember(cacheKey, handle);
      }),
    );
  }

  // --- Copying key pairs and HMAC keys between members (`keybridge` replication) ---

  // Why keys of a type cannot be replicated from this token (undefined: they can), by probe.
  private readonly wrapRefusals = new Map<string, string | undefined>();

  /**
   * Why `keybridge` replication cannot copy keys of this spec out of this token, or undefined when
   * it can: CKM_AES_KEY_WRAP_PAD must be listed, and a throw-away session key made like an origin
   * copy must wrap under the trusted key (SoftHSM2 2.6.1 cannot wrap Ed25519 private keys at all).
   * Probed once per key type and token. Throws HSM_FAILED when the wrapping key is not installed.
   */
  async replicationRefusal(spec: AsymmetricKeySpec | HmacSpec): Promise<string | undefined> {
    const family = isHmacSpec(spec) ? 'HMAC' : isRsaSpec(spec) ? 'RSA' : spec === 'ECC_NIST_EDWARDS25519' ? spec : `EC ${spec}`;
    if (this.wrapRefusals.has(family)) return this.wrapRefusals.get(family);
    return guard('probing key wrapping', () =>
      this.pool.withSession(async (session) => {
        this.mechanismTable ??= discoverMechanisms(this.pkcs11, session);
        if (!this.mechanismTable.has(pkcs11js.CKM_AES_KEY_WRAP_PAD)) {
          const refusal = 'CKM_AES_KEY_WRAP_PAD is not supported by the HSM (keybridge replication copies private and HMAC keys with it)';
          this.wrapRefusals.set(family, refusal);
          return refusal;
        }
        const wrappingKey = this.wrappingKey(session);
        const made: Handle[] = [];
        try {
          let key: Handle;
          try {
            if (isHmacSpec(spec)) {
              key = await this.pkcs11.C_GenerateKey(session, { mechanism: pkcs11js.CKM_GENERIC_SECRET_KEY_GEN }, hmacWrapProbeTemplate(spec));
              made.push(key);
            } else {
              // Wrappability is a matter of key type, not size: probe RSA with the quickest size.
              const pair = await asymmetric.generateKeyPair(this.pkcs11, session, isRsaSpec(spec) ? 'RSA_2048' : spec, wrapProbeTemplates(isRsaSpec(spec) ? 'RSA_2048' : spec));
              made.push(pair.privateKey, pair.publicKey);
              key = pair.privateKey;
            }
          } catch {
            return undefined; // Generation itself fails: CreateKey reports that, with its own reason.
          }
          try {
            this.pkcs11.C_WrapKey(session, AES_KEY_WRAP_PAD, wrappingKey, key, Buffer.alloc(MAX_WRAPPED_BYTES)).fill(0);
          } catch (err) {
            const code = ckrOf(err);
            if (code === undefined || !WRAP_REFUSED.has(code)) throw err;
            const refusal = `the HSM cannot wrap ${family} ${isHmacSpec(spec) ? 'keys' : 'private keys'} under the trusted key (${ckrName(code)}), so keybridge replication cannot copy them to the other members`;
            this.wrapRefusals.set(family, refusal);
            return refusal;
          }
          this.wrapRefusals.set(family, undefined);
          return undefined;
        } finally {
          for (const handle of made) destroyQuietly(this.pkcs11, session, handle);
        }
      }),
    );
  }

  /**
   * One object of a key, ready to be created on another member: its type and usage read from this
   * copy; a secret or private key wrapped under the trusted key (AES keys RFC 3394, others RFC 5649),
   * a public key as its public values. Throws HSM_KEY_NOT_FOUND when the object is not here, and
   * HSM_FAILED with ckr CKR_KEY_NOT_WRAPPABLE / CKR_KEY_UNEXTRACTABLE when it may not leave.
   */
  async exportKeyObject(ref: BackingKeyRef, kind: KeyObjectKind): Promise<KeyObjectCopy> {
    return guard('exporting a key object', () =>
      this.withKey(
        ref,
        async (session, handle) => {
          const usageAttributes = USAGE_ATTRIBUTES[kind];
          const read = this.pkcs11.C_GetAttributeValue(session, handle, [{ type: pkcs11js.CKA_KEY_TYPE }, ...usageAttributes.map(({ type }) => ({ type }))]);
          const keyType = ulong(read[0]?.value);
          if (keyType === undefined) throw new HsmError('HSM_FAILED', 'the token returned no CKA_KEY_TYPE');
          const usage = usageAttributes.map(({ type }, at) => ({ type, value: flag(read[at + 1]?.value) }));
          if (kind === 'public') {
            const values = this.pkcs11.C_GetAttributeValue(session, handle, publicValueAttributes(keyType).map((type) => ({ type })));
            return { kind, keyType, usage, publicValues: values.map(({ type, value }) => ({ type, value: Buffer.from(value) })) };
          }
          const extra =
            kind === 'secret' || kind === 'mac'
              ? { valueLen: ulong(this.pkcs11.C_GetAttributeValue(session, handle, [{ type: pkcs11js.CKA_VALUE_LEN }])[0]?.value) ?? 0 }
              : { identity: Buffer.from(this.pkcs11.C_GetAttributeValue(session, handle, [{ type: privateIdentityAttribute(keyType) }])[0]!.value) };
          const wrapped = Buffer.from(this.pkcs11.C_WrapKey(session, wrapMechanismFor(kind, keyType), this.wrappingKey(session), handle, Buffer.alloc(MAX_WRAPPED_BYTES)));
          return { kind, keyType, usage, wrapped, ...extra };
        },
        kind === 'mac' ? 'mac' : OBJECT_CLASS[kind],
      ),
    );
  }

  /**
   * Creates `copy` (from another member's exportKeyObject) here: a secret or private key unwrapped
   * sensitive and wrappable under a trusted key only (a replica can seed another member in turn), a
   * public key with C_CreateObject; both with the source's usage, CKA_ID and CKA_LABEL, verified
   * after creation. Does nothing when that object is already here.
   */
  async importKeyObject(ref: BackingKeyRef, copy: KeyObjectCopy): Promise<void> {
    if (copy.kind === 'secret' && copy.keyType === pkcs11js.CKK_AES) {
      if (copy.wrapped === undefined) throw new HsmError('HSM_FAILED', 'a secret key copy without its wrapped value');
      await this.importWrapped(ref, copy.wrapped);
      return;
    }
    await this.oneObjectChangeAtATime(() =>
      guard('copying a key object in', () =>
        this.pool.withSession(async (session) => {
          this.pool.ensureLoggedIn();
          const id = copy.kind === 'mac' ? cbcHmac.macObjectId(ref) : backingKeyId(ref);
          const objectClass = OBJECT_CLASS[copy.kind];
          if (this.findObjects(session, findByIdAndClassTemplate(id, objectClass), 1).length > 0) return; // already here
          let handle: Handle;
          if (copy.kind === 'public') {
            handle = this.pkcs11.C_CreateObject(session, publicKeyCopyTemplate(ref, copy));
          } else {
            if (copy.wrapped === undefined) throw new HsmError('HSM_FAILED', 'a key copy without its wrapped value');
            handle = this.pkcs11.C_UnwrapKey(session, wrapMechanismFor(copy.kind, copy.keyType), this.wrappingKey(session), copy.wrapped, unwrappedKeyTemplate(ref, copy));
          }
          try {
            this.verifyCopy(session, handle, copy);
          } catch (err) {
            destroyQuietly(this.pkcs11, session, handle);
            throw err;
          }
          const hex = backingKeyId(ref).toString('hex');
          this.remember(copy.kind === 'secret' ? hex : copy.kind === 'mac' ? `${hex}:mac` : `${hex}:${objectClass}`, handle);
        }),
      ),
    );
  }

  // The template is a request: prove the copy is what was asked for, and the key it claims to be.
  private verifyCopy(session: Handle, handle: Handle, copy: KeyObjectCopy): void {
    const required = copy.kind === 'public' ? UNWRAPPED_PRIVATE_KEY_FLAGS.filter((f) => f.type === pkcs11js.CKA_TOKEN || f.type === pkcs11js.CKA_PRIVATE) : REPLICABLE_PRIVATE_KEY_FLAGS;
    const expected = [
      ...required.map(({ type, name, value }) => ({ type, name, value })),
      ...copy.usage.map(({ type, value }) => ({ type, value, name: USAGE_ATTRIBUTES[copy.kind].find((a) => a.type === type)?.name ?? `0x${type.toString(16)}` })),
    ];
    this.checkFlags(session, handle, expected);
    const secret = copy.kind === 'secret' || copy.kind === 'mac';
    const identityType = copy.kind === 'private' ? privateIdentityAttribute(copy.keyType) : secret ? pkcs11js.CKA_VALUE_LEN : pkcs11js.CKA_KEY_TYPE;
    const [keyType, identity] = this.pkcs11.C_GetAttributeValue(session, handle, [{ type: pkcs11js.CKA_KEY_TYPE }, { type: identityType }]);
    if (ulong(keyType?.value) !== copy.keyType) {
      throw new HsmError('HSM_FAILED', 'the copied key has another CKA_KEY_TYPE than its source');
    }
    if (copy.kind === 'private' && copy.identity !== undefined && !identity?.value.equals(copy.identity)) {
      throw new HsmError('HSM_FAILED', 'the unwrapped private key is not the key it was wrapped as (modulus or curve differ)');
    }
    // SoftHSM2 2.6.1 reads CKA_VALUE_LEN as 0 on unwrapped keys; RFC 5649 kept the real length.
    const valueLen = secret ? ulong(identity?.value) : undefined;
    if (secret && valueLen !== 0 && valueLen !== copy.valueLen) {
      throw new HsmError('HSM_FAILED', 'the copied key has another length than its source');
    }
  }

  async getPublicKey(ref: BackingKeyRef, spec: AsymmetricKeySpec): Promise<Buffer> {
    return guard('reading a public key', () =>
      this.withKey(ref, async (session, key) => asymmetric.readPublicKey(this.pkcs11, session, key, spec), pkcs11js.CKO_PUBLIC_KEY),
    );
  }

  async sign(ref: BackingKeyRef, algorithm: SigningAlgorithm, input: Buffer): Promise<Buffer> {
    return guard('signing', () => this.withKey(ref, (session, key) => asymmetric.sign(this.pkcs11, session, key, algorithm, input), pkcs11js.CKO_PRIVATE_KEY));
  }

  async verify(ref: BackingKeyRef, spec: AsymmetricKeySpec, algorithm: SigningAlgorithm, input: Buffer, signature: Buffer): Promise<boolean> {
    return guard('verifying', () =>
      this.withKey(ref, (session, key) => asymmetric.verify(this.pkcs11, session, key, spec, algorithm, input, signature), pkcs11js.CKO_PUBLIC_KEY),
    );
  }

  async rsaEncrypt(ref: BackingKeyRef, hash: 'sha1' | 'sha256', plaintext: Buffer): Promise<Buffer> {
    return guard('encrypting with RSA', () =>
      this.withKey(
        ref,
        (session, key) =>
          this.oaepInToken(
            hash,
            session,
            () => asymmetric.rsaEncrypt(this.pkcs11, session, key, hash, plaintext),
            () => asymmetric.rsaEncryptRaw(this.pkcs11, session, key, hash, plaintext),
          ),
        pkcs11js.CKO_PUBLIC_KEY,
      ),
    );
  }

  async rsaDecrypt(ref: BackingKeyRef, hash: 'sha1' | 'sha256', ciphertext: Buffer): Promise<Buffer> {
    return guard('decrypting with RSA', () =>
      this.withKey(
        ref,
        async (session, key) => {
          try {
            return await this.oaepInToken(
              hash,
              session,
              () => asymmetric.rsaDecrypt(this.pkcs11, session, key, hash, ciphertext),
              async () => {
                const plaintext = await asymmetric.rsaDecryptRaw(this.pkcs11, session, key, hash, ciphertext);
                if (plaintext === undefined) throw new HsmError('HSM_DECRYPT_FAILED', 'the ciphertext is not an RSAES-OAEP block under this key');
                return plaintext;
              },
            );
          } catch (err) {
            const code = ckrOf(err);
            if (code !== undefined && (this.badTagCodes.has(code) || ckrRule(code).code === 'HSM_DECRYPT_FAILED' || code === CKR.CKR_DATA_LEN_RANGE)) {
              throw new HsmError('HSM_DECRYPT_FAILED', `C_Decrypt failed: ${ckrName(code)}`, { ckr: code, cause: err });
            }
            throw err;
          }
        },
        pkcs11js.CKO_PRIVATE_KEY,
      ),
    );
  }

  /**
   * RSAES-OAEP with `hash` as the token does it (CKM_RSA_PKCS_OAEP), or — when the token refuses
   * that hash in the mechanism's parameters (SoftHSM2 2.6.1: SHA-1 only) but lists CKM_RSA_X_509 —
   * as raw RSA in the token with the padding on the host (oaep.ts). Learnt on first use and kept
   * for this token. WARNING: never for unwrapping imported key material, whose plaintext must not
   * reach the host.
   */
  private async oaepInToken<T>(hash: 'sha1' | 'sha256', session: Handle, native: () => Promise<T>, raw: () => Promise<T>): Promise<T> {
    if (this.oaepNative.get(hash) === false) return raw();
    try {
      const out = await oaepHashAsUnsupported(hash, native);
      this.oaepNative.set(hash, true);
      return out;
    } catch (err) {
      if (!(err instanceof HsmError) || err.code !== 'HSM_UNSUPPORTED') throw err;
      this.mechanismTable ??= discoverMechanisms(this.pkcs11, session);
      if (!this.mechanismTable.has(pkcs11js.CKM_RSA_X_509)) throw err;
      this.oaepNative.set(hash, false);
      this.logger?.info({ hash }, 'the token does not do RSA-OAEP with this hash: raw RSA in the token, OAEP padding on the host');
      return raw();
    }
  }

  async mac(ref: BackingKeyRef, algorithm: MacAlgorithm, message: Buffer): Promise<Buffer> {
    return guard('computing a MAC', () => this.withKey(ref, (session, key) => asymmetric.hmac(this.pkcs11, session, key, algorithm, message)));
  }

  async verifyMac(ref: BackingKeyRef, algorithm: MacAlgorithm, message: Buffer, tag: Buffer): Promise<boolean> {
    return guard('verifying a MAC', () => this.withKey(ref, (session, key) => asymmetric.hmacVerify(this.pkcs11, session, key, algorithm, message, tag)));
  }

  async deriveSharedSecret(ref: BackingKeyRef, peerPoint: Buffer, length: number): Promise<Buffer> {
    return guard('deriving a shared secret', () =>
      this.withKey(ref, (session, key) => asymmetric.ecdh(this.pkcs11, session, key, peerPoint, length), pkcs11js.CKO_PRIVATE_KEY),
    );
  }

  async generateDataKeyPair(spec: AsymmetricKeySpec): Promise<{ publicKey: Buffer; privateKey: Buffer }> {
    return guard('generating a data key pair', () =>
      this.pool.withSession((session) => unsupportedCurveAsUnsupported(spec, () => asymmetric.generateDataKeyPair(this.pkcs11, session, spec))),
    );
  }

  // --- Importing key material (BYOK): thin wrappers over key-import.ts ---

  // Why the token cannot unwrap with OAEP over a hash (undefined: it can), by probe, per hash.
  private readonly oaepUnwrapRefusals = new Map<'sha1' | 'sha256', string | undefined>();

  async generateImportWrappingKey(ref: BackingKeyRef, spec: ImportWrappingKeySpec): Promise<Buffer> {
    return this.oneObjectChangeAtATime(() =>
      guard('generating an import wrapping key', () => this.pool.withSession((session) => keyImport.generateImportWrappingKey(this.importContext(session), ref, spec))),
    );
  }

  async importAlgorithmRefusal(probeWith: BackingKeyRef, algorithm: ImportWrappingAlgorithm): Promise<string | undefined> {
    return guard('probing key import', () =>
      this.pool.withSession(async (session) => {
        this.pool.ensureLoggedIn();
        const context = this.importContext(session);
        const missing = keyImport.missingImportMechanism(context.mechanisms, algorithm);
        if (missing !== undefined) return missing;
        const hash = keyImport.oaepHashOf(algorithm);
        if (!this.oaepUnwrapRefusals.has(hash)) {
          this.oaepUnwrapRefusals.set(hash, keyImport.oaepUnwrapRefusal(context, keyImport.findImportWrappingKey(context, probeWith), hash));
        }
        return this.oaepUnwrapRefusals.get(hash);
      }),
    );
  }

  async importKeyMaterial(request: ImportKeyMaterialRequest): Promise<ImportedKeyMaterial> {
    return this.oneObjectChangeAtATime(() =>
      guard('importing key material', () =>
        this.pool.withSession(async (session) => {
          this.pool.ensureLoggedIn();
          const { imported, created } = await keyImport.importKeyMaterial(this.importContext(session), request);
          for (const { objectClass, handle } of created) this.remember(cacheKeyOf(imported.materialId, objectClass), handle);
          return imported;
        }),
      ),
    );
  }

  private importContext(session: Handle): keyImport.ImportContext {
    this.mechanismTable ??= discoverMechanisms(this.pkcs11, session);
    return {
      pkcs11: this.pkcs11,
      session,
      mechanisms: this.mechanismTable,
      badTagCodes: this.badTagCodes,
      find: (template, limit) => this.findObjects(session, template, limit),
      checkFlags: (handle, flags) => this.checkFlags(session, handle, flags),
    };
  }

  // Two objects with one CKA_ID would make every later lookup ambiguous (any object class).
  private assertIdUnused(session: Handle, id: Buffer): void {
    if (this.findObjects(session, [{ type: pkcs11js.CKA_ID, value: id }], 1).length > 0) {
      throw new HsmError('HSM_FAILED', 'a key object with this CKA_ID already exists');
    }
  }

  // The template is a request; a token may silently ignore parts of it. Prove the promise held.
  private checkFlags(session: Handle, handle: Handle, flags: typeof REQUIRED_PRIVATE_KEY_FLAGS): void {
    const attrs = this.pkcs11.C_GetAttributeValue(session, handle, flags.map(({ type }) => ({ type })));
    flags.forEach((flag, at) => {
      const value = attrs[at]?.value;
      if (value === undefined || (value.length > 0 && value[0] !== 0) !== flag.value) {
        throw new HsmError('HSM_FAILED', `the token did not honour the key template (${flag.name})`);
      }
    });
  }

  /** Closes the sessions; `logout` when the caller knows this is the token's last user in the process. */
  async close(options: { logout?: boolean } = {}): Promise<void> {
    await guard('closing the token', () => this.pool.close(options));
    this.handles.clear();
    this.logger?.info('pkcs11 token closed');
  }

  /**
   * Runs `fn` with a leased session and the key's object handle. A stale handle
   * (CKR_OBJECT_HANDLE_INVALID / CKR_KEY_HANDLE_INVALID) is looked up again once.
   */
  private withKey<T>(ref: BackingKeyRef, fn: (session: Handle, key: Handle) => Promise<T>, object: number | 'mac' = pkcs11js.CKO_SECRET_KEY): Promise<T> {
    const { id, cacheKey, objectClass } = this.objectOf(ref, object);
    return this.pool.withSession(async (session) => {
      const cached = this.cachedHandle(cacheKey);
      const key = cached ?? this.findKey(session, id, cacheKey, objectClass);
      try {
        return await fn(session, key);
      } catch (err) {
        if (ckrRule(ckrOf(err) ?? -1).recovery !== 'refind') throw err;
        this.handles.delete(cacheKey);
        // withCbcHmacKeys's second handle may be the stale one.
        this.handles.delete(this.objectOf(ref, 'mac').cacheKey);
        this.logger?.info({ ckr: ckrName(ckrOf(err) ?? -1) }, 'pkcs11 key handle went stale; looking the key up again');
        // SoftHSM2 2.6.1 answers a cached handle with CKR_OBJECT_HANDLE_INVALID (not
        // CKR_USER_NOT_LOGGED_IN) after a logout, so a stale handle is also a login check.
        this.pool.ensureLoggedIn();
        return await fn(session, this.findKey(session, id, cacheKey, objectClass));
      }
    });
  }

  /** The CKA_ID, handle-cache key and class of one of a key's objects: by class, or a CBC-HMAC material's MAC key. */
  private objectOf(ref: BackingKeyRef, object: number | 'mac'): { id: Buffer; cacheKey: string; objectClass: number } {
    if (object === 'mac') return { id: cbcHmac.macObjectId(ref), cacheKey: `${backingKeyId(ref).toString('hex')}:mac`, objectClass: pkcs11js.CKO_SECRET_KEY };
    const id = backingKeyId(ref);
    return { id, cacheKey: cacheKeyOf(id.toString('hex'), object), objectClass: object };
  }

  /** withKey for a CBC-HMAC material: its encryption key and its MAC key, in one session. */
  private withCbcHmacKeys<T>(ref: BackingKeyRef, fn: (session: Handle, keys: cbcHmac.CbcHmacKeys) => Promise<T>): Promise<T> {
    const mac = this.objectOf(ref, 'mac');
    return this.withKey(ref, (session, encryptionKey) => {
      const macKey = this.cachedHandle(mac.cacheKey) ?? this.findKey(session, mac.id, mac.cacheKey, mac.objectClass);
      return fn(session, { encryptionKey, macKey });
    });
  }

  private findKey(session: Handle, id: Buffer, cacheKey: string, objectClass: number = pkcs11js.CKO_SECRET_KEY): Handle {
    const template = objectClass === pkcs11js.CKO_SECRET_KEY ? findByIdTemplate(id) : findByIdAndClassTemplate(id, objectClass);
    let found = this.findObjects(session, template, 2);
    if (found.length === 0 && this.pool.ensureLoggedIn()) found = this.findObjects(session, template, 2);
    if (found.length === 0) {
      throw new HsmError('HSM_KEY_NOT_FOUND', 'no backing key object with this id on the token');
    }
    if (found.length > 1) {
      throw new HsmError('HSM_FAILED', 'several key objects share this CKA_ID');
    }
    this.remember(cacheKey, found[0]!);
    return found[0]!;
  }

  private cachedHandle(cacheKey: string): Handle | undefined {
    const entry = this.handles.get(cacheKey);
    if (entry === undefined) return undefined;
    if (entry.generation === this.pool.generation) return entry.handle;
    this.handles.delete(cacheKey);
    return undefined;
  }

  private remember(cacheKey: string, handle: Handle): void {
    if (!this.handles.has(cacheKey) && this.handles.size >= HANDLE_CACHE_MAX) {
      const oldest = this.handles.keys().next();
      if (oldest.done !== true) this.handles.delete(oldest.value);
    }
    this.handles.set(cacheKey, { handle, generation: this.pool.generation });
  }

  /**
   * Object handles matching `template`, at most `limit` of them.
   * WARNING: C_FindObjectsInit must always be paired with C_FindObjectsFinal, or the session's next
   * search fails with CKR_OPERATION_ACTIVE (SoftHSM2).
   */
  private findObjects(session: Handle, template: pkcs11js.Template, limit = Number.POSITIVE_INFINITY): Handle[] {
    this.pkcs11.C_FindObjectsInit(session, template);
    const found: Handle[] = [];
    let failure: unknown;
    try {
      for (;;) {
        const batch = this.pkcs11.C_FindObjects(session, Math.min(FIND_BATCH, limit - found.length));
        found.push(...batch);
        if (batch.length === 0 || found.length >= limit) break;
      }
    } catch (err) {
      failure = err;
    }
    try {
      this.pkcs11.C_FindObjectsFinal(session);
    } catch (err) {
      failure ??= err;
    }
    if (failure !== undefined) throw failure;
    return found;
  }

  // The template is a request; a token may silently ignore parts of it. Prove the promise held.
  private verifyKeyAttributes(session: Handle, handle: Handle, requiredFlags: typeof REQUIRED_KEY_FLAGS, unwrapped = false): void {
    const attrs = this.pkcs11.C_GetAttributeValue(session, handle, [
      ...requiredFlags.map(({ type }) => ({ type })),
      { type: pkcs11js.CKA_VALUE_LEN },
    ]);
    requiredFlags.forEach((flag, at) => {
      const value = attrs[at]?.value;
      if (value === undefined || (value.length > 0 && value[0] !== 0) !== flag.value) {
        throw new HsmError('HSM_FAILED', `the token did not honour the key template (${flag.name})`);
      }
    });
    const valueLen = ulong(attrs[requiredFlags.length]?.value);
    if (valueLen !== AES_256_BYTES && !(unwrapped && valueLen === 0)) {
      throw new HsmError('HSM_FAILED', 'the token did not honour the key template (CKA_VALUE_LEN)');
    }
  }
}

// A key pair's private and public objects share the CKA_ID: cache them apart.
function cacheKeyOf(idHex: string, objectClass: number): string {
  return objectClass === pkcs11js.CKO_SECRET_KEY ? idHex : `${idHex}:${objectClass}`;
}

function gcm(iv: Buffer, aad: Buffer): pkcs11js.Mechanism {
  const parameter: pkcs11js.AesGCM = { type: pkcs11js.CK_PARAMS_AES_GCM, iv, ivBits: IV_BYTES * 8, aad, tagBits: TAG_BYTES * 8 };
  return { mechanism: pkcs11js.CKM_AES_GCM, parameter };
}

function destroyQuietly(pkcs11: Pkcs11, session: Handle, handle: Handle): void {
  try {
    pkcs11.C_DestroyObject(session, handle);
  } catch {
    // Nothing more we can do; the object is reported by listSymmetricKeys for reconciliation.
  }
}

// CKR_DOMAIN_PARAMS_INVALID / CKR_CURVE_NOT_SUPPORTED: the token lists the mechanism but not this
// curve (C_GetMechanismInfo cannot say which curves a token knows).
const CURVE_REFUSED = new Set([0x130, 0x140]);

// SoftHSM2 2.6.1 lists CKM_RSA_PKCS_OAEP but accepts only SHA-1 (and MGF1-SHA1) in its parameters,
// answering CKR_ARGUMENTS_BAD at C_EncryptInit/C_DecryptInit for SHA-256: a token limitation the
// mechanism list cannot show, reported as such instead of as an internal failure.
async function oaepHashAsUnsupported<T>(hash: 'sha1' | 'sha256', run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    const code = ckrOf(err);
    if (hash !== 'sha1' && (code === CKR.CKR_ARGUMENTS_BAD || code === CKR.CKR_MECHANISM_PARAM_INVALID)) {
      throw new HsmError('HSM_UNSUPPORTED', `the HSM does not support CKM_RSA_PKCS_OAEP with ${hash} (${ckrName(code)})`, { ckr: code, cause: err });
    }
    throw err;
  }
}

async function unsupportedCurveAsUnsupported<T>(spec: AsymmetricKeySpec, generate: () => Promise<T>): Promise<T> {
  try {
    return await generate();
  } catch (err) {
    const code = ckrOf(err);
    if (code !== undefined && CURVE_REFUSED.has(code)) {
      throw new HsmError('HSM_UNSUPPORTED', `the HSM does not support the curve of ${spec} (${ckrName(code)})`, { ckr: code, cause: err });
    }
    throw err;
  }
}

/** Makes sure nothing but HsmError leaves the adapter. */
async function guard<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toHsmError(err, what);
  }
}

// The IV probe's key, and the AES generation probe of symmetricSuites: a session object, gone with
// its session if destroying it fails.
const IV_PROBE_KEY_TEMPLATE: pkcs11js.Template = [
  { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
  { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
  { type: pkcs11js.CKA_VALUE_LEN, value: AES_256_BYTES },
  { type: pkcs11js.CKA_TOKEN, value: false },
  { type: pkcs11js.CKA_SENSITIVE, value: true },
  { type: pkcs11js.CKA_EXTRACTABLE, value: false },
  { type: pkcs11js.CKA_ENCRYPT, value: true },
  { type: pkcs11js.CKA_DECRYPT, value: true },
];

// The CBC-HMAC suite's generation probe: a session generic secret like a MAC key.
const MAC_PROBE_KEY_TEMPLATE: pkcs11js.Template = [
  { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
  { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_GENERIC_SECRET },
  { type: pkcs11js.CKA_VALUE_LEN, value: AES_256_BYTES },
  { type: pkcs11js.CKA_TOKEN, value: false },
  { type: pkcs11js.CKA_SENSITIVE, value: true },
  { type: pkcs11js.CKA_EXTRACTABLE, value: false },
  { type: pkcs11js.CKA_SIGN, value: true },
  { type: pkcs11js.CKA_VERIFY, value: true },
];

// What a token answers to a key-pair template it will not take as given.
const TEMPLATE_REFUSALS: ReadonlySet<number> = new Set([CKR.CKR_GENERAL_ERROR, CKR.CKR_TEMPLATE_INCONSISTENT, CKR.CKR_ATTRIBUTE_VALUE_INVALID]);

const KEY_PAIR_USAGES: ReadonlySet<number> = new Set([
  pkcs11js.CKA_ENCRYPT,
  pkcs11js.CKA_DECRYPT,
  pkcs11js.CKA_SIGN,
  pkcs11js.CKA_VERIFY,
  pkcs11js.CKA_WRAP,
  pkcs11js.CKA_UNWRAP,
  pkcs11js.CKA_DERIVE,
]);

/** The templates without the usages they set false (the ones they set true stay). */
function withoutDeniedUsages(templates: { publicKey: pkcs11js.Template; privateKey: pkcs11js.Template }): { publicKey: pkcs11js.Template; privateKey: pkcs11js.Template } {
  const keep = (template: pkcs11js.Template): pkcs11js.Template => template.filter((attr) => !(KEY_PAIR_USAGES.has(attr.type) && attr.value === false));
  return { publicKey: keep(templates.publicKey), privateKey: keep(templates.privateKey) };
}
