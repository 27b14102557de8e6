// The Hsm port over one PKCS#11 token: AES-256-GCM with non-extractable token keys, random bytes,
// and the lifecycle of backing key objects.

import { endianness } from 'node:os';

import pkcs11js from 'pkcs11js';
import type { Logger } from 'pino';

import type { BackingKeyRef, GcmResult, Hsm } from '../ports/hsm.js';
import { HsmError } from '../ports/hsm.js';
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
import { acquireModule, type Handle, type Pkcs11 } from './pkcs11-module.js';
import { SessionPool } from './session-pool.js';
import type { VendorProfile } from './vendor-profile.js';

export interface Pkcs11HsmOptions {
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
const TAG_BYTES = 16;
const AES_256_BYTES = 32;
const MAX_RANDOM_BYTES = 65_536;
// Bounds memory if something asks for many distinct keys; a miss costs one C_FindObjects.
const HANDLE_CACHE_MAX = 10_000;
const FIND_BATCH = 64;

interface CachedHandle {
  readonly handle: Handle;
  readonly generation: number;
}

export class Pkcs11Hsm implements Hsm {
  // Object handles by backing key id (hex), tagged with the pool's login generation: a handle
  // found before a logout may be dead, or (on devices that reuse numbers) name another object.
  private readonly handles = new Map<string, CachedHandle>();
  // Creating and destroying token objects one at a time: SoftHSM2 2.6.1 fails concurrent
  // C_GenerateKey calls now and then (CKR_GENERAL_ERROR, once CKR_TEMPLATE_INCONSISTENT) while its
  // file object store is rewritten. Key creation is rare (AWS allows 5 CreateKey/s), so the queue
  // costs nothing that matters on any device.
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
  static async open(options: Pkcs11HsmOptions): Promise<Pkcs11Hsm> {
    let badTagCodes: ReadonlySet<number>;
    try {
      badTagCodes = ckrCodes(options.profile.badTagCkrs);
    } catch (err) {
      throw new HsmError('HSM_FAILED', `vendor profile ${options.profile.name} is invalid`, 'KMSInternalException', { cause: err });
    }
    const logger = options.logger?.child({ component: 'hsm', token: options.tokenLabel });
    const module = acquireModule(options.modulePath);
    try {
      const slot = module.findSlot(
        options.tokenSerial === undefined ? { label: options.tokenLabel } : { label: options.tokenLabel, serial: options.tokenSerial },
      );
      const pool = SessionPool.open({
        module,
        slot,
        pin: options.pin,
        maxSessions: options.maxSessions ?? options.profile.defaultMaxSessions,
        acquireTimeoutMs: options.acquireTimeoutMs ?? options.profile.acquireTimeoutMs,
        validateAfterIdleMs: options.validateAfterIdleMs ?? options.profile.validateAfterIdleMs,
        ...(options.closeTimeoutMs === undefined ? {} : { closeTimeoutMs: options.closeTimeoutMs }),
        logger,
      });
      logger?.info({ profile: options.profile.name, limit: pool.stats().limit }, 'pkcs11 token opened');
      return new Pkcs11Hsm(module.pkcs11, pool, options.profile, badTagCodes, logger);
    } catch (err) {
      module.release();
      throw toHsmError(err, 'opening the token');
    }
  }

  /** The token's session pool, for health checks and tests. Do not close it directly. */
  get sessionPool(): SessionPool {
    return this.pool;
  }

  async generateSymmetricKey(ref: BackingKeyRef): Promise<void> {
    await this.oneObjectChangeAtATime(() => this.generate(ref));
  }

  private async generate(ref: BackingKeyRef): Promise<void> {
    await guard('generating a key', async () => {
      const template = aesBackingKeyTemplate(ref);
      const id = backingKeyId(ref);
      await this.pool.withSession(async (session) => {
        // Two objects with one CKA_ID would make every later lookup ambiguous.
        if (this.findObjects(session, findByIdTemplate(id), 1).length > 0) {
          throw new HsmError('HSM_FAILED', 'a key object with this CKA_ID already exists', 'KMSInternalException');
        }
        const handle = await this.pkcs11.C_GenerateKeyAsync(session, AES_KEY_GEN, template);
        try {
          this.verifyKeyAttributes(session, handle);
        } catch (err) {
          destroyQuietly(this.pkcs11, session, handle);
          throw err;
        }
        this.remember(id.toString('hex'), handle);
      });
    });
  }

