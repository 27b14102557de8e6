// A PKCS#11 session of a test's own on a token keybridge also uses, to look at objects beside it
// (the login state is shared with keybridge's own sessions in this process).

import pkcs11js from 'pkcs11js';

import { acquireModule, type ModuleLease } from '../../src/hsm/pkcs11/module.js';

/** Runs `fn` with a read-write session on the token labelled `tokenLabel`; closes it whatever happens. */
export function withRawSession<T>(modulePath: string, tokenLabel: string, fn: (pkcs11: pkcs11js.PKCS11, session: Buffer, lease: ModuleLease) => T): T {
  const lease = acquireModule(modulePath);
  const session = lease.pkcs11.C_OpenSession(lease.findSlot({ label: tokenLabel }), pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
  try {
    return fn(lease.pkcs11, session, lease);
  } finally {
    lease.pkcs11.C_CloseSession(session);
    lease.release();
  }
}

/** The handles of up to `max` objects matching `template`. */
export function findObjects(pkcs11: pkcs11js.PKCS11, session: Buffer, template: pkcs11js.Template, max = 100): Buffer[] {
  pkcs11.C_FindObjectsInit(session, template);
  try {
    return pkcs11.C_FindObjects(session, max);
  } finally {
    pkcs11.C_FindObjectsFinal(session);
  }
}
