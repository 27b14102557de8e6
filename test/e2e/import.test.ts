// Importing key material (BYOK, issue #14) the way AWS's documentation tells users to: the AWS CLI
// fetches the wrapping public key and import token, OpenSSL wraps the material (RSAES_OAEP, or the
// two-layer RSA_AES_KEY_WRAP for private keys), the AWS CLI imports it. Then the imported keys are
// checked against OpenSSL on the same material: HMACs equal `openssl dgst -hmac`, signatures verify
// against the original public key. Deleting and re-importing the same material brings old
// ciphertexts back; different material is refused; material expires on the injected clock.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import {
  CancelKeyDeletionCommand,
  CreateKeyCommand,
  DecryptCommand,
  DeleteImportedKeyMaterialCommand,
  EnableKeyRotationCommand,
  ScheduleKeyDeletionCommand,
  DescribeKeyCommand,
  EncryptCommand,
  GetParametersForImportCommand,
  ImportKeyMaterialCommand,
  type KMSClient,
} from '@aws-sdk/client-kms';

import { awsCliMissing, awsKms, sdkClient, type CliResult } from '../support/kms-client.js';
import { auditRecordsWhere } from '../support/audit-records.js';
import { startServer, type TestServer } from '../support/server.js';

const DAY_MS = 24 * 60 * 60 * 1000;
let server: TestServer;
let kms: KMSClient;
let work: string;

before(async () => {
  server = await startServer({ settings: { deletionSweepIntervalMs: 3_600_000, rotationCheckIntervalMs: 3_600_000 } });
  kms = sdkClient(server);
  work = mkdtempSync(join(tmpdir(), 'keybridge-byok-'));
});

after(async () => {
  await server?.destroy();
  if (work) rmSync(work, { recursive: true, force: true });
});

function file(name: string): string {
  return join(work, name);
}

function openssl(...args: string[]): Buffer {
  return execFileSync('openssl', args, { cwd: work, stdio: ['ignore', 'pipe', 'pipe'] });
}

async function cli(args: string[]): Promise<any> {
  const run = await awsKms(server, args);
  assert.equal(run.code, 0, `aws kms ${args[0]}: ${run.stderr}`);
  return run.json;
}

/** The AWS CLI's error: its exit code is not 0 and stderr names the exception. */
function assertCliError(run: CliResult, name: string, message?: RegExp): void {
  assert.notEqual(run.code, 0, run.stdout);
  assert.match(run.stderr, new RegExp(`\\(${name}\\)`), run.stderr);
  if (message) assert.match(run.stderr, message);
}

/**
 * `aws kms get-parameters-for-import`, saving WrappingPublicKey.bin and ImportToken.bin as the
 * AWS guide does (base64-decoded CLI output).
 */
async function getParameters(keyId: string, algorithm: string, spec = 'RSA_2048', prefix = ''): Promise<void> {
  const out = await cli(['get-parameters-for-import', '--key-id', keyId, '--wrapping-algorithm', algorithm, '--wrapping-key-spec', spec]);
  writeFileSync(file(`${prefix}WrappingPublicKey.bin`), Buffer.from(out.PublicKey, 'base64'));
  writeFileSync(file(`${prefix}ImportToken.bin`), Buffer.from(out.ImportToken, 'base64'));
  // The AWS CLI prints timestamps as ISO 8601; the wire carries epoch seconds.
  const validTo = new Date(typeof out.ParametersValidTo === 'number' ? out.ParametersValidTo * 1000 : out.ParametersValidTo).getTime();
  assert.ok(Math.abs(validTo - (server.clock.now() + DAY_MS)) < 60_000, 'the parameters are valid for 24 hours');
}

/** RSAES_OAEP_SHA_1, as the AWS guide's `openssl pkeyutl` command (with SHA-1 for the digest). */
function wrapOaep(material: string, out = 'EncryptedKeyMaterial.bin', prefix = ''): void {
  openssl('pkeyutl', '-encrypt', '-in', material, '-out', out, '-inkey', `${prefix}WrappingPublicKey.bin`, '-keyform', 'DER', '-pubin',
    '-pkeyopt', 'rsa_padding_mode:oaep', '-pkeyopt', 'rsa_oaep_md:sha1', '-pkeyopt', 'rsa_mgf1_md:sha1');
}

