// The security officer's ceremony for `keybridge` replication: one AES-256 wrapping key, marked
// CKA_TRUSTED, installed on every member of a cluster (`keybridge cluster init`).
//
// Why a ceremony: members of a cluster that does not replicate by itself (SoftHSM2)
// share no secret, and only the SO may set CKA_TRUSTED. The key's value exists once, in this
// process's memory, while it is written to each member, and is overwritten right after. It never
// touches the disk or a log. From then on backing keys move between members only wrapped under it.

import { randomBytes } from 'node:crypto';

import pkcs11js from 'pkcs11js';

import { HsmError } from '../../ports/hsm.js';
import { toHsmError } from './ckr.js';
import { acquireModule, type Handle, type ModuleLease } from './module.js';
import { clusterWrappingKeyTemplate, findWrappingKeyTemplate } from './replication-templates.js';

export interface WrappingKeyMember {
  readonly name: string;
  readonly modulePath: string;
  readonly tokenLabel: string;
  readonly tokenSerial?: string;
}

export interface WrappingKeyStatus {
  readonly member: string;
  readonly installed: boolean;
}

export interface InstallOutcome {
  /** 'installed': a new key on every member; 'present': every member had one, nothing changed. */
  readonly outcome: 'installed' | 'present';
  readonly members: readonly WrappingKeyStatus[];
}

const AES_256_BYTES = 32;

/**
 * Installs the cluster wrapping key on every member with the SO PIN. Idempotent: when every member
 * has one already, nothing changes. When only some have one, it refuses unless `replace` is set,
 * because a new key would not match the old ones. `replace` destroys the old keys first; copies
 * already made stay valid (the wrapping key is only used while copying).
 * Throws HsmError (HSM_LOGIN_FAILED on a wrong SO PIN, HSM_TOKEN_NOT_FOUND for a missing member).
 */
export async function installClusterWrappingKey(members: readonly WrappingKeyMember[], soPin: string, options: { replace?: boolean } = {}): Promise<InstallOutcome> {
  const before = await wrappingKeyStatus(members);
  const present = before.filter((m) => m.installed).length;
  if (present === members.length && options.replace !== true) return { outcome: 'present', members: before };
  if (present > 0 && options.replace !== true) {
    const missing = before.filter((m) => !m.installed).map((m) => m.member);
    throw new HsmError(
      'HSM_FAILED',
      `the wrapping key is on ${present} of ${members.length} members (missing on ${missing.join(', ')}); a new key would not match — use --replace to install a new one on every member`,
    );
  }
  const value = randomBytes(AES_256_BYTES);
  try {
    for (const member of members) {
      withSoSession(member, soPin, (module, session) => {
        const { pkcs11 } = module;
        for (const old of find(module, session)) pkcs11.C_DestroyObject(session, old);
        pkcs11.C_CreateObject(session, clusterWrappingKeyTemplate(value));
      });
    }
  } finally {
    value.fill(0);
  }
  return { outcome: 'installed', members: await wrappingKeyStatus(members) };
}

/** Which members carry a wrapping key (public object: no login needed to see it). */
export async function wrappingKeyStatus(members: readonly WrappingKeyMember[]): Promise<WrappingKeyStatus[]> {
  return members.map((member) =>
    withSession(member, (module, session) => ({ member: member.name, installed: find(module, session).length === 1 })),
  );
}

function find(module: ModuleLease, session: Handle): Handle[] {
  const { pkcs11 } = module;
  pkcs11.C_FindObjectsInit(session, findWrappingKeyTemplate());
  try {
    return pkcs11.C_FindObjects(session, 8);
  } finally {
    pkcs11.C_FindObjectsFinal(session);
  }
}

function withSession<T>(member: WrappingKeyMember, fn: (module: ModuleLease, session: Handle) => T): T {
  const module = acquireModule(member.modulePath);
  try {
    const slot = module.findSlot(member.tokenSerial === undefined ? { label: member.tokenLabel } : { label: member.tokenLabel, serial: member.tokenSerial });
    const session = module.pkcs11.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
    try {
      return fn(module, session);
    } finally {
      module.pkcs11.C_CloseSession(session);
    }
  } catch (err) {
    throw toHsmError(err, `member ${member.name}`);
  } finally {
    module.release();
  }
}

function withSoSession(member: WrappingKeyMember, soPin: string, fn: (module: ModuleLease, session: Handle) => void): void {
  withSession(member, (module, session) => {
    try {
      module.pkcs11.C_Login(session, pkcs11js.CKU_SO, soPin);
    } catch (err) {
      throw toHsmError(err, `C_Login (SO) on member ${member.name}`);
    }
    try {
      fn(module, session);
    } finally {
      try {
        module.pkcs11.C_Logout(session);
      } catch {
        // Closing the session ends the SO login as well.
      }
    }
  });
}