  async encrypt(ref: BackingKeyRef, plaintext: Buffer, aad: Buffer): Promise<GcmResult> {
    return guard('encrypting', () =>
      this.withKey(ref, async (session, key) => {
        // 'hsm': the device writes its IV into this buffer (AWS CloudHSM wants it zeroed).
        const iv = this.profile.ivGeneration === 'caller' ? this.pkcs11.C_GenerateRandom(session, Buffer.alloc(IV_BYTES)) : Buffer.alloc(IV_BYTES);
        // WARNING: pkcs11js passes pIv (and pAAD) as pointers into these Buffers; they must stay
        // referenced until the async call has returned — `iv` is read again below, which keeps it.
        this.pkcs11.C_EncryptInit(session, gcm(iv, aad), key);
        const out = await this.pkcs11.C_EncryptAsync(session, nonNullData(plaintext), Buffer.alloc(plaintext.length + TAG_BYTES));
        if (out.length !== plaintext.length + TAG_BYTES) {
          throw new HsmError('HSM_FAILED', 'C_Encrypt returned an unexpected length', 'KMSInternalException');
        }
        if (this.profile.ivGeneration === 'hsm' && iv.every((byte) => byte === 0)) {
          // WARNING: never hand out a ciphertext under an IV we cannot prove is fresh.
          throw new HsmError('HSM_FAILED', `the token returned no GCM IV; check vendor profile ${this.profile.name}`, 'KMSInternalException');
        }
        return {
          iv: Buffer.from(iv),
          ciphertext: Buffer.from(out.subarray(0, plaintext.length)),
          tag: Buffer.from(out.subarray(plaintext.length)),
        };
      }),
    );
  }

