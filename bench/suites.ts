// The AES_256_CBC_HMAC_SHA_256 suite's rows (issue #20): Encrypt and Decrypt of 32 bytes with the
// default key store on SoftHSM2 forced to the suite (next to the same run's AES-GCM rows), and on
// openCryptoki's soft token, which has no AES-GCM (the suite by itself; skipped, saying why, when
// the token lab cannot run here). Each suite Encrypt costs the device C_EncryptInit + C_Encrypt +
// C_SignInit + C_Sign; each Decrypt C_VerifyInit + C_Verify + C_DecryptInit + C_Decrypt.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { EncryptCommand, KMSClient } from '@aws-sdk/client-kms';

import { CONCURRENCIES, load, warmUp, type Row } from './measure.js';
import { startKeybridge, type KeybridgeOptions } from './processes.js';
import { createKey, REGION, signedRequest } from './requests.js';
import { startLabToken, tokenLabMissing } from '../test/support/token-lab.js';

export const SUITE_ROWS = {
  softhsmEncrypt: 'Encrypt 32 B, CBC-HMAC suite (SoftHSM2, forced)',
  softhsmDecrypt: 'Decrypt 32 B, CBC-HMAC suite (SoftHSM2, forced)',
  ockEncrypt: 'Encrypt 32 B, CBC-HMAC suite (openCryptoki)',
  ockDecrypt: 'Decrypt 32 B, CBC-HMAC suite (openCryptoki)',
} as const;

/** Encrypt and Decrypt 32 B against a keybridge started with `options`, at every concurrency. */
async function encryptDecryptRows(dist: string, options: KeybridgeOptions, encryptRow: string, decryptRow: string): Promise<Row[]> {
  const kb = await startKeybridge(dist, options);
  try {
    const keyId = await createKey(kb.url, kb.credentials);
    const kms = new KMSClient({ region: REGION, endpoint: kb.url, credentials: kb.credentials, maxAttempts: 1 });
    const blob = (await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.alloc(32, 3) }))).CiphertextBlob!;
    kms.destroy();
    if (blob[1] !== 0x02) throw new Error(`${encryptRow}: the key encrypts with algorithm ${blob[1]}, not the CBC-HMAC suite`);
    const rows: Row[] = [];
    const scenarios: Array<[string, string, object]> = [
      [encryptRow, 'Encrypt', { KeyId: keyId, Plaintext: Buffer.alloc(32, 1).toString('base64') }],
      [decryptRow, 'Decrypt', { CiphertextBlob: Buffer.from(blob).toString('base64') }],
    ];
    for (const [at, [scenario, operation, body]] of scenarios.entries()) {
      const request = await signedRequest(kb.url, kb.credentials, operation, body);
      await warmUp(kb.url, request, { fresh: at === 0 });
      for (const c of CONCURRENCIES) rows.push(await load(scenario, 'keybridge', kb.url, request, c, kb.child.pid));
    }
    return rows;
  } finally {
    await kb.stop();
  }
}

/** The default key store on an openCryptoki soft token (embedded: false), run in the token's environment. */
async function openCryptokiRows(dist: string): Promise<Row[]> {
  const missing = tokenLabMissing('opencryptoki');
  if (missing !== undefined) {
    process.stderr.write(`openCryptoki suite rows skipped: ${missing}\n`);
    return [];
  }
  const token = await startLabToken('opencryptoki');
  const dir = mkdtempSync(join(tmpdir(), 'keybridge-bench-ock-'));
  try {
    const pinFile = join(dir, 'user.pin');
    writeFileSync(pinFile, `${token.pin}\n`, { mode: 0o600 });
    const credentialsFile = join(dir, 'credentials');
    writeFileSync(credentialsFile, '[keybridge]\naws_access_key_id = AKIABENCHOPENCRYPTOK\naws_secret_access_key = benchOpenCryptokiSecretAccessKey01234567\n', { mode: 0o600 });
    const clustersDir = join(dir, 'clusters');
    mkdirSync(clustersDir);
    return await encryptDecryptRows(
      dist,
      {
        runPrefix: token.runPrefix,
        config: {
          embedded: false,
          defaultKeyStore: { module: token.module, tokenLabel: token.label, userPin: { file: pinFile }, profile: 'generic' },
          credentialsFile,
          clustersDir,
        },
      },
      SUITE_ROWS.ockEncrypt,
      SUITE_ROWS.ockDecrypt,
    );
  } finally {
    await token.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function suiteRows(dist: string): Promise<Row[]> {
  const forced = await encryptDecryptRows(dist, { config: { defaultKeyStoreSymmetricSuite: 'AES_256_CBC_HMAC_SHA_256' } }, SUITE_ROWS.softhsmEncrypt, SUITE_ROWS.softhsmDecrypt);
  return [...forced, ...(await openCryptokiRows(dist))];
}
