// The HSM's own rate, with nothing of keybridge in between: pkcs11js straight to a SoftHSM2
// token, AES-256-GCM encrypt of 32 bytes, one session, synchronous calls. Run as its own process
// (SoftHSM2 reads SOFTHSM2_CONF once per process); prints one JSON line.

import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pkcs11js from 'pkcs11js';

const MODULE = '/usr/lib/softhsm/libsofthsm2.so';
const seconds = Number(process.argv[2] ?? '3');

const dir = mkdtempSync(join(tmpdir(), 'keybridge-raw-'));
mkdirSync(join(dir, 'tokens'));
writeFileSync(join(dir, 'softhsm2.conf'), `directories.tokendir = ${dir}/tokens\nobjectstore.backend = file\nlog.level = ERROR\n`);
process.env.SOFTHSM2_CONF = join(dir, 'softhsm2.conf');
execFileSync('softhsm2-util', ['--init-token', '--free', '--label', 'raw', '--so-pin', 'so-raw-1234', '--pin', 'user-raw-1234'], { stdio: 'ignore' });

const p = new pkcs11js.PKCS11();
p.load(MODULE);
p.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
try {
  const slot = p.C_GetSlotList(true).find((s) => p.C_GetTokenInfo(s).label.trim() === 'raw')!;
  const session = p.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
  p.C_Login(session, pkcs11js.CKU_USER, 'user-raw-1234');
  const key = p.C_GenerateKey(session, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
    { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
    { type: pkcs11js.CKA_VALUE_LEN, value: 32 },
    { type: pkcs11js.CKA_TOKEN, value: true },
    { type: pkcs11js.CKA_SENSITIVE, value: true },
    { type: pkcs11js.CKA_EXTRACTABLE, value: false },
    { type: pkcs11js.CKA_ENCRYPT, value: true },
  ]);
  const data = Buffer.alloc(32, 7);
  const out = Buffer.alloc(64);
  const aad = Buffer.alloc(52, 1);
  let ops = 0;
  const start = process.hrtime.bigint();
  const end = start + BigInt(seconds * 1e9);
  while (process.hrtime.bigint() < end) {
    for (let i = 0; i < 200; i++) {
      const iv = p.C_GenerateRandom(session, Buffer.alloc(12));
      const parameter: pkcs11js.AesGCM = { type: pkcs11js.CK_PARAMS_AES_GCM, iv, ivBits: 96, aad, tagBits: 128 };
      p.C_EncryptInit(session, { mechanism: pkcs11js.CKM_AES_GCM, parameter }, key);
      p.C_Encrypt(session, data, out);
      ops++;
    }
  }
  const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  process.stdout.write(`${JSON.stringify({ opsPerSecond: Math.round(ops / elapsed), ops, seconds: elapsed })}\n`);
  p.C_Logout(session);
  p.C_CloseSession(session);
} finally {
  p.C_Finalize();
  rmSync(dir, { recursive: true, force: true });
}
