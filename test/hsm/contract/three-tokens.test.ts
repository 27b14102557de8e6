// The PKCS#11 contract suite (src/hsm/contract) on three real token implementations — SoftHSM2,
// openCryptoki's soft token behind pkcsslotd, and tpm2-pkcs11 on a software TPM — each started in
// a temporary directory by scripts/tokens/. Each run's outcome is compared with what is known of
// that implementation (shared/reference's observations, and the findings written in
// docs/hsm-compatibility.md), so a change in a token, in pkcs11js or in a check shows up here; and
// docs/hsm-compatibility.md's matrix must be the one this run produces
// (KEYBRIDGE_UPDATE_HSM_MATRIX=1 rewrites it).

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';

import { MATRIX_END, MATRIX_START, renderMatrix, replaceMatrix } from '../../../src/hsm/contract/matrix.js';
import type { CheckStatus } from '../../../src/hsm/contract/check.js';
import type { ContractReport } from '../../../src/hsm/contract/runner.js';
import { CONTRACT_CHECKS } from '../../../src/hsm/contract/suite.js';
import { REPO_ROOT } from '../../support/repo-root.js';
import type { AdapterSmokeResult } from './adapter-smoke.js';
import { startLabToken, tokenLabMissing, type TokenImplementation } from '../../support/token-lab.js';

const execFileAsync = promisify(execFile);
const CLI = join(REPO_ROOT, 'dist', 'src', 'hsm', 'contract', 'cli.js');
const DOC = join(REPO_ROOT, 'docs', 'hsm-compatibility.md');
const SMOKE = join(REPO_ROOT, 'dist', 'test', 'hsm', 'contract', 'adapter-smoke.js');

const NAMES: Record<TokenImplementation, string> = { softhsm2: 'SoftHSM2', opencryptoki: 'openCryptoki (soft token)', tpm2: 'tpm2-pkcs11 (swtpm)' };

/**
 * What each implementation is known to answer where it is not `pass`. Every check not named here
 * must pass.
 */
const EXPECTED_EXCEPTIONS: Record<TokenImplementation, Record<string, CheckStatus>> = {
  softhsm2: {
    // Zero-pads a key to a multiple of 8 bytes before RFC 5649 wrapping (docs/hsm-compatibility.md).
    'aes.key-wrap-pad': 'fail',
    // CKM_RSA_PKCS_OAEP takes only SHA-1 (CKR_ARGUMENTS_BAD for SHA-256).
    'rsa.oaep-sha256.decrypt': 'unsupported',
    'import.oaep-sha256.unwrap': 'unsupported',
  },
  // openCryptoki 3.8.1's soft token: no AES-GCM, CMAC, AES key wrap or EC at all; CKA_TRUSTED
  // cannot be set (so no `keybridge` replication).
  opencryptoki: {
    'aes.gcm': 'unsupported',
    'aes.cmac': 'unsupported',
    'aes.key-wrap': 'unsupported',
    'aes.key-wrap-pad': 'unsupported',
    'hmac.sha224': 'unsupported',
    'rsa.sha256-pkcs1.sign': 'unsupported',
    'ec.p256.ecdsa': 'unsupported',
    'ec.p384.ecdsa': 'unsupported',
    'ec.p521.ecdsa': 'unsupported',
    'ec.secp256k1.ecdsa': 'unsupported',
    'ec.p256.ecdh': 'unsupported',
    'ed25519.eddsa': 'unsupported',
    'wrap.trusted': 'unsupported',
    'import.rsa-aes-key-wrap.pkcs8': 'unsupported',
  },
  // tpm2-pkcs11 1.9.0 on swtpm 0.7.1: no C_GenerateKey, C_WrapKey or C_UnwrapKey (stubs in its
  // src/pkcs11.c), no AES-GCM; CKM_AES_CBC_PAD breaks on 32 bytes; its one provisionable HMAC key
  // type is CKK_SHA256_HMAC; RSA up to 3072 bits; P-521 signing runs out of TPM memory.
  tpm2: {
    'aes.generate': 'unsupported',
    'aes.gcm': 'unsupported',
    'aes.cbc-pad': 'fail',
    'aes.cmac': 'unsupported',
    'aes.key-wrap': 'unsupported',
    'aes.key-wrap-pad': 'unsupported',
    'aes.non-extractable-not-wrappable': 'unsupported',
    'hmac.generate': 'unsupported',
    'hmac.sha224': 'unsupported',
    'hmac.sha384': 'unsupported',
    'hmac.sha512': 'unsupported',
    'rsa.generate.4096': 'unsupported',
    // A TPM RSA key is made for signing and decryption both: "User specified and TPM specified
    // attr mismatch" (CKR_GENERAL_ERROR) when a usage is set false, as keybridge does.
    'keys.single-purpose': 'fail',
    'ec.p521.ecdsa': 'fail',
    'ec.secp256k1.ecdsa': 'unsupported',
    'ec.p256.ecdh': 'unsupported',
    'ed25519.eddsa': 'unsupported',
    'wrap.trusted': 'unsupported',
    'import.oaep-sha1.unwrap': 'fail',
    'import.oaep-sha256.unwrap': 'fail',
    'import.rsa-aes-key-wrap.pkcs8': 'unsupported',
  },
};