  async decrypt(ref: BackingKeyRef, iv: Buffer, ciphertext: Buffer, tag: Buffer, aad: Buffer): Promise<Buffer> {
    return guard('decrypting', () => {
      if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) {
        throw new HsmError('HSM_DECRYPT_FAILED', 'the GCM IV or tag has the wrong length', 'InvalidCiphertextException');
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
          out = await this.pkcs11.C_DecryptAsync(session, input, Buffer.alloc(input.length));
        } catch (err) {
          const code = ckrOf(err);
          if (code !== undefined && (this.badTagCodes.has(code) || ckrRule(code).code === 'HSM_DECRYPT_FAILED')) {
            throw new HsmError('HSM_DECRYPT_FAILED', `C_Decrypt failed: ${ckrName(code)}`, 'InvalidCiphertextException', { ckr: code, cause: err });
          }
          throw err;
        }
        if (out.length !== ciphertext.length) {
          throw new HsmError('HSM_FAILED', 'C_Decrypt returned an unexpected length', 'KMSInternalException');
        }
        return Buffer.from(out);
      });
    });
  }

  async random(length: number): Promise<Buffer> {
    return guard('drawing random bytes', async () => {
      if (!Number.isInteger(length) || length < 0 || length > MAX_RANDOM_BYTES) {
        throw new HsmError('HSM_FAILED', `random length must be an integer from 0 to ${MAX_RANDOM_BYTES}`, 'KMSInternalException');
      }
      if (length === 0) return Buffer.alloc(0);
      return this.pool.withSession(async (session) => Buffer.from(this.pkcs11.C_GenerateRandom(session, Buffer.alloc(length))));
    });
  }

  async destroySymmetricKey(ref: BackingKeyRef): Promise<boolean> {
    return this.oneObjectChangeAtATime(() => this.destroy(ref));
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
      return this.pool.withSession(async (session) => {
        this.handles.delete(cacheKey);
        let found = this.findObjects(session, template);
        // Logged out, private objects are invisible: make sure "absent" really means absent.
        if (found.length === 0 && this.pool.ensureLoggedIn()) found = this.findObjects(session, template);
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
        return destroyed;
      });
    });
  }

  async listSymmetricKeys(): Promise<BackingKeyRef[]> {
    return guard('listing keys', () =>
      this.pool.withSession(async (session) => {
        this.pool.ensureLoggedIn();
        const refs: BackingKeyRef[] = [];
        for (const handle of this.findObjects(session, allSecretKeysTemplate())) {
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
          if (id?.length === BACKING_KEY_ID_BYTES && label?.startsWith(BACKING_KEY_LABEL_PREFIX)) {
            refs.push({ id: id.toString('hex'), label });
          }
        }
        return refs;
      }),
    );
  }

  async close(): Promise<void> {
    await guard('closing the token', () => this.pool.close());
    this.handles.clear();
    this.logger?.info('pkcs11 token closed');
  }

  /**
   * Runs `fn` with a leased session and the key's object handle. A stale handle
   * (CKR_OBJECT_HANDLE_INVALID / CKR_KEY_HANDLE_INVALID) is looked up again once.
   */
  private withKey<T>(ref: BackingKeyRef, fn: (session: Handle, key: Handle) => Promise<T>): Promise<T> {
    const id = backingKeyId(ref);
    const cacheKey = id.toString('hex');
    return this.pool.withSession(async (session) => {
      const cached = this.cachedHandle(cacheKey);
      const key = cached ?? this.findKey(session, id, cacheKey);
      try {
        return await fn(session, key);
      } catch (err) {
        if (ckrRule(ckrOf(err) ?? -1).recovery !== 'refind') throw err;
        this.handles.delete(cacheKey);
        this.logger?.info({ ckr: ckrName(ckrOf(err) ?? -1) }, 'pkcs11 key handle went stale; looking the key up again');
        // SoftHSM2 2.6.1 answers a cached handle with CKR_OBJECT_HANDLE_INVALID (not
        // CKR_USER_NOT_LOGGED_IN) after a logout, so a stale handle is also a login check.
        this.pool.ensureLoggedIn();
        return await fn(session, this.findKey(session, id, cacheKey));
      }
    });
  }

  private findKey(session: Handle, id: Buffer, cacheKey: string): Handle {
    const template = findByIdTemplate(id);
    let found = this.findObjects(session, template, 2);
    if (found.length === 0 && this.pool.ensureLoggedIn()) found = this.findObjects(session, template, 2);
    if (found.length === 0) {
      throw new HsmError('HSM_KEY_NOT_FOUND', 'no backing key object with this id on the token', 'KMSInternalException');
    }
    if (found.length > 1) {
      throw new HsmError('HSM_FAILED', 'several key objects share this CKA_ID', 'KMSInternalException');
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
  private verifyKeyAttributes(session: Handle, handle: Handle): void {
    const attrs = this.pkcs11.C_GetAttributeValue(session, handle, [
      ...REQUIRED_KEY_FLAGS.map(({ type }) => ({ type })),
      { type: pkcs11js.CKA_VALUE_LEN },
    ]);
    REQUIRED_KEY_FLAGS.forEach((flag, at) => {
      const value = attrs[at]?.value;
      if (value === undefined || (value.length > 0 && value[0] !== 0) !== flag.value) {
        throw new HsmError('HSM_FAILED', `the token did not honour the key template (${flag.name})`, 'KMSInternalException');
      }
    });
    if (ulong(attrs[REQUIRED_KEY_FLAGS.length]?.value) !== AES_256_BYTES) {
      throw new HsmError('HSM_FAILED', 'the token did not honour the key template (CKA_VALUE_LEN)', 'KMSInternalException');
    }
  }
}

function gcm(iv: Buffer, aad: Buffer): pkcs11js.Mechanism {
  const parameter: pkcs11js.AesGCM = { type: pkcs11js.CK_PARAMS_AES_GCM, iv, ivBits: IV_BYTES * 8, aad, tagBits: TAG_BYTES * 8 };
  return { mechanism: pkcs11js.CKM_AES_GCM, parameter };
}

// pkcs11js passes a NULL data pointer for a zero-length Buffer, and SoftHSM2 2.6.1 rejects NULL
// pData even with length 0 (CKR_ARGUMENTS_BAD). An empty view into a real allocation is non-NULL.
const EMPTY_DATA = Buffer.alloc(1).subarray(0, 0);
function nonNullData(data: Buffer): Buffer {
  return data.length === 0 ? EMPTY_DATA : data;
}

// CK_ULONG in host byte order: 8 bytes on LP64, 4 on Windows and 32-bit builds.
function ulong(value: Buffer | undefined): number | undefined {
  const le = endianness() === 'LE';
  if (value?.length === 8) return Number(le ? value.readBigUInt64LE() : value.readBigUInt64BE());
  if (value?.length === 4) return le ? value.readUInt32LE() : value.readUInt32BE();
  return undefined;
}

function destroyQuietly(pkcs11: Pkcs11, session: Handle, handle: Handle): void {
  try {
    pkcs11.C_DestroyObject(session, handle);
  } catch {
    // Nothing more we can do; the object is reported by listSymmetricKeys for reconciliation.
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
