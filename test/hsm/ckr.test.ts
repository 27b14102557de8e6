import assert from 'node:assert/strict';
import { test } from 'node:test';

import pkcs11js from 'pkcs11js';

import { KMS_ERRORS } from '../../src/domain/errors.js';
import { CKR, ckrCodes, ckrRule, toHsmError, type CkrName } from '../../src/hsm/pkcs11/ckr.js';
import { aesBackingKeyTemplate, findByRefTemplate } from '../../src/hsm/pkcs11/key-templates.js';
import { padTokenLabel, tokenText } from '../../src/hsm/pkcs11/module.js';
import { kmsErrorNameOf } from '../../src/operations/hsm-errors.js';
import { HsmError } from '../../src/ports/hsm.js';
import { loadVendorProfile, newBackingKeyRef } from '../support/softhsm.js';

test('every CKR number in the table matches pkcs11js', () => {
  const constants = pkcs11js as unknown as Record<string, unknown>;
  for (const [name, code] of Object.entries(CKR)) {
    assert.equal(constants[name], code, name);
  }
});

test('session-class codes evict and retry on a new session', () => {
  for (const name of ['CKR_SESSION_HANDLE_INVALID', 'CKR_SESSION_CLOSED'] as const) {
    const rule = ckrRule(CKR[name]);
    assert.equal(rule.session, 'evict', name);
    assert.equal(rule.recovery, 'new-session', name);
  }
});

test('login, handle, device and pin codes are classified as the port expects', () => {
  assert.equal(ckrRule(CKR.CKR_USER_NOT_LOGGED_IN).recovery, 'relogin');
  for (const name of ['CKR_OBJECT_HANDLE_INVALID', 'CKR_KEY_HANDLE_INVALID'] as const) {
    assert.equal(ckrRule(CKR[name]).recovery, 'refind');
    assert.equal(ckrRule(CKR[name]).code, 'HSM_KEY_NOT_FOUND');
  }
  for (const name of ['CKR_DEVICE_ERROR', 'CKR_DEVICE_REMOVED', 'CKR_TOKEN_NOT_PRESENT', 'CKR_CRYPTOKI_NOT_INITIALIZED'] as const) {
    const rule = ckrRule(CKR[name]);
    assert.equal(rule.session, 'reset', name);
    assert.equal(rule.code, name === 'CKR_DEVICE_ERROR' ? 'HSM_UNAVAILABLE' : 'HSM_DEVICE_GONE', name);
  }
  for (const name of ['CKR_PIN_INCORRECT', 'CKR_PIN_LOCKED'] as const) {
    assert.equal(ckrRule(CKR[name]).code, 'HSM_LOGIN_FAILED', name);
  }
  assert.equal(ckrRule(CKR.CKR_ENCRYPTED_DATA_INVALID).code, 'HSM_DECRYPT_FAILED');
  assert.equal(ckrRule(CKR.CKR_SIGNATURE_INVALID).code, 'HSM_BAD_SIGNATURE');
});

test('unknown codes evict and surface as internal errors with a readable name', () => {
  const rule = ckrRule(0x8000_0001);
  assert.equal(rule.session, 'evict');
  assert.equal(rule.code, 'HSM_FAILED');
  assert.equal(kmsErrorNameOf(new HsmError(rule.code, 'x')), 'KMSInternalException');
  assert.equal(rule.name, 'CKR_0x80000001');
});

test('every rule\'s outcome is answered with a real KMS error (the operations\' one table)', () => {
  for (const code of Object.values(CKR)) {
    assert.ok(Object.hasOwn(KMS_ERRORS, kmsErrorNameOf(new HsmError(ckrRule(code).code, 'x'))), ckrRule(code).name);
  }
  // Dependency-shaped outcomes are 503s, which SDKs retry.
  for (const code of ['HSM_BUSY', 'HSM_TIMEOUT', 'HSM_DEVICE_GONE'] as const) {
    assert.equal(kmsErrorNameOf(new HsmError(code, 'x')), 'DependencyTimeoutException', code);
  }
});