/**
 * RSA_AES_KEY_WRAP_SHA_1, as the AWS guide: a fresh AES-256 key wraps the material with
 * `openssl enc -id-aes256-wrap-pad` (RFC 5649), RSAES-OAEP wraps that AES key, and the two are
 * concatenated.
 */
function wrapRsaAes(material: string): void {
  openssl('rand', '-out', 'aes-key.bin', '32');
  const aesHex = readFileSync(file('aes-key.bin')).toString('hex');
  openssl('enc', '-id-aes256-wrap-pad', '-K', aesHex, '-iv', 'A65959A6', '-in', material, '-out', 'key-material-wrapped.bin');
  wrapOaep('aes-key.bin', 'aes-key-wrapped.bin');
  writeFileSync(file('EncryptedKeyMaterial.bin'), Buffer.concat([readFileSync(file('aes-key-wrapped.bin')), readFileSync(file('key-material-wrapped.bin'))]));
}

function importArgs(keyId: string, ...extra: string[]): string[] {
  return ['import-key-material', '--key-id', keyId, '--encrypted-key-material', `fileb://${file('EncryptedKeyMaterial.bin')}`,
    '--import-token', `fileb://${file('ImportToken.bin')}`, ...extra];
}

const DOES_NOT_EXPIRE = ['--expiration-model', 'KEY_MATERIAL_DOES_NOT_EXPIRE'];

async function describe_(keyId: string): Promise<any> {
  return (await cli(['describe-key', '--key-id', keyId])).KeyMetadata;
}

/**
 * The key's CurrentKeyMaterialId, through the SDK: AWS CLI 2.9.19's model predates it (and
 * ImportKeyMaterial's KeyMaterialId output), so the CLI drops both from what it prints.
 */
