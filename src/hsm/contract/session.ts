// The contract suite's own PKCS#11 session handling: plain pkcs11js, nothing of keybridge's
// executor or pool, so that what the suite finds is about the token and not about our code.
// Each check gets a fresh read-write session (a failed call can leave an operation active — see
// tpm2-pkcs11's CKM_AES_CBC_PAD — and must not spill into the next check), and every object the
// check creates is destroyed after it.

import { randomBytes } from 'node:crypto';

import pkcs11js from 'pkcs11js';

type Handle = Buffer;

export interface ContractOptions {
  /** Path of the PKCS#11 library. */
  readonly module: string;
  readonly tokenLabel: string;
  readonly pin: string;
  /** The security officer's PIN: checks that need it (CKA_TRUSTED) are `unsupported` without it. */
  readonly soPin?: string;
  /** A secret AES-256 key provisioned on the token, for tokens that cannot generate one. */
  readonly secretKeyLabel?: string;
  /** The same for an HMAC key. */
  readonly hmacKeyLabel?: string;
}

export interface MechanismInfo {
  readonly minKeySize: number;
  readonly maxKeySize: number;
  readonly flags: number;
}

export interface TokenDescription {
  readonly libraryManufacturer: string;
  readonly libraryDescription: string;
  readonly libraryVersion: string;
  readonly cryptokiVersion: string;
  readonly tokenManufacturer: string;
  readonly tokenModel: string;
  readonly tokenFirmware: string;
  readonly maxSessionCount: number;
  readonly minPinLength: number;
  readonly maxPinLength: number;
}

/** PKCS#11 strings are blank-padded (tpm2-pkcs11 pads some with NULs). */
const text = (s: string): string => s.replace(/[\s\0]+$/u, '');
const version = (v: { major: number; minor: number }): string => `${v.major}.${v.minor}`;

export class ContractSession {
  readonly pkcs11: pkcs11js.PKCS11;
  readonly options: ContractOptions;
  readonly slot: Handle;
  readonly mechanisms: ReadonlyMap<number, MechanismInfo>;
  readonly description: TokenDescription;
  /** Holds the login: PKCS#11 logs the application out when its last session closes. */
  readonly #anchor: Handle;
  #session: Handle | undefined;
  #objects: Handle[] = [];

  private constructor(pkcs11: pkcs11js.PKCS11, options: ContractOptions, slot: Handle) {
    this.pkcs11 = pkcs11;
    this.options = options;
    this.slot = slot;
    this.#anchor = pkcs11.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
    const mechanisms = new Map<number, MechanismInfo>();
    for (const mechanism of pkcs11.C_GetMechanismList(slot)) {
      const info = pkcs11.C_GetMechanismInfo(slot, mechanism);
      mechanisms.set(mechanism, { minKeySize: info.minKeySize, maxKeySize: info.maxKeySize, flags: info.flags });
    }
    this.mechanisms = mechanisms;
    const library = pkcs11.C_GetInfo();
    const token = pkcs11.C_GetTokenInfo(slot);
    this.description = {
      libraryManufacturer: text(library.manufacturerID),
      libraryDescription: text(library.libraryDescription),
      libraryVersion: version(library.libraryVersion),
      cryptokiVersion: version(library.cryptokiVersion),
      tokenManufacturer: text(token.manufacturerID),
      tokenModel: text(token.model),
      tokenFirmware: version(token.firmwareVersion),
      maxSessionCount: token.maxSessionCount,
      minPinLength: token.minPinLen,
      maxPinLength: token.maxPinLen,
    };
  }

  /** Loads the module, finds the token by label and logs the user in. */
  static open(options: ContractOptions): ContractSession {
    const pkcs11 = new pkcs11js.PKCS11();
    pkcs11.load(options.module);
    pkcs11.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
    try {
      const slot = pkcs11.C_GetSlotList(true).find((s) => text(pkcs11.C_GetTokenInfo(s).label) === options.tokenLabel);
      if (slot === undefined) throw new Error(`no token labelled "${options.tokenLabel}" in ${options.module}`);
      const contract = new ContractSession(pkcs11, options, slot);
      pkcs11.C_Login(contract.#anchor, pkcs11js.CKU_USER, options.pin);
      return contract;
    } catch (err) {
      pkcs11.C_Finalize();
      throw err;
    }
  }

  /** The current check's session, opened on first use. */
  session(): Handle {
    this.#session ??= this.pkcs11.C_OpenSession(this.slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
    return this.#session;
  }

  listed(mechanism: number): boolean {
    return this.mechanisms.has(mechanism);
  }

  /** Registers an object the check created, to destroy after it. */
  track<T extends Handle>(handle: T): T {
    this.#objects.push(handle);
    return handle;
  }

  /** A fresh CKA_ID (16 random bytes), so that checks never find each other's objects. */
  newId(): Buffer {
    return randomBytes(16);
  }

  /** Ends a check: destroys what it created and closes its session (the login stays). */
  endCheck(): void {
    const session = this.#session;
    if (session === undefined) return;
    for (const handle of this.#objects.splice(0)) {
      try {
        this.pkcs11.C_DestroyObject(session, handle);
      } catch {
        // Already gone, or a session object that closing the session removes anyway.
      }
    }
    try {
      this.pkcs11.C_CloseSession(session);
    } catch {
      // A session the token already dropped.
    }
    this.#session = undefined;
  }

  /**
   * Runs `fn` logged in as the security officer, then logs the user back in. PKCS#11 login is per
   * application, so the user is logged out meanwhile.
   */
  asSecurityOfficer<T>(soPin: string, fn: (session: Handle) => T): T {
    const session = this.session();
    this.pkcs11.C_Logout(session);
    try {
      this.pkcs11.C_Login(session, pkcs11js.CKU_SO, soPin);
      try {
        return fn(session);
      } finally {
        this.pkcs11.C_Logout(session);
      }
    } finally {
      this.pkcs11.C_Login(session, pkcs11js.CKU_USER, this.options.pin);
    }
  }

  /** Logs out, finalizes and unloads the module. */
  close(): void {
    this.endCheck();
    try {
      this.pkcs11.C_Logout(this.#anchor);
      this.pkcs11.C_CloseSession(this.#anchor);
    } catch {
      // Logging out of a token that is gone changes nothing.
    }
    this.pkcs11.C_Finalize();
    this.pkcs11.close();
  }
}