const OK_RSA_HMAC = { 'RSA_2048 RSASSA_PSS_SHA_256': 'ok', 'HMAC_256 HMAC_SHA_256': 'ok' };

/** What CreateKey would say for each spec (null: the token can), and what worked through the adapter. */
const EXPECTED_ADAPTER: Record<TokenImplementation, AdapterSmokeResult> = {
  softhsm2: {
    refusals: {
      'SYMMETRIC_DEFAULT/ENCRYPT_DECRYPT': null,
      'RSA_2048/SIGN_VERIFY': null,
      'RSA_2048/ENCRYPT_DECRYPT': null,
      'RSA_4096/SIGN_VERIFY': null,
      'ECC_NIST_P256/SIGN_VERIFY': null,
      'ECC_NIST_P256/KEY_AGREEMENT': null,
      'ECC_NIST_EDWARDS25519/SIGN_VERIFY': null,
      'HMAC_256/GENERATE_VERIFY_MAC': null,
    },
    used: { ...OK_RSA_HMAC, 'SYMMETRIC_DEFAULT AES_256_GCM': 'ok' },
  },
  opencryptoki: {
    refusals: {
      // No AES-GCM: the CBC-HMAC suite (AES-CBC and HMAC-SHA-256 in the token).
      'SYMMETRIC_DEFAULT/ENCRYPT_DECRYPT': null,
      'RSA_2048/SIGN_VERIFY': null,
      'RSA_2048/ENCRYPT_DECRYPT': null,
      'RSA_4096/SIGN_VERIFY': null,
      'ECC_NIST_P256/SIGN_VERIFY': 'CKM_EC_KEY_PAIR_GEN is not supported by the HSM',
      'ECC_NIST_P256/KEY_AGREEMENT': 'CKM_EC_KEY_PAIR_GEN is not supported by the HSM',
      'ECC_NIST_EDWARDS25519/SIGN_VERIFY': 'CKM_EC_EDWARDS_KEY_PAIR_GEN is not supported by the HSM',
      'HMAC_256/GENERATE_VERIFY_MAC': null,
    },
    used: { ...OK_RSA_HMAC, 'SYMMETRIC_DEFAULT AES_256_CBC_HMAC_SHA_256': 'ok' },
  },
  tpm2: {
    refusals: {
      'SYMMETRIC_DEFAULT/ENCRYPT_DECRYPT': 'the HSM cannot generate secret keys through PKCS#11 (C_GenerateKey with CKM_AES_KEY_GEN: CKR_FUNCTION_NOT_SUPPORTED)',
      'RSA_2048/SIGN_VERIFY': null,
      'RSA_2048/ENCRYPT_DECRYPT': null,
      'RSA_4096/SIGN_VERIFY': 'CKM_RSA_PKCS_KEY_PAIR_GEN on the HSM supports key sizes 1024-3072, not 4096',
      'ECC_NIST_P256/SIGN_VERIFY': null,
      'ECC_NIST_P256/KEY_AGREEMENT': 'CKM_ECDH1_DERIVE is not supported by the HSM',
      'ECC_NIST_EDWARDS25519/SIGN_VERIFY': 'CKM_EC_EDWARDS_KEY_PAIR_GEN is not supported by the HSM',
      'HMAC_256/GENERATE_VERIFY_MAC': 'CKM_GENERIC_SECRET_KEY_GEN is not supported by the HSM',
    },
    // The token refuses keybridge's single-purpose template (keys.single-purpose above); the
    // adapter learns it and generates with the token's default usages.
    used: { 'RSA_2048 RSASSA_PSS_SHA_256': 'ok' },
  },
};

