// The Hsm port over one PKCS#11 token, as the serving process uses it: every call is a job for the
// token's executor (executor.ts), run by a worker thread on a session of its own (token.ts holds
// the PKCS#11 work itself). Nothing here calls PKCS#11, so a slow or hung device costs its own
// workers and never the event loop.

import type { Logger } from 'pino';

import type { AsymmetricKeySpec, HmacSpec, KeySpec, KeyUsage, MacAlgorithm, SigningAlgorithm } from '../../domain/key-spec.js';
import { chooseSuite, type SuiteSupport, type SymmetricSuite, type SymmetricSuiteChoice } from '../../domain/symmetric-suite.js';
import type { BackingKeyRef, GcmResult, Hsm, ImportedKeyMaterial, ImportKeyMaterialRequest, ImportWrappingAlgorithm, ImportWrappingKeySpec } from '../../ports/hsm.js';
import { HsmError } from '../../ports/hsm.js';
import { HsmExecutor, type ExecutorStats } from './executor.js';
import { acquireRemoteModule, loginKey, type RemoteModuleLease } from './module.js';
import { reinitializeLibrary } from './reinitialize.js';
import type { KeyObjectCopy, KeyObjectKind, KeyObjectRef, Pkcs11Token, Pkcs11TokenOptions } from './token.js';
import type { TokenMethod } from './wire.js';

export type { KeyObjectCopy, KeyObjectKind, KeyObjectRef };

/**
 * As for one Pkcs11Token, except: `maxSessions` is the number of calls at once on this token (the
 * executor's workers, each with a work session and a login anchor), `acquireTimeoutMs` how long a
 * call waits for a free worker, `closeTimeoutMs` how long close() waits for running calls.
 */
export interface Pkcs11HsmOptions extends Pkcs11TokenOptions {
  /** How long one call may run in the device before it fails and its worker is written off. */
  readonly callTimeoutMs?: number;
  /**
   * The same for generating a key pair (or the throw-away pairs of a replication probe): RSA-4096
   * takes seconds on SoftHSM2 and longer on small devices.
   */
  readonly generateTimeoutMs?: number;
  /** How long opening (library, token, session, login) may take in a worker. */
  readonly openTimeoutMs?: number;
}

const DEFAULT_CALL_TIMEOUT_MS = 2_000;
// Open failures that may only mean the library has not noticed the token come back.
const TOKEN_LOST: ReadonlySet<string> = new Set(['HSM_TOKEN_NOT_FOUND', 'HSM_DEVICE_GONE']);
const DEFAULT_GENERATE_TIMEOUT_MS = 60_000;
// Calls that may generate a key pair in the device: they get generateTimeoutMs.
const GENERATING: ReadonlySet<TokenMethod> = new Set(['generateKeyPair', 'generateReplicableKeyPair', 'generateDataKeyPair', 'replicationRefusal', 'generateImportWrappingKey']);

type Method<M extends TokenMethod> = Pkcs11Token[M];

