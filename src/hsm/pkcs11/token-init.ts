// Creating a token for the embedded default deployment (SoftHSM2), in-process, so the same process
// can open it right after with Pkcs11Hsm. Production HSMs are initialised by their own tooling.

import pkcs11js from 'pkcs11js';

import { HsmError } from '../../ports/hsm.js';
import { toHsmError } from './ckr.js';
import { acquireModule, padTokenLabel, type Handle, type ModuleLease } from './module.js';

export interface InitializeTokenOptions {
  readonly modulePath: string;
  readonly label: string;
  readonly soPin: string;
  readonly userPin: string;
}

/**
 * Initialises the first free (uninitialised) slot as a token called `label`, sets the SO PIN and
 * the user PIN. Throws HsmError: HSM_FAILED when a token with that label exists already,
 * HSM_TOKEN_NOT_FOUND when the library offers no free slot.
 */
export async function initializeToken(options: InitializeTokenOptions): Promise<void> {
  let padded: string;
  try {
    padded = padTokenLabel(options.label);
  } catch (err) {
    throw new HsmError('HSM_FAILED', 'invalid token label', { cause: err });
  }
  // Shares the process-wide registry, so a Pkcs11Hsm opened later in this process (or already
  // open on another token) sees the new token without a second C_Initialize.
  const module = acquireModule(options.modulePath);
  try {
    if (module.matchingSlots({ label: options.label }).length > 0) {
      throw new HsmError('HSM_FAILED', 'a token with this label exists already');
    }
    const free = module.freeSlots()[0];
    if (free === undefined) {
      throw new HsmError('HSM_TOKEN_NOT_FOUND', 'the PKCS#11 library offers no uninitialised slot');
    }
    // WARNING: pass the label padded with spaces; pkcs11js pads a short one with NULs.
    module.pkcs11.C_InitToken(free, options.soPin, padded);
    // SoftHSM2 gives the new token a slot of its own and adds a fresh free slot, so the slot we
    // initialised is not where the token lives now: look it up again by label.
    setUserPin(module, module.findSlot({ label: options.label }), options.soPin, options.userPin);
  } catch (err) {
    throw toHsmError(err, 'initialising the token');
  } finally {
    module.release();
  }
}

/** Whether an initialised token called `label` is present. Throws HsmError only if the library fails. */
export async function tokenExists(options: { readonly modulePath: string; readonly label: string }): Promise<boolean> {
  const module = acquireModule(options.modulePath);
  try {
    return module.matchingSlots({ label: options.label }).length > 0;
  } catch (err) {
    throw toHsmError(err, 'looking for the token');
  } finally {
    module.release();
  }
}

function setUserPin(module: ModuleLease, slot: Handle, soPin: string, userPin: string): void {
  const { pkcs11 } = module;
  const session = pkcs11.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
  try {
    pkcs11.C_Login(session, pkcs11js.CKU_SO, soPin);
    try {
      pkcs11.C_InitPIN(session, userPin);
    } finally {
      // The token is brand new, so no one else in this process can be logged in to it.
      pkcs11.C_Logout(session);
    }
  } finally {
    pkcs11.C_CloseSession(session);
  }
}