const reports = new Map<TokenImplementation, ContractReport>();
// CI installs every implementation (.ci/run): there a missing one is a failure, not a skip.
const mustRun = process.env.CI === 'true';

for (const impl of ['softhsm2', 'opencryptoki', 'tpm2'] as const) {
  const missing = tokenLabMissing(impl);
  describe(`PKCS#11 contract suite on ${NAMES[impl]}`, { skip: !mustRun && missing !== undefined ? missing : false }, () => {
    test('runs, and every capability is what is known of this implementation', async () => {
      const token = await startLabToken(impl);
      try {
        const pinFile = join(token.dir, 'contract-pin');
        const soPinFile = join(token.dir, 'contract-so-pin');
        writeFileSync(pinFile, `${token.pin}\n`, { mode: 0o600 });
        writeFileSync(soPinFile, `${token.soPin}\n`, { mode: 0o600 });
        const json = join(token.dir, 'report.json');
        const args = [
          ...token.runPrefix.slice(1),
          process.execPath,
          CLI,
          '--module', token.module,
          '--token-label', token.label,
          '--pin-file', pinFile,
          '--so-pin-file', soPinFile,
          '--name', NAMES[impl],
          '--json', json,
          ...(token.secretKeyLabel === undefined ? [] : ['--secret-key-label', token.secretKeyLabel]),
          ...(token.hmacKeyLabel === undefined ? [] : ['--hmac-key-label', token.hmacKeyLabel]),
        ];
        const run = await execFileAsync(token.runPrefix[0]!, args, { timeout: 240_000 }).catch((err: { code?: number; stdout?: string; stderr?: string }) => {
          // Exit 2: a check found the token misbehaving — the report says which, and is compared below.
          if (err.code === 2) return { stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
          throw err;
        });
        const report = JSON.parse(readFileSync(json, 'utf8')) as ContractReport;
        reports.set(impl, report);
        const actual = Object.fromEntries(report.results.filter((r) => r.status !== 'pass').map((r) => [r.id, r.status]));
        assert.deepEqual(actual, EXPECTED_EXCEPTIONS[impl], `${NAMES[impl]} answered otherwise than known:\n${run.stdout}`);
        assert.deepEqual(report.results.map((r) => r.id), CONTRACT_CHECKS.map((c) => c.id), 'every check ran, once, in order');

        // keybridge's own adapter on the same token: CreateKey's refusal names the mechanism the
        // token lacks, and what it can do works through the adapter.
        const smoke = await execFileAsync(token.runPrefix[0]!, [...token.runPrefix.slice(1), process.execPath, SMOKE, token.module, token.label, token.pin], { timeout: 120_000 });
        const adapter = JSON.parse(smoke.stdout) as AdapterSmokeResult;
        assert.deepEqual(adapter, EXPECTED_ADAPTER[impl], `keybridge's adapter on ${NAMES[impl]}`);
      } finally {
        await token.stop();
      }
    });
  });
}

/** The table rows of the generated part of the document. */
function tablesOf(doc: string): string {
  const generated = doc.slice(doc.indexOf(MATRIX_START), doc.indexOf(MATRIX_END));
  return generated.split('\n').filter((line) => line.startsWith('|')).join('\n');
}

describe('docs/hsm-compatibility.md', () => {
  test('holds the matrix this run produced', (t) => {
    if (reports.size < 3) {
      t.skip('not every implementation ran (see above)');
      return;
    }
    const matrix = renderMatrix((['softhsm2', 'opencryptoki', 'tpm2'] as const).map((impl) => reports.get(impl)!));
    const doc = readFileSync(DOC, 'utf8');
    const wanted = replaceMatrix(doc, matrix);
    if (process.env.KEYBRIDGE_UPDATE_HSM_MATRIX === '1') writeFileSync(DOC, wanted);
    // The tables, not the notes under them: a token's error text may vary between runs (tpm2's
    // P-521 failure reads CKR_HOST_MEMORY or CKR_GENERAL_ERROR), its outcome does not.
    else assert.equal(tablesOf(doc), tablesOf(wanted), 'docs/hsm-compatibility.md is not the matrix this run produced: run this test with KEYBRIDGE_UPDATE_HSM_MATRIX=1 and review the change');
  });
});