async function materialOf(keyId: string): Promise<string | undefined> {
  return (await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata!.CurrentKeyMaterialId;
}

async function rejects(call: Promise<unknown>, name: string, message?: RegExp): Promise<void> {
  await assert.rejects(call, (err: Error) => {
    assert.equal(err.name, name, err.message);
    if (message) assert.match(err.message, message);
    return true;
  });
}

/** Every audit record about one key, in trail order. */
function auditRecordsOf(keyArn: string): Promise<Array<{ eventName: string; eventType: string; requestParameters: Record<string, unknown> | null }>> {
  return auditRecordsWhere(server.dataDir, '$.resources[0].ARN', keyArn);
}

describe('BYOK with the AWS CLI and OpenSSL', { skip: awsCliMissing }, () => {
  test('AES-256: PendingImport → import → Enabled; delete and re-import the same material → old ciphertexts decrypt; other material refused', async () => {
    const created = (await cli(['create-key', '--origin', 'EXTERNAL', '--description', 'byok'])).KeyMetadata;
    assert.equal(created.Origin, 'EXTERNAL');
    assert.equal(created.KeyState, 'PendingImport');
    assert.equal(created.Enabled, false);
    assert.equal(created.CurrentKeyMaterialId, undefined, 'no material yet');
    const keyId: string = created.KeyId;
    assertCliError(await awsKms(server, ['encrypt', '--key-id', keyId, '--plaintext', 'aGk=']), 'KMSInvalidStateException', /pending import/);
    assertCliError(await awsKms(server, ['enable-key', '--key-id', keyId]), 'KMSInvalidStateException', /pending import/);

    // SoftHSM2 2.6.1 unwraps only with SHA-1 OAEP: the SHA-256 algorithms are refused up front, naming why.
    const sha256 = await awsKms(server, ['get-parameters-for-import', '--key-id', keyId, '--wrapping-algorithm', 'RSAES_OAEP_SHA_256', '--wrapping-key-spec', 'RSA_2048']);
    assertCliError(sha256, 'UnsupportedOperationException', /CKM_RSA_PKCS_OAEP.*SHA-256/);
    assertCliError(
      await awsKms(server, ['get-parameters-for-import', '--key-id', keyId, '--wrapping-algorithm', 'RSAES_PKCS1_V1_5', '--wrapping-key-spec', 'RSA_2048']),
      'UnsupportedOperationException',
    );

    await getParameters(keyId, 'RSAES_OAEP_SHA_1', 'RSA_3072');
    openssl('rand', '-out', 'PlaintextKeyMaterial.bin', '32');
    wrapOaep('PlaintextKeyMaterial.bin');
    // ExpirationModel defaults to KEY_MATERIAL_EXPIRES, which needs ValidTo.
    assertCliError(await awsKms(server, importArgs(keyId)), 'ValidationException', /ValidTo/);
    await cli(importArgs(keyId, ...DOES_NOT_EXPIRE));
    const enabled = await describe_(keyId);
    const materialId = (await materialOf(keyId))!;
    assert.match(materialId, /^[0-9a-f]{64}$/);
    assert.equal(enabled.KeyState, 'Enabled');
    assert.equal(enabled.ExpirationModel, 'KEY_MATERIAL_DOES_NOT_EXPIRE');
    assert.equal(enabled.ValidTo, undefined);

    const ciphertext = (await cli(['encrypt', '--key-id', keyId, '--plaintext', Buffer.from('made before the deletion').toString('base64')])).CiphertextBlob;
    const decrypt = async () => Buffer.from((await cli(['decrypt', '--ciphertext-blob', ciphertext])).Plaintext, 'base64').toString();
    assert.equal(await decrypt(), 'made before the deletion');

    // The same material again while it is imported: the same id, nothing changes (the token is reusable for 24 h).
    await cli(importArgs(keyId, ...DOES_NOT_EXPIRE));
    assert.equal(await materialOf(keyId), materialId);

    // Delete: PendingImport, ciphertexts refused. Re-import the same material: the same id, old ciphertexts decrypt again.
    await cli(['delete-imported-key-material', '--key-id', keyId]);
    assert.equal((await describe_(keyId)).KeyState, 'PendingImport');
    assertCliError(await awsKms(server, ['decrypt', '--ciphertext-blob', ciphertext]), 'KMSInvalidStateException', /pending import/);
    await getParameters(keyId, 'RSA_AES_KEY_WRAP_SHA_1', 'RSA_4096');
    wrapRsaAes('PlaintextKeyMaterial.bin');
    await cli(importArgs(keyId, ...DOES_NOT_EXPIRE));
    assert.equal((await describe_(keyId)).KeyState, 'Enabled');
    assert.equal(await materialOf(keyId), materialId);
    assert.equal(await decrypt(), 'made before the deletion');

    // Different material: IncorrectKeyMaterialException, and the key keeps its own.
    openssl('rand', '-out', 'OtherKeyMaterial.bin', '32');
    await getParameters(keyId, 'RSAES_OAEP_SHA_1');
    wrapOaep('OtherKeyMaterial.bin');
    assertCliError(await awsKms(server, importArgs(keyId, ...DOES_NOT_EXPIRE)), 'IncorrectKeyMaterialException');
    assert.equal(await materialOf(keyId), materialId);
    assert.equal(await decrypt(), 'made before the deletion');

    // The wrong length for an AES-256 key.
    openssl('rand', '-out', 'Short.bin', '16');
    wrapOaep('Short.bin');
    assertCliError(await awsKms(server, importArgs(keyId, ...DOES_NOT_EXPIRE)), 'IncorrectKeyMaterialException');

    // Tampered material, a tampered token, another key's token, an expired token.
    wrapOaep('PlaintextKeyMaterial.bin');
    const good = readFileSync(file('EncryptedKeyMaterial.bin'));
    const tampered = Buffer.from(good);
    tampered[10]! ^= 1;
    writeFileSync(file('EncryptedKeyMaterial.bin'), tampered);
    assertCliError(await awsKms(server, importArgs(keyId, ...DOES_NOT_EXPIRE)), 'InvalidCiphertextException');
    writeFileSync(file('EncryptedKeyMaterial.bin'), good);
    const token = readFileSync(file('ImportToken.bin'));
    const badToken = Buffer.from(token);
    badToken[badToken.length - 3]! ^= 1;
    writeFileSync(file('ImportToken.bin'), badToken);
    assertCliError(await awsKms(server, importArgs(keyId, ...DOES_NOT_EXPIRE)), 'InvalidImportTokenException');
    const otherKey = (await cli(['create-key', '--origin', 'EXTERNAL'])).KeyMetadata.KeyId;
    writeFileSync(file('ImportToken.bin'), token);
    assertCliError(await awsKms(server, importArgs(otherKey, ...DOES_NOT_EXPIRE)), 'InvalidImportTokenException');
    server.clock.advance(DAY_MS + 60_000);
    assertCliError(await awsKms(server, importArgs(keyId, ...DOES_NOT_EXPIRE)), 'ExpiredImportTokenException');
    // The expiry job destroys the wrapping key pairs whose day is over (three were issued above).
    assert.equal((await server.keybridge.importExpiry.expireOnce()).wrappingKeysDestroyed, 3);

    // Keys that are not EXTERNAL take no material; the trail keeps no material, not even wrapped.
    const generated = (await cli(['create-key'])).KeyMetadata.KeyId;
    assertCliError(
      await awsKms(server, ['get-parameters-for-import', '--key-id', generated, '--wrapping-algorithm', 'RSAES_OAEP_SHA_1', '--wrapping-key-spec', 'RSA_2048']),
      'UnsupportedOperationException',
      /origin is AWS_KMS/,
    );
    const imports = (await auditRecordsOf(enabled.Arn)).filter((r) => r.eventName === 'ImportKeyMaterial' && r.eventType === 'AwsApiCall');
    assert.ok(imports.length >= 3);
    for (const record of imports) {
      assert.equal(record.requestParameters?.['encryptedKeyMaterial'], undefined);
      assert.equal(record.requestParameters?.['importToken'], undefined);
    }
  });

  test('expiry: KEY_MATERIAL_EXPIRES with ValidTo → the key becomes PendingImport when the clock passes it, recorded as DeleteExpiredKeyMaterial', async () => {
    const keyId = (await cli(['create-key', '--origin', 'EXTERNAL'])).KeyMetadata.KeyId;
    await getParameters(keyId, 'RSAES_OAEP_SHA_1');
    openssl('rand', '-out', 'Expiring.bin', '32');
    wrapOaep('Expiring.bin');
    const validTo = Math.floor((server.clock.now() + 2 * DAY_MS) / 1000);
    assertCliError(await awsKms(server, importArgs(keyId, '--valid-to', String(Math.floor((server.clock.now() + 400 * DAY_MS) / 1000)))), 'ValidationException', /365 days/);
    await cli(importArgs(keyId, '--expiration-model', 'KEY_MATERIAL_EXPIRES', '--valid-to', String(validTo)));
    const metadata = await describe_(keyId);
    assert.equal(metadata.ExpirationModel, 'KEY_MATERIAL_EXPIRES');
    assert.equal(new Date(metadata.ValidTo).getTime(), validTo * 1000);
    const ciphertext = (await cli(['encrypt', '--key-id', keyId, '--plaintext', 'aGk='])).CiphertextBlob;

    server.clock.advance(DAY_MS);
    assert.deepEqual((await server.keybridge.importExpiry.expireOnce()).keyIds, []);
    server.clock.advance(DAY_MS + 60_000);
    assert.deepEqual((await server.keybridge.importExpiry.expireOnce()).keyIds, [keyId]);
    const expired = await describe_(keyId);
    assert.equal(expired.KeyState, 'PendingImport');
    assert.equal(expired.ValidTo, undefined);
    assertCliError(await awsKms(server, ['decrypt', '--ciphertext-blob', ciphertext]), 'KMSInvalidStateException', /pending import/);
    const events = (await auditRecordsOf(metadata.Arn)).filter((r) => r.eventName === 'DeleteExpiredKeyMaterial');
    assert.equal(events.length, 1);
    assert.equal(events[0]!.eventType, 'AwsServiceEvent');

    // The same material imported again revives the key and its ciphertexts.
    await getParameters(keyId, 'RSAES_OAEP_SHA_1');
    wrapOaep('Expiring.bin');
    await cli(importArgs(keyId, ...DOES_NOT_EXPIRE));
    assert.equal(Buffer.from((await cli(['decrypt', '--ciphertext-blob', ciphertext])).Plaintext, 'base64').toString(), 'hi');
  });

  test('HMAC_256: GenerateMac with the imported key equals openssl dgst -hmac on the same material', async () => {
    const keyId = (await cli(['create-key', '--origin', 'EXTERNAL', '--key-spec', 'HMAC_256', '--key-usage', 'GENERATE_VERIFY_MAC'])).KeyMetadata.KeyId;
    await getParameters(keyId, 'RSAES_OAEP_SHA_1');
    openssl('rand', '-out', 'HmacKey.bin', '64');
    wrapOaep('HmacKey.bin');
    await cli(importArgs(keyId, ...DOES_NOT_EXPIRE));
    writeFileSync(file('message.txt'), 'the message to authenticate');
    const mac = Buffer.from((await cli(['generate-mac', '--key-id', keyId, '--mac-algorithm', 'HMAC_SHA_256', '--message', `fileb://${file('message.txt')}`])).Mac, 'base64');
    const hexKey = readFileSync(file('HmacKey.bin')).toString('hex');
    const expected = openssl('dgst', '-sha256', '-mac', 'HMAC', '-macopt', `hexkey:${hexKey}`, '-binary', 'message.txt');
    assert.deepEqual(mac, expected);

    // ImportType and KeyMaterialId are for symmetric encryption keys only; too short an HMAC key is refused.
    const hmacShort = (await cli(['create-key', '--origin', 'EXTERNAL', '--key-spec', 'HMAC_512', '--key-usage', 'GENERATE_VERIFY_MAC'])).KeyMetadata.KeyId;
    await getParameters(hmacShort, 'RSAES_OAEP_SHA_1');
    openssl('rand', '-out', 'ShortHmac.bin', '32');
    wrapOaep('ShortHmac.bin');
    assertCliError(await awsKms(server, importArgs(hmacShort, ...DOES_NOT_EXPIRE)), 'IncorrectKeyMaterialException');
  });

  for (const kind of [
    { spec: 'RSA_2048', genpkey: ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'], algorithm: 'RSASSA_PKCS1_V1_5_SHA_256' },
    { spec: 'ECC_NIST_P256', genpkey: ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'], algorithm: 'ECDSA_SHA_256' },
  ]) {
    test(`${kind.spec} private key (PKCS#8, RSA_AES_KEY_WRAP_SHA_1): the public key is derived in the HSM, signatures verify with OpenSSL`, async () => {
      const keyId = (await cli(['create-key', '--origin', 'EXTERNAL', '--key-spec', kind.spec, '--key-usage', 'SIGN_VERIFY'])).KeyMetadata.KeyId;
      assert.equal((await describe_(keyId)).KeyState, 'PendingImport');
      if (kind.spec.startsWith('RSA')) {
        const oaep = await awsKms(server, ['get-parameters-for-import', '--key-id', keyId, '--wrapping-algorithm', 'RSAES_OAEP_SHA_1', '--wrapping-key-spec', 'RSA_2048']);
        assertCliError(oaep, 'ValidationException', /RSA_AES/);
      }
      openssl('genpkey', ...kind.genpkey, '-out', 'private.pem');
      openssl('pkcs8', '-topk8', '-inform', 'PEM', '-outform', 'DER', '-in', 'private.pem', '-out', 'PrivateKey.der', '-nocrypt');
      openssl('pkey', '-in', 'private.pem', '-pubout', '-outform', 'DER', '-out', 'public.der');
      openssl('pkey', '-in', 'private.pem', '-pubout', '-out', 'public.pem');
      await getParameters(keyId, 'RSA_AES_KEY_WRAP_SHA_1', 'RSA_3072');
      wrapRsaAes('PrivateKey.der');
      await cli(importArgs(keyId, ...DOES_NOT_EXPIRE));
      assert.equal((await describe_(keyId)).KeyState, 'Enabled');

      const publicKey = Buffer.from((await cli(['get-public-key', '--key-id', keyId])).PublicKey, 'base64');
      assert.deepEqual(publicKey, readFileSync(file('public.der')), 'the public key derived in the HSM is the original');
      writeFileSync(file('message.txt'), `signed by the imported ${kind.spec} key`);
      const signature = (await cli(['sign', '--key-id', keyId, '--message', `fileb://${file('message.txt')}`, '--message-type', 'RAW', '--signing-algorithm', kind.algorithm])).Signature;
      writeFileSync(file('signature.bin'), Buffer.from(signature, 'base64'));
      const verified = openssl('dgst', '-sha256', '-verify', 'public.pem', '-signature', 'signature.bin', 'message.txt').toString();
      assert.match(verified, /Verified OK/);

      // Another private key of the same spec is not this key's material.
      openssl('genpkey', ...kind.genpkey, '-out', 'other.pem');
      openssl('pkcs8', '-topk8', '-inform', 'PEM', '-outform', 'DER', '-in', 'other.pem', '-out', 'PrivateKey.der', '-nocrypt');
      await getParameters(keyId, 'RSA_AES_KEY_WRAP_SHA_1', 'RSA_3072');
      wrapRsaAes('PrivateKey.der');
      assertCliError(await awsKms(server, importArgs(keyId, ...DOES_NOT_EXPIRE)), 'IncorrectKeyMaterialException');
    });
  }
});

describe('BYOK through the AWS SDK', () => {
  test('ImportType, KeyMaterialId and the key-state rules', async () => {
    const keyId = (await kms.send(new CreateKeyCommand({ Origin: 'EXTERNAL' }))).KeyMetadata!.KeyId!;
    const params = await kms.send(new GetParametersForImportCommand({ KeyId: keyId, WrappingAlgorithm: 'RSAES_OAEP_SHA_1', WrappingKeySpec: 'RSA_2048' }));
    writeFileSync(file('sdk-WrappingPublicKey.bin'), params.PublicKey!);
    openssl('rand', '-out', 'sdk-material.bin', '32');
    wrapOaep('sdk-material.bin', 'sdk-encrypted.bin', 'sdk-');
    const importWith = (extra: Record<string, unknown>) =>
      kms.send(new ImportKeyMaterialCommand({
        KeyId: keyId,
        ImportToken: params.ImportToken!,
        EncryptedKeyMaterial: readFileSync(file('sdk-encrypted.bin')),
        ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE',
        ...extra,
      }));
    await rejects(importWith({ ImportType: 'EXISTING_KEY_MATERIAL' }), 'ValidationException', /no key material yet/);
    await rejects(importWith({ ImportType: 'NEW_KEY_MATERIAL', KeyMaterialId: 'a'.repeat(64) }), 'ValidationException', /NEW_KEY_MATERIAL/);
    const first = await importWith({ KeyMaterialDescription: 'from the vault 2026' });
    assert.match(first.KeyMaterialId!, /^[0-9a-f]{64}$/);
    await rejects(importWith({ ImportType: 'NEW_KEY_MATERIAL' }), 'UnsupportedOperationException', /one imported material/);
    await rejects(importWith({ KeyMaterialId: 'b'.repeat(64) }), 'IncorrectKeyMaterialException');
    assert.equal((await importWith({ KeyMaterialId: first.KeyMaterialId! })).KeyMaterialId, first.KeyMaterialId);

    const blob = (await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('x') }))).CiphertextBlob!;
    assert.equal((await kms.send(new DecryptCommand({ CiphertextBlob: blob }))).KeyMaterialId, first.KeyMaterialId);
    const metadata = (await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata!;
    assert.equal(metadata.CurrentKeyMaterialId, first.KeyMaterialId);

    // A key waiting for its material: deletion can be scheduled, and cancelling it leaves it waiting.
    const waiting = (await kms.send(new CreateKeyCommand({ Origin: 'EXTERNAL' }))).KeyMetadata!.KeyId!;
    await kms.send(new ScheduleKeyDeletionCommand({ KeyId: waiting, PendingWindowInDays: 7 }));
    await kms.send(new CancelKeyDeletionCommand({ KeyId: waiting }));
    assert.equal((await kms.send(new DescribeKeyCommand({ KeyId: waiting }))).KeyMetadata!.KeyState, 'PendingImport');
    await rejects(kms.send(new DeleteImportedKeyMaterialCommand({ KeyId: keyId, KeyMaterialId: 'c'.repeat(64) })), 'NotFoundException');
    // Rotation is for generated material here (keybridge keeps one imported material per key).
    await rejects(kms.send(new EnableKeyRotationCommand({ KeyId: keyId })), 'UnsupportedOperationException', /EXTERNAL/);
  });
});