test('toHsmError keeps the CKR and the cause and passes HsmError through', () => {
  const raw = new pkcs11js.Pkcs11Error('CKR_PIN_INCORRECT:160', 0, 'C_Login');
  const err = toHsmError(raw, 'C_Login');
  assert.equal(err.code, 'HSM_LOGIN_FAILED');
  assert.equal(err.ckr, CKR.CKR_PIN_INCORRECT);
  assert.equal(err.cause, raw);
  const already = new HsmError('HSM_BUSY', 'busy');
  assert.equal(toHsmError(already, 'x'), already);
  const other = toHsmError(new TypeError('boom'), 'step');
  assert.equal(other.code, 'HSM_FAILED');
  assert.equal(other.ckr, undefined);
});

test('vendor profiles are complete and name only known CKR codes', () => {
  for (const name of ['softhsm2', 'generic']) {
    const profile = loadVendorProfile(name);
    assert.equal(profile.name, name);
    assert.equal(typeof profile.comment, 'string');
    assert.ok(profile.ivGeneration === 'caller' || profile.ivGeneration === 'hsm');
    assert.ok(Number.isInteger(profile.defaultMaxSessions) && profile.defaultMaxSessions > 0);
    assert.ok(profile.acquireTimeoutMs > 0 && profile.validateAfterIdleMs >= 0);
    assert.ok(ckrCodes(profile.badTagCkrs).size > 0);
  }
  // SoftHSM2 2.6.1 reports a bad GCM tag as CKR_GENERAL_ERROR (code 5).
  assert.ok(ckrCodes(loadVendorProfile('softhsm2').badTagCkrs).has(5));
  assert.throws(() => ckrCodes(['CKR_NO_SUCH_THING']), TypeError);
  assert.throws(() => ckrCodes(['toString' as CkrName]), TypeError);
});

test('token labels are padded with spaces to 32 bytes and read back without padding', () => {
  const padded = padTokenLabel('keybridge');
  assert.equal(Buffer.byteLength(padded), 32);
  assert.equal(padded, 'keybridge'.padEnd(32, ' '));
  assert.equal(tokenText('keybridge\0\0\0'), 'keybridge');
  assert.equal(tokenText(padded), 'keybridge');
  assert.throws(() => padTokenLabel('x'.repeat(33)), TypeError);
  assert.throws(() => padTokenLabel('é'.repeat(17)), TypeError);
  assert.throws(() => padTokenLabel(''), TypeError);
});

test('the backing key template asks for a sensitive, non-extractable AES-256 token key', () => {
  const ref = newBackingKeyRef();
  const byType = new Map(aesBackingKeyTemplate(ref).map((attr) => [attr.type, attr.value]));
  assert.equal(byType.get(pkcs11js.CKA_CLASS), pkcs11js.CKO_SECRET_KEY);
  assert.equal(byType.get(pkcs11js.CKA_KEY_TYPE), pkcs11js.CKK_AES);
  assert.equal(byType.get(pkcs11js.CKA_VALUE_LEN), 32);
  for (const [type, value] of [
    [pkcs11js.CKA_TOKEN, true],
    [pkcs11js.CKA_PRIVATE, true],
    [pkcs11js.CKA_SENSITIVE, true],
    [pkcs11js.CKA_EXTRACTABLE, false],
    [pkcs11js.CKA_ENCRYPT, true],
    [pkcs11js.CKA_DECRYPT, true],
    [pkcs11js.CKA_WRAP, false],
    [pkcs11js.CKA_UNWRAP, false],
  ] as const) {
    assert.equal(byType.get(type), value, `attribute 0x${type.toString(16)}`);
  }
  assert.deepEqual(byType.get(pkcs11js.CKA_ID), Buffer.from(ref.id, 'hex'));
  assert.equal(byType.get(pkcs11js.CKA_LABEL), ref.label);
  // CKA_ID and CKA_LABEL, any class: a destroy must take both halves of a key pair.
  assert.equal(findByRefTemplate(ref).length, 2);
  assert.throws(() => aesBackingKeyTemplate({ id: 'abcd', label: ref.label }), HsmError);
  assert.throws(() => aesBackingKeyTemplate({ id: ref.id, label: 'not-an-arn' }), HsmError);
});