export class Pkcs11Hsm implements Hsm {
  // Creating and destroying token objects one at a time: SoftHSM2 2.6.1 fails concurrent
  // C_GenerateKey calls now and then (CKR_GENERAL_ERROR, once CKR_TEMPLATE_INCONSISTENT) while its
  // file object store is rewritten. Key creation is rare (AWS allows 5 CreateKey/s), so the queue
  // costs nothing that matters on any device.
  private objectChanges: Promise<unknown> = Promise.resolve();
  private suiteSupport: Promise<SuiteSupport> | undefined;
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly executor: HsmExecutor,
    private readonly module: RemoteModuleLease,
    private readonly releaseLogin: () => boolean,
    private readonly generateTimeoutMs: number,
    private readonly logger: Logger | undefined,
  ) {}

  /**
   * Starts the token's executor: its first worker loads the library, finds the token by label,
   * opens a session and logs in. Throws HsmError: HSM_UNAVAILABLE (library missing, or the open did
   * not finish in time), HSM_TOKEN_NOT_FOUND, HSM_LOGIN_FAILED, HSM_DEVICE_GONE.
   *
   * When the token is not found or reported removed, the library may just not have noticed that it
   * came back (a library builds its slot list at C_Initialize): unless the vendor profile forbids
   * it, the library is re-initialised for every user in the process (reinitialize.ts) and the open
   * tried once more.
   */
  static async open(options: Pkcs11HsmOptions): Promise<Pkcs11Hsm> {
    const logger = options.logger?.child({ component: 'hsm', token: options.tokenLabel });
    try {
      return await Pkcs11Hsm.openOnce(options, logger);
    } catch (err) {
      if (!(err instanceof HsmError) || !TOKEN_LOST.has(err.code)) throw err;
      if (options.profile.reinitializeOnTokenLoss === false) {
        throw new HsmError(
          err.code,
          `${err.message}; the ${options.profile.name} profile forbids re-initialising its PKCS#11 library while serving: restart keybridge once the token is back`,
          { ...(err.ckr === undefined ? {} : { ckr: err.ckr }), cause: err },
        );
      }
      logger?.info({ hsmError: err.code }, 'token not found: re-initialising the pkcs11 library, as it may not have noticed the token return');
      try {
        await reinitializeLibrary(options.modulePath, { ...(options.openTimeoutMs === undefined ? {} : { timeoutMs: options.openTimeoutMs }), logger });
      } catch {
        // Logged by reinitializeLibrary; what the caller must hear is still that the token is missing.
        throw err;
      }
      return Pkcs11Hsm.openOnce(options, logger);
    }
  }

  private static async openOnce(options: Pkcs11HsmOptions, logger: Logger | undefined): Promise<Pkcs11Hsm> {
    const selector = options.tokenSerial === undefined ? { label: options.tokenLabel } : { label: options.tokenLabel, serial: options.tokenSerial };
    const module = acquireRemoteModule(options.modulePath);
    let executor: HsmExecutor;
    let releaseLogin: () => boolean;
    try {
      executor = new HsmExecutor({
        name: options.tokenLabel,
        init: {
          modulePath: options.modulePath,
          tokenLabel: options.tokenLabel,
          ...(options.tokenSerial === undefined ? {} : { tokenSerial: options.tokenSerial }),
          pin: options.pin,
          profile: options.profile,
          lifecycleLock: module.lifecycleLock,
          ...(options.validateAfterIdleMs === undefined ? {} : { validateAfterIdleMs: options.validateAfterIdleMs }),
          ...(options.closeTimeoutMs === undefined ? {} : { closeTimeoutMs: options.closeTimeoutMs }),
        },
        size: options.maxSessions ?? options.profile.defaultMaxSessions,
        queueTimeoutMs: options.acquireTimeoutMs ?? options.profile.acquireTimeoutMs,
        callTimeoutMs: options.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS,
        ...(options.openTimeoutMs === undefined ? {} : { openTimeoutMs: options.openTimeoutMs }),
        ...(options.closeTimeoutMs === undefined ? {} : { closeTimeoutMs: options.closeTimeoutMs }),
        logger,
      });
      // Before any worker starts: a re-initialisation from now on suspends and resumes this executor.
      await module.attach(executor);
      releaseLogin = module.holdLogin(loginKey(selector), options.pin);
    } catch (err) {
      module.release();
      throw err;
    }
    try {
      const { initializedByUs } = await executor.open();
      if (initializedByUs) module.noteInitializedByUs();
      logger?.info({ profile: options.profile.name, limit: executor.stats().limit }, 'pkcs11 token opened');
      return new Pkcs11Hsm(executor, module, releaseLogin, options.generateTimeoutMs ?? DEFAULT_GENERATE_TIMEOUT_MS, logger);
    } catch (err) {
      // WARNING: no logout here even if we were the first holder: the failed open logged nobody in.
      releaseLogin();
      module.release();
      await executor.close({ logout: false, finalize: false });
      throw err;
    }
  }

  /** The executor's workers and queue, for health output, metrics and tests. */
  stats(): ExecutorStats {
    return this.executor.stats();
  }

  /** Calls wait while the token's library is re-initialised (the cluster prefers other members meanwhile). */
  get paused(): boolean {
    return this.executor.paused;
  }

  /** Calls this token may run at once (its executor's workers). */
  get concurrency(): number {
    return this.executor.limit;
  }

  private call<M extends TokenMethod>(method: M, ...args: Parameters<Method<M>>): ReturnType<Method<M>> {
    return this.executor.run(method, args, GENERATING.has(method) ? this.generateTimeoutMs : undefined) as ReturnType<Method<M>>;
  }

  private oneObjectChangeAtATime<T>(change: () => Promise<T>): Promise<T> {
    const result = this.objectChanges.then(change, change);
    this.objectChanges = result.catch(() => undefined);
    return result;
  }

  generateSymmetricKey(ref: BackingKeyRef, suite: SymmetricSuite = 'AES_256_GCM'): Promise<void> {
    return this.oneObjectChangeAtATime(() => this.call('generateSymmetricKey', ref, suite));
  }

  /** The origin copy in `keybridge` replication: wrappable under the cluster's trusted key only. */
  generateReplicableSymmetricKey(ref: BackingKeyRef, suite: SymmetricSuite = 'AES_256_GCM'): Promise<void> {
    return this.oneObjectChangeAtATime(() => this.call('generateReplicableSymmetricKey', ref, suite));
  }

  /** Why the token cannot serve each symmetric suite (Pkcs11Token.symmetricSuites), asked once per connection. */
  symmetricSuites(): Promise<SuiteSupport> {
    this.suiteSupport ??= this.call('symmetricSuites').catch((err: unknown) => {
      this.suiteSupport = undefined;
      throw err;
    });
    return this.suiteSupport;
  }

  /** The suite new material gets on this token when nothing is configured. */
  async symmetricSuite(): Promise<SymmetricSuiteChoice> {
    return chooseSuite(await this.symmetricSuites());
  }

  /** Whether the security officer installed the cluster's trusted wrapping key on this token. */
  hasWrappingKey(): Promise<boolean> {
    return this.call('hasWrappingKey');
  }

  /** Unwraps an AES key exported by another member as a replica (wrappable under a trusted key only). */
  importWrapped(ref: BackingKeyRef, wrapped: Buffer): Promise<void> {
    return this.oneObjectChangeAtATime(() => this.call('importWrapped', ref, wrapped));
  }

  encrypt(ref: BackingKeyRef, plaintext: Buffer, aad: Buffer, suite: SymmetricSuite = 'AES_256_GCM'): Promise<GcmResult> {
    return this.call('encrypt', ref, plaintext, aad, suite);
  }

  decrypt(ref: BackingKeyRef, iv: Buffer, ciphertext: Buffer, tag: Buffer, aad: Buffer, suite: SymmetricSuite = 'AES_256_GCM'): Promise<Buffer> {
    return this.call('decrypt', ref, iv, ciphertext, tag, aad, suite);
  }

  random(length: number): Promise<Buffer> {
    return this.call('random', length);
  }

  destroySymmetricKey(ref: BackingKeyRef): Promise<boolean> {
    return this.oneObjectChangeAtATime(() => this.call('destroySymmetricKey', ref));
  }

  listSymmetricKeys(): Promise<BackingKeyRef[]> {
    return this.call('listSymmetricKeys');
  }

  /** Every keybridge key object on the token, each with its kind: what a resync compares. */
  listKeyObjects(): Promise<KeyObjectRef[]> {
    return this.call('listKeyObjects');
  }

  missingMechanism(spec: KeySpec, usage: KeyUsage): Promise<string | undefined> {
    return this.call('missingMechanism', spec, usage);
  }

  generateKeyPair(ref: BackingKeyRef, spec: AsymmetricKeySpec, usage: KeyUsage): Promise<Buffer> {
    return this.oneObjectChangeAtATime(() => this.call('generateKeyPair', ref, spec, usage));
  }

  generateReplicableKeyPair(ref: BackingKeyRef, spec: AsymmetricKeySpec, usage: KeyUsage): Promise<Buffer> {
    return this.oneObjectChangeAtATime(() => this.call('generateReplicableKeyPair', ref, spec, usage));
  }

  generateMacKey(ref: BackingKeyRef, spec: HmacSpec): Promise<void> {
    return this.oneObjectChangeAtATime(() => this.call('generateMacKey', ref, spec));
  }

  generateReplicableMacKey(ref: BackingKeyRef, spec: HmacSpec): Promise<void> {
    return this.oneObjectChangeAtATime(() => this.call('generateReplicableMacKey', ref, spec));
  }

  /** Why `keybridge` replication cannot copy keys of this spec out of this token (Pkcs11Token.replicationRefusal). */
  replicationRefusal(spec: AsymmetricKeySpec | HmacSpec): Promise<string | undefined> {
    return this.call('replicationRefusal', spec);
  }

  /** One object of a key, ready to be created on another member (Pkcs11Token.exportKeyObject). */
  exportKeyObject(ref: BackingKeyRef, kind: KeyObjectKind): Promise<KeyObjectCopy> {
    return this.call('exportKeyObject', ref, kind);
  }

  /** Creates another member's exported object here (Pkcs11Token.importKeyObject). */
  importKeyObject(ref: BackingKeyRef, copy: KeyObjectCopy): Promise<void> {
    return this.oneObjectChangeAtATime(() => this.call('importKeyObject', ref, copy));
  }

  getPublicKey(ref: BackingKeyRef, spec: AsymmetricKeySpec): Promise<Buffer> {
    return this.call('getPublicKey', ref, spec);
  }

  sign(ref: BackingKeyRef, algorithm: SigningAlgorithm, input: Buffer): Promise<Buffer> {
    return this.call('sign', ref, algorithm, input);
  }

  verify(ref: BackingKeyRef, spec: AsymmetricKeySpec, algorithm: SigningAlgorithm, input: Buffer, signature: Buffer): Promise<boolean> {
    return this.call('verify', ref, spec, algorithm, input, signature);
  }

  rsaEncrypt(ref: BackingKeyRef, hash: 'sha1' | 'sha256', plaintext: Buffer): Promise<Buffer> {
    return this.call('rsaEncrypt', ref, hash, plaintext);
  }

  rsaDecrypt(ref: BackingKeyRef, hash: 'sha1' | 'sha256', ciphertext: Buffer): Promise<Buffer> {
    return this.call('rsaDecrypt', ref, hash, ciphertext);
  }

  mac(ref: BackingKeyRef, algorithm: MacAlgorithm, message: Buffer): Promise<Buffer> {
    return this.call('mac', ref, algorithm, message);
  }

  verifyMac(ref: BackingKeyRef, algorithm: MacAlgorithm, message: Buffer, tag: Buffer): Promise<boolean> {
    return this.call('verifyMac', ref, algorithm, message, tag);
  }

  deriveSharedSecret(ref: BackingKeyRef, peerPoint: Buffer, length: number): Promise<Buffer> {
    return this.call('deriveSharedSecret', ref, peerPoint, length);
  }

  generateDataKeyPair(spec: AsymmetricKeySpec): Promise<{ publicKey: Buffer; privateKey: Buffer }> {
    return this.call('generateDataKeyPair', spec);
  }

  generateImportWrappingKey(ref: BackingKeyRef, spec: ImportWrappingKeySpec): Promise<Buffer> {
    return this.oneObjectChangeAtATime(() => this.call('generateImportWrappingKey', ref, spec));
  }

  /** Probed per worker (each has its own token object): one throw-away unwrap per hash and worker. */
  importAlgorithmRefusal(probeWith: BackingKeyRef, algorithm: ImportWrappingAlgorithm): Promise<string | undefined> {
    return this.call('importAlgorithmRefusal', probeWith, algorithm);
  }

  importKeyMaterial(request: ImportKeyMaterialRequest): Promise<ImportedKeyMaterial> {
    return this.oneObjectChangeAtATime(() => this.call('importKeyMaterial', request));
  }

  /**
   * Lets running calls finish (bounded), closes every worker's sessions, logs out when no other
   * user in this process still needs the login on this token, and finalizes the library when this
   * was its last user in the process. Idempotent; throws nothing but HsmError.
   */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    const logout = this.releaseLogin();
    const finalize = this.module.release();
    const done = this.executor.close({ logout, finalize });
    if (finalize) this.module.finalizing(done);
    try {
      await done;
    } catch (err) {
      throw err instanceof HsmError ? err : new HsmError('HSM_FAILED', 'closing the token failed', { cause: err });
    }
    this.logger?.info('pkcs11 token closed');
  }
}
