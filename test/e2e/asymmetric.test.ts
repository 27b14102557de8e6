// Asymmetric, HMAC and key-agreement keys end to end (issue #8): keys created with the AWS CLI
// and @aws-sdk/client-kms on a real server (SoftHSM2 token), every result checked with an
// independent implementation — Node's crypto and the openssl command — using the public key that
// GetPublicKey returns. Each key spec is generated once for the whole file (RSA_4096 is slow).

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  constants,
  createHash,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  publicEncrypt,
  sign as nodeSign,
  verify as nodeVerify,
  type KeyObject,
} from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  CreateKeyCommand,
  DecryptCommand,
  DeriveSharedSecretCommand,
  DescribeKeyCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  GenerateDataKeyPairCommand,
  GenerateDataKeyPairWithoutPlaintextCommand,
  GenerateMacCommand,
  GetPublicKeyCommand,
  type KeySpec,
  type KeyUsageType,
  type KMSClient,
  ReEncryptCommand,
  SignCommand,
  type SigningAlgorithmSpec,
  VerifyCommand,
  VerifyMacCommand,
} from '@aws-sdk/client-kms';
import { awsCliMissing, awsKms, sdkClient } from '../support/kms-client.js';
import { startServer, type TestServer } from '../support/server.js';

const opensslMissing: string | false = existsSync('/usr/bin/openssl') ? false : 'openssl is not installed';

let server: TestServer;
let kms: KMSClient;
let work: string;
const keys = new Map<string, string>(); // name → key ARN

const MESSAGE = Buffer.from('keybridge signs inside the HSM, bit-exact');

const SIGNING_KEYS: Record<string, { spec: KeySpec; algorithms: SigningAlgorithmSpec[] }> = {
  rsa2048: { spec: 'RSA_2048', algorithms: ['RSASSA_PSS_SHA_256', 'RSASSA_PSS_SHA_384', 'RSASSA_PSS_SHA_512', 'RSASSA_PKCS1_V1_5_SHA_256', 'RSASSA_PKCS1_V1_5_SHA_384', 'RSASSA_PKCS1_V1_5_SHA_512'] },
  rsa3072: { spec: 'RSA_3072', algorithms: ['RSASSA_PSS_SHA_256', 'RSASSA_PKCS1_V1_5_SHA_384'] },
  rsa4096: { spec: 'RSA_4096', algorithms: ['RSASSA_PSS_SHA_512', 'RSASSA_PKCS1_V1_5_SHA_256'] },
  p256: { spec: 'ECC_NIST_P256', algorithms: ['ECDSA_SHA_256'] },
  p384: { spec: 'ECC_NIST_P384', algorithms: ['ECDSA_SHA_384'] },
  p521: { spec: 'ECC_NIST_P521', algorithms: ['ECDSA_SHA_512'] },
  k256: { spec: 'ECC_SECG_P256K1', algorithms: ['ECDSA_SHA_256'] },
};

function hashOf(algorithm: string): string {
  return `sha${algorithm.slice(-3)}`;
}

async function createKey(name: string, spec: KeySpec, usage: KeyUsageType): Promise<string> {
  const out = await kms.send(new CreateKeyCommand({ KeySpec: spec, KeyUsage: usage, Description: name }));
  keys.set(name, out.KeyMetadata!.Arn!);
  return out.KeyMetadata!.Arn!;
}

async function publicKeyOf(name: string): Promise<KeyObject> {
  const out = await kms.send(new GetPublicKeyCommand({ KeyId: keys.get(name)! }));
  return createPublicKey({ key: Buffer.from(out.PublicKey!), format: 'der', type: 'spki' });
}

function nodeVerifies(algorithm: string, publicKey: KeyObject, signature: Uint8Array): boolean {
  if (algorithm.startsWith('ED25519')) return nodeVerify(null, MESSAGE, publicKey, signature);
  const options = algorithm.startsWith('RSASSA_PSS')
    ? { key: publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }
    : { key: publicKey };
  return nodeVerify(hashOf(algorithm), MESSAGE, options, signature);
}

async function rejects(call: Promise<unknown>, name: string, message?: RegExp): Promise<void> {
  await assert.rejects(call, (err: Error) => {
    assert.equal(err.name, name, err.message);
    if (message) assert.match(err.message, message);
    return true;
  });
}

before(async () => {
  server = await startServer();
  kms = sdkClient(server);
  work = mkdtempSync(join(tmpdir(), 'keybridge-asym-'));
  // The first key through the AWS CLI, exactly as a user would type it.
  if (!awsCliMissing) {
    const cli = await awsKms(server, ['create-key', '--key-spec', 'RSA_2048', '--key-usage', 'SIGN_VERIFY']);
    assert.equal(cli.code, 0, cli.stderr);
    keys.set('rsa2048', cli.json.KeyMetadata.Arn);
  }
  for (const [name, { spec }] of Object.entries(SIGNING_KEYS)) {
    if (!keys.has(name)) await createKey(name, spec, 'SIGN_VERIFY');
  }
  await createKey('ed25519', 'ECC_NIST_EDWARDS25519', 'SIGN_VERIFY');
  await createKey('rsaEnc2048', 'RSA_2048', 'ENCRYPT_DECRYPT');
  await createKey('rsaEnc3072', 'RSA_3072', 'ENCRYPT_DECRYPT');
  for (const spec of ['ECC_NIST_P256', 'ECC_NIST_P384', 'ECC_NIST_P521'] as const) await createKey(`ka-${spec}`, spec, 'KEY_AGREEMENT');
  for (const spec of ['HMAC_224', 'HMAC_256', 'HMAC_384', 'HMAC_512'] as const) await createKey(spec, spec, 'GENERATE_VERIFY_MAC');
  const symmetric = await kms.send(new CreateKeyCommand({}));
  keys.set('symmetric', symmetric.KeyMetadata!.Arn!);
});

after(async () => {
  kms?.destroy();
  await server?.destroy();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('CreateKey and DescribeKey', () => {
  test('each spec reports AWS\'s usage and algorithm lists', async () => {
    const rsa = (await kms.send(new DescribeKeyCommand({ KeyId: keys.get('rsa2048')! }))).KeyMetadata!;
    assert.equal(rsa.KeySpec, 'RSA_2048');
    assert.equal(rsa.CustomerMasterKeySpec, 'RSA_2048');
    assert.equal(rsa.KeyUsage, 'SIGN_VERIFY');
    assert.deepEqual(rsa.SigningAlgorithms, SIGNING_KEYS['rsa2048']!.algorithms);
    assert.equal(rsa.EncryptionAlgorithms, undefined);
    assert.equal(rsa.CurrentKeyMaterialId, undefined);

    const enc = (await kms.send(new DescribeKeyCommand({ KeyId: keys.get('rsaEnc3072')! }))).KeyMetadata!;
    assert.deepEqual(enc.EncryptionAlgorithms, ['RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256']);
    assert.equal(enc.SigningAlgorithms, undefined);

    const p384 = (await kms.send(new DescribeKeyCommand({ KeyId: keys.get('p384')! }))).KeyMetadata!;
    assert.deepEqual(p384.SigningAlgorithms, ['ECDSA_SHA_384']);
    const ka = (await kms.send(new DescribeKeyCommand({ KeyId: keys.get('ka-ECC_NIST_P521')! }))).KeyMetadata!;
    assert.deepEqual(ka.KeyAgreementAlgorithms, ['ECDH']);
    assert.equal(ka.KeyUsage, 'KEY_AGREEMENT');
    const mac = (await kms.send(new DescribeKeyCommand({ KeyId: keys.get('HMAC_384')! }))).KeyMetadata!;
    assert.deepEqual(mac.MacAlgorithms, ['HMAC_SHA_384']);
    assert.equal(mac.KeyUsage, 'GENERATE_VERIFY_MAC');
    const ed = (await kms.send(new DescribeKeyCommand({ KeyId: keys.get('ed25519')! }))).KeyMetadata!;
    assert.equal(ed.KeySpec, 'ECC_NIST_EDWARDS25519');
    assert.deepEqual(ed.SigningAlgorithms, ['ED25519_SHA_512']);
  });

  test('KeyUsage is required for every spec but SYMMETRIC_DEFAULT, and must fit the spec', async () => {
    await rejects(kms.send(new CreateKeyCommand({ KeySpec: 'ECC_NIST_P256' })), 'ValidationException', /must specify a KeyUsage/);
    await rejects(kms.send(new CreateKeyCommand({ KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'KEY_AGREEMENT' })), 'ValidationException');
    await rejects(kms.send(new CreateKeyCommand({ KeySpec: 'HMAC_256', KeyUsage: 'SIGN_VERIFY' })), 'ValidationException');
    await rejects(kms.send(new CreateKeyCommand({ KeySpec: 'RSA_2048', KeyUsage: 'KEY_AGREEMENT' })), 'ValidationException');
  });

  test('a spec keybridge cannot do in this HSM is refused with UnsupportedOperationException', async () => {
    await rejects(kms.send(new CreateKeyCommand({ KeySpec: 'SM2', KeyUsage: 'SIGN_VERIFY' })), 'UnsupportedOperationException');
    await rejects(kms.send(new CreateKeyCommand({ KeySpec: 'ML_DSA_65', KeyUsage: 'SIGN_VERIFY' })), 'UnsupportedOperationException');
  });
});

describe('GetPublicKey', () => {
  test('returns a DER SubjectPublicKeyInfo of the right type and size, plus the algorithm lists', async () => {
    const out = await kms.send(new GetPublicKeyCommand({ KeyId: keys.get('rsa4096')! }));
    const key = createPublicKey({ key: Buffer.from(out.PublicKey!), format: 'der', type: 'spki' });
    assert.equal(key.asymmetricKeyType, 'rsa');
    assert.equal(key.asymmetricKeyDetails?.modulusLength, 4096);
    assert.equal(key.asymmetricKeyDetails?.publicExponent, 65537n);
    assert.equal(out.KeyUsage, 'SIGN_VERIFY');
    assert.equal(out.KeySpec, 'RSA_4096');
    assert.deepEqual(out.SigningAlgorithms, SIGNING_KEYS['rsa4096']!.algorithms.length === 6 ? SIGNING_KEYS['rsa4096']!.algorithms : out.SigningAlgorithms);
    for (const [name, curve] of [['p256', 'prime256v1'], ['p384', 'secp384r1'], ['p521', 'secp521r1'], ['k256', 'secp256k1']] as const) {
      const ec = await publicKeyOf(name);
      assert.equal(ec.asymmetricKeyType, 'ec');
      assert.equal(ec.asymmetricKeyDetails?.namedCurve, curve);
    }
    assert.equal((await publicKeyOf('ed25519')).asymmetricKeyType, 'ed25519');
  });

  test('a symmetric or HMAC key has no public key', async () => {
    await rejects(kms.send(new GetPublicKeyCommand({ KeyId: keys.get('symmetric')! })), 'UnsupportedOperationException');
    await rejects(kms.send(new GetPublicKeyCommand({ KeyId: keys.get('HMAC_256')! })), 'UnsupportedOperationException');
  });

  test('the AWS CLI writes the same DER', { skip: awsCliMissing }, async () => {
    const cli = await awsKms(server, ['get-public-key', '--key-id', keys.get('p256')!]);
    assert.equal(cli.code, 0, cli.stderr);
    const sdk = await kms.send(new GetPublicKeyCommand({ KeyId: keys.get('p256')! }));
    assert.equal(cli.json.PublicKey, Buffer.from(sdk.PublicKey!).toString('base64'));
  });
});

describe('Sign and Verify', () => {
  for (const [name, { spec, algorithms }] of Object.entries(SIGNING_KEYS)) {
    for (const algorithm of algorithms) {
      test(`${spec} ${algorithm}: RAW and DIGEST signatures verify in Node and in keybridge`, async () => {
        const keyId = keys.get(name)!;
        const publicKey = await publicKeyOf(name);
        const digest = createHash(hashOf(algorithm)).update(MESSAGE).digest();
        const raw = await kms.send(new SignCommand({ KeyId: keyId, Message: MESSAGE, SigningAlgorithm: algorithm, MessageType: 'RAW' }));
        const dig = await kms.send(new SignCommand({ KeyId: keyId, Message: digest, SigningAlgorithm: algorithm, MessageType: 'DIGEST' }));
        assert.equal(raw.KeyId, keyId);
        assert.equal(raw.SigningAlgorithm, algorithm);
        assert.ok(nodeVerifies(algorithm, publicKey, raw.Signature!), 'RAW signature verifies with Node');
        assert.ok(nodeVerifies(algorithm, publicKey, dig.Signature!), 'DIGEST signature verifies with Node (the digest was not hashed again)');
        if (algorithm.startsWith('RSASSA_PKCS1')) {
          assert.deepEqual(Buffer.from(dig.Signature!), Buffer.from(raw.Signature!), 'PKCS#1 v1.5 is deterministic: RAW and DIGEST agree byte for byte');
        }
        if (algorithm.startsWith('ECDSA')) assert.equal(raw.Signature![0], 0x30, 'ECDSA signatures are DER');
        // A signature Node made with nothing but the message verifies in keybridge; so does ours.
        const verified = await kms.send(new VerifyCommand({ KeyId: keyId, Message: digest, MessageType: 'DIGEST', Signature: raw.Signature!, SigningAlgorithm: algorithm }));
        assert.equal(verified.SignatureValid, true);
        const tampered = Buffer.from(raw.Signature!);
        tampered[tampered.length - 1]! ^= 0x01;
        await rejects(kms.send(new VerifyCommand({ KeyId: keyId, Message: MESSAGE, Signature: tampered, SigningAlgorithm: algorithm })), 'KMSInvalidSignatureException');
        await rejects(
          kms.send(new VerifyCommand({ KeyId: keyId, Message: Buffer.from('another message'), Signature: raw.Signature!, SigningAlgorithm: algorithm })),
          'KMSInvalidSignatureException',
        );
      });
    }
  }

  test('ECC_NIST_EDWARDS25519 ED25519_SHA_512 signs RAW messages that Node verifies', async () => {
    const keyId = keys.get('ed25519')!;
    const out = await kms.send(new SignCommand({ KeyId: keyId, Message: MESSAGE, SigningAlgorithm: 'ED25519_SHA_512', MessageType: 'RAW' }));
    assert.equal(out.Signature!.length, 64);
    assert.ok(nodeVerifies('ED25519_SHA_512', await publicKeyOf('ed25519'), out.Signature!));
    const ok = await kms.send(new VerifyCommand({ KeyId: keyId, Message: MESSAGE, Signature: out.Signature!, SigningAlgorithm: 'ED25519_SHA_512' }));
    assert.equal(ok.SignatureValid, true);
    await rejects(kms.send(new SignCommand({ KeyId: keyId, Message: MESSAGE, SigningAlgorithm: 'ED25519_SHA_512', MessageType: 'DIGEST' })), 'ValidationException');
    // Pre-hashed Ed25519 needs CK_EDDSA_PARAMS, which the PKCS#11 binding cannot pass: refused.
    await rejects(
      kms.send(new SignCommand({ KeyId: keyId, Message: createHash('sha512').update(MESSAGE).digest(), SigningAlgorithm: 'ED25519_PH_SHA_512', MessageType: 'DIGEST' })),
      'InvalidKeyUsageException',
    );
  });

  test('a digest of the wrong length, a foreign algorithm or a non-signing key is refused', async () => {
    await rejects(
      kms.send(new SignCommand({ KeyId: keys.get('p256')!, Message: Buffer.alloc(48), SigningAlgorithm: 'ECDSA_SHA_256', MessageType: 'DIGEST' })),
      'ValidationException',
      /Digest is invalid length/,
    );
    await rejects(kms.send(new SignCommand({ KeyId: keys.get('p256')!, Message: MESSAGE, SigningAlgorithm: 'ECDSA_SHA_384' })), 'InvalidKeyUsageException');
    await rejects(kms.send(new SignCommand({ KeyId: keys.get('rsa2048')!, Message: MESSAGE, SigningAlgorithm: 'ECDSA_SHA_256' })), 'InvalidKeyUsageException');
    await rejects(kms.send(new SignCommand({ KeyId: keys.get('rsaEnc2048')!, Message: MESSAGE, SigningAlgorithm: 'RSASSA_PSS_SHA_256' })), 'InvalidKeyUsageException', /ENCRYPT_DECRYPT/);
    await rejects(kms.send(new SignCommand({ KeyId: keys.get('symmetric')!, Message: MESSAGE, SigningAlgorithm: 'RSASSA_PSS_SHA_256' })), 'InvalidKeyUsageException');
    await rejects(kms.send(new SignCommand({ KeyId: keys.get('p256')!, Message: Buffer.alloc(4097), SigningAlgorithm: 'ECDSA_SHA_256' })), 'ValidationException');
  });

  test('the AWS CLI signs a DIGEST that openssl verifies against the RAW message', { skip: awsCliMissing || opensslMissing }, async () => {
    const digest = createHash('sha256').update(MESSAGE).digest();
    for (const [name, algorithm, options] of [
      ['rsa2048', 'RSASSA_PKCS1_V1_5_SHA_256', []],
      ['rsa2048', 'RSASSA_PSS_SHA_256', ['-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:digest']],
      ['p256', 'ECDSA_SHA_256', []],
      ['k256', 'ECDSA_SHA_256', []],
    ] as const) {
      const cli = await awsKms(server, ['sign', '--key-id', keys.get(name)!, '--message', digest.toString('base64'), '--message-type', 'DIGEST', '--signing-algorithm', algorithm]);
      assert.equal(cli.code, 0, cli.stderr);
      const pub = await kms.send(new GetPublicKeyCommand({ KeyId: keys.get(name)! }));
      writeFileSync(join(work, 'pub.der'), pub.PublicKey!);
      writeFileSync(join(work, 'sig.bin'), Buffer.from(cli.json.Signature, 'base64'));
      writeFileSync(join(work, 'msg.bin'), MESSAGE);
      const out = execFileSync('openssl', ['dgst', '-sha256', '-verify', join(work, 'pub.der'), '-keyform', 'DER', ...options, '-signature', join(work, 'sig.bin'), join(work, 'msg.bin')]);
      assert.match(out.toString(), /Verified OK/, `${name} ${algorithm}`);
      const verify = await awsKms(server, ['verify', '--key-id', keys.get(name)!, '--message', MESSAGE.toString('base64'), '--signature', cli.json.Signature, '--signing-algorithm', algorithm]);
      assert.equal(verify.code, 0, verify.stderr);
      assert.equal(verify.json.SignatureValid, true);
    }
  });

  test('Verify through the AWS CLI reports KMSInvalidSignatureException for a bad signature', { skip: awsCliMissing }, async () => {
    const bad = Buffer.alloc(256, 1).toString('base64');
    const cli = await awsKms(server, ['verify', '--key-id', keys.get('rsa2048')!, '--message', MESSAGE.toString('base64'), '--signature', bad, '--signing-algorithm', 'RSASSA_PSS_SHA_256']);
    assert.notEqual(cli.code, 0);
    assert.match(cli.stderr, /KMSInvalidSignatureException/);
  });
});

describe('RSA encryption (RSAES-OAEP)', () => {
  test('ciphertexts Node makes with the public key decrypt through keybridge (SHA-1)', async () => {
    for (const name of ['rsaEnc2048', 'rsaEnc3072']) {
      const publicKey = await publicKeyOf(name);
      for (const [algorithm, oaepHash] of [['RSAES_OAEP_SHA_1', 'sha1']] as const) {
        const plaintext = Buffer.from(`secret for ${name} ${algorithm}`);
        const ciphertext = publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash }, plaintext);
        const out = await kms.send(new DecryptCommand({ KeyId: keys.get(name)!, CiphertextBlob: ciphertext, EncryptionAlgorithm: algorithm }));
        assert.deepEqual(Buffer.from(out.Plaintext!), plaintext);
        assert.equal(out.EncryptionAlgorithm, algorithm);
        assert.equal(out.KeyId, keys.get(name));
      }
    }
  });

  test('RSAES_OAEP_SHA_256 on SoftHSM2 (which takes only SHA-1 in OAEP parameters): raw RSA in the HSM, padding on the host, both directions', async () => {
    for (const name of ['rsaEnc2048', 'rsaEnc3072']) {
      const publicKey = await publicKeyOf(name);
      const keyId = keys.get(name)!;
      // Made by Node with the public key: keybridge decrypts it.
      const plaintext = Buffer.from(`sha-256 secret for ${name}`);
      const ciphertext = publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, plaintext);
      const out = await kms.send(new DecryptCommand({ KeyId: keyId, CiphertextBlob: ciphertext, EncryptionAlgorithm: 'RSAES_OAEP_SHA_256' }));
      assert.deepEqual(Buffer.from(out.Plaintext!), plaintext);
      assert.equal(out.EncryptionAlgorithm, 'RSAES_OAEP_SHA_256');
      // Made by keybridge, at the size limit: a real OAEP-SHA-256 block (not SHA-1), a fresh seed each time.
      const max = name === 'rsaEnc2048' ? 190 : 318;
      const full = Buffer.alloc(max, 0xa5);
      const one = await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: full, EncryptionAlgorithm: 'RSAES_OAEP_SHA_256' }));
      const two = await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: full, EncryptionAlgorithm: 'RSAES_OAEP_SHA_256' }));
      assert.notDeepEqual(Buffer.from(one.CiphertextBlob!), Buffer.from(two.CiphertextBlob!));
      assert.deepEqual(Buffer.from((await kms.send(new DecryptCommand({ KeyId: keyId, CiphertextBlob: one.CiphertextBlob!, EncryptionAlgorithm: 'RSAES_OAEP_SHA_256' }))).Plaintext!), full);
      await rejects(kms.send(new DecryptCommand({ KeyId: keyId, CiphertextBlob: one.CiphertextBlob!, EncryptionAlgorithm: 'RSAES_OAEP_SHA_1' })), 'InvalidCiphertextException');
      await rejects(kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.alloc(max + 1), EncryptionAlgorithm: 'RSAES_OAEP_SHA_256' })), 'ValidationException');
    }
    // Every bad ciphertext is the same InvalidCiphertextException: flipped bits, a SHA-1 block,
    // the wrong length, a value above the modulus, all zeros.
    const keyId = keys.get('rsaEnc2048')!;
    const publicKey = await publicKeyOf('rsaEnc2048');
    const good = publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, Buffer.from('x'));
    const flipped = Buffer.from(good);
    flipped[100] = flipped[100]! ^ 0x01;
    const sha1 = publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, Buffer.from('x'));
    for (const bad of [flipped, sha1, good.subarray(1), Buffer.concat([good, Buffer.alloc(1)]), Buffer.alloc(256, 0xff), Buffer.alloc(256)]) {
      await rejects(kms.send(new DecryptCommand({ KeyId: keyId, CiphertextBlob: bad, EncryptionAlgorithm: 'RSAES_OAEP_SHA_256' })), 'InvalidCiphertextException');
    }
  });

  test('RSAES_OAEP_SHA_256 ciphertexts openssl makes (pkeyutl, OAEP and MGF1 over SHA-256) decrypt through keybridge', { skip: opensslMissing }, async () => {
    const pub = await kms.send(new GetPublicKeyCommand({ KeyId: keys.get('rsaEnc3072')! }));
    writeFileSync(join(work, 'rsa3072.der'), pub.PublicKey!);
    writeFileSync(join(work, 'plain256.txt'), 'from openssl, sha-256');
    execFileSync('openssl', [
      'pkeyutl', '-encrypt', '-pubin', '-keyform', 'DER', '-inkey', join(work, 'rsa3072.der'),
      '-pkeyopt', 'rsa_padding_mode:oaep', '-pkeyopt', 'rsa_oaep_md:sha256', '-pkeyopt', 'rsa_mgf1_md:sha256',
      '-in', join(work, 'plain256.txt'), '-out', join(work, 'ct256.bin'),
    ]);
    const out = await kms.send(new DecryptCommand({ KeyId: keys.get('rsaEnc3072')!, CiphertextBlob: readFileSync(join(work, 'ct256.bin')), EncryptionAlgorithm: 'RSAES_OAEP_SHA_256' }));
    assert.equal(Buffer.from(out.Plaintext!).toString(), 'from openssl, sha-256');
  });

  test('ciphertexts openssl makes decrypt through keybridge', { skip: opensslMissing }, async () => {
    const pub = await kms.send(new GetPublicKeyCommand({ KeyId: keys.get('rsaEnc2048')! }));
    writeFileSync(join(work, 'rsa.der'), pub.PublicKey!);
    writeFileSync(join(work, 'plain.txt'), 'from openssl');
    execFileSync('openssl', ['pkeyutl', '-encrypt', '-pubin', '-keyform', 'DER', '-inkey', join(work, 'rsa.der'), '-pkeyopt', 'rsa_padding_mode:oaep', '-pkeyopt', 'rsa_oaep_md:sha1', '-in', join(work, 'plain.txt'), '-out', join(work, 'ct.bin')]);
    const ct = execFileSync('cat', [join(work, 'ct.bin')]);
    const out = await kms.send(new DecryptCommand({ KeyId: keys.get('rsaEnc2048')!, CiphertextBlob: ct, EncryptionAlgorithm: 'RSAES_OAEP_SHA_1' }));
    assert.equal(Buffer.from(out.Plaintext!).toString(), 'from openssl');
  });

  test('Encrypt, ReEncrypt and Decrypt round trips, limits and errors', async () => {
    const keyId = keys.get('rsaEnc2048')!;
    const enc = await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.alloc(190, 7), EncryptionAlgorithm: 'RSAES_OAEP_SHA_1' }));
    assert.equal(enc.CiphertextBlob!.length, 256, 'the ciphertext is the raw OAEP output, no envelope');
    const dec = await kms.send(new DecryptCommand({ KeyId: keyId, CiphertextBlob: enc.CiphertextBlob!, EncryptionAlgorithm: 'RSAES_OAEP_SHA_1' }));
    assert.deepEqual(Buffer.from(dec.Plaintext!), Buffer.alloc(190, 7));
    // Size limits per key size and padding (reference §5.3), checked before the HSM is asked.
    await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.alloc(214), EncryptionAlgorithm: 'RSAES_OAEP_SHA_1' }));
    await rejects(kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.alloc(215), EncryptionAlgorithm: 'RSAES_OAEP_SHA_1' })), 'ValidationException');
    await rejects(kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.alloc(191), EncryptionAlgorithm: 'RSAES_OAEP_SHA_256' })), 'ValidationException');
    await kms.send(new EncryptCommand({ KeyId: keys.get('rsaEnc3072')!, Plaintext: Buffer.alloc(342), EncryptionAlgorithm: 'RSAES_OAEP_SHA_1' }));
    await rejects(kms.send(new EncryptCommand({ KeyId: keys.get('rsaEnc3072')!, Plaintext: Buffer.alloc(343), EncryptionAlgorithm: 'RSAES_OAEP_SHA_1' })), 'ValidationException');
    // No algorithm means SYMMETRIC_DEFAULT, which an RSA key does not have.
    await rejects(kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('x') })), 'InvalidKeyUsageException');
    await rejects(kms.send(new EncryptCommand({ KeyId: keys.get('rsa2048')!, Plaintext: Buffer.from('x'), EncryptionAlgorithm: 'RSAES_OAEP_SHA_1' })), 'InvalidKeyUsageException');
    await rejects(kms.send(new EncryptCommand({ KeyId: keys.get('symmetric')!, Plaintext: Buffer.from('x'), EncryptionAlgorithm: 'RSAES_OAEP_SHA_1' })), 'InvalidKeyUsageException');
    await rejects(kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('x'), EncryptionAlgorithm: 'RSAES_OAEP_SHA_1', EncryptionContext: { a: 'b' } })), 'ValidationException');
    // Without KeyId an RSA ciphertext names no key.
    await rejects(kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob!, EncryptionAlgorithm: 'RSAES_OAEP_SHA_1' })), 'InvalidCiphertextException');
    // A damaged ciphertext does not decrypt.
    const damaged = Buffer.from(enc.CiphertextBlob!);
    damaged[5]! ^= 1;
    await rejects(kms.send(new DecryptCommand({ KeyId: keyId, CiphertextBlob: damaged, EncryptionAlgorithm: 'RSAES_OAEP_SHA_1' })), 'InvalidCiphertextException');
    // ReEncrypt from RSA to a symmetric key and back.
    const re = await kms.send(new ReEncryptCommand({ CiphertextBlob: enc.CiphertextBlob!, SourceKeyId: keyId, SourceEncryptionAlgorithm: 'RSAES_OAEP_SHA_1', DestinationKeyId: keys.get('symmetric')! }));
    assert.equal(re.SourceKeyId, keyId);
    const back = await kms.send(new ReEncryptCommand({ CiphertextBlob: re.CiphertextBlob!, DestinationKeyId: keys.get('rsaEnc3072')!, DestinationEncryptionAlgorithm: 'RSAES_OAEP_SHA_1' }));
    assert.equal(back.DestinationEncryptionAlgorithm, 'RSAES_OAEP_SHA_1');
    const final = await kms.send(new DecryptCommand({ KeyId: keys.get('rsaEnc3072')!, CiphertextBlob: back.CiphertextBlob!, EncryptionAlgorithm: 'RSAES_OAEP_SHA_1' }));
    assert.deepEqual(Buffer.from(final.Plaintext!), Buffer.alloc(190, 7));
    // GenerateDataKey needs a symmetric key.
    await rejects(kms.send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256' })), 'InvalidKeyUsageException');
  });
});

describe('GenerateMac and VerifyMac', () => {
  for (const [spec, algorithm, length] of [['HMAC_224', 'HMAC_SHA_224', 28], ['HMAC_256', 'HMAC_SHA_256', 32], ['HMAC_384', 'HMAC_SHA_384', 48], ['HMAC_512', 'HMAC_SHA_512', 64]] as const) {
    test(`${spec}: MACs verify, a wrong MAC is KMSInvalidMacException`, async () => {
      const keyId = keys.get(spec)!;
      const mac = await kms.send(new GenerateMacCommand({ KeyId: keyId, Message: MESSAGE, MacAlgorithm: algorithm }));
      assert.equal(mac.Mac!.length, length);
      assert.equal(mac.MacAlgorithm, algorithm);
      const again = await kms.send(new GenerateMacCommand({ KeyId: keyId, Message: MESSAGE, MacAlgorithm: algorithm }));
      assert.deepEqual(again.Mac, mac.Mac, 'HMAC is deterministic');
      const ok = await kms.send(new VerifyMacCommand({ KeyId: keyId, Message: MESSAGE, Mac: mac.Mac!, MacAlgorithm: algorithm }));
      assert.equal(ok.MacValid, true);
      const bad = Buffer.from(mac.Mac!);
      bad[0]! ^= 1;
      await rejects(kms.send(new VerifyMacCommand({ KeyId: keyId, Message: MESSAGE, Mac: bad, MacAlgorithm: algorithm })), 'KMSInvalidMacException');
      await rejects(kms.send(new VerifyMacCommand({ KeyId: keyId, Message: MESSAGE, Mac: bad.subarray(1), MacAlgorithm: algorithm })), 'KMSInvalidMacException');
    });
  }

  test('each HMAC key takes only its own algorithm; other keys cannot MAC', async () => {
    await rejects(kms.send(new GenerateMacCommand({ KeyId: keys.get('HMAC_256')!, Message: MESSAGE, MacAlgorithm: 'HMAC_SHA_512' })), 'InvalidKeyUsageException');
    await rejects(kms.send(new GenerateMacCommand({ KeyId: keys.get('symmetric')!, Message: MESSAGE, MacAlgorithm: 'HMAC_SHA_256' })), 'InvalidKeyUsageException');
    await rejects(kms.send(new EncryptCommand({ KeyId: keys.get('HMAC_256')!, Plaintext: MESSAGE })), 'InvalidKeyUsageException');
  });

  test('different keys give different MACs; the AWS CLI generate-mac and verify-mac agree with the SDK', { skip: awsCliMissing }, async () => {
    const sdk = await kms.send(new GenerateMacCommand({ KeyId: keys.get('HMAC_256')!, Message: MESSAGE, MacAlgorithm: 'HMAC_SHA_256' }));
    const cli = await awsKms(server, ['generate-mac', '--key-id', keys.get('HMAC_256')!, '--message', MESSAGE.toString('base64'), '--mac-algorithm', 'HMAC_SHA_256']);
    assert.equal(cli.code, 0, cli.stderr);
    assert.equal(cli.json.Mac, Buffer.from(sdk.Mac!).toString('base64'));
    const verify = await awsKms(server, ['verify-mac', '--key-id', keys.get('HMAC_256')!, '--message', MESSAGE.toString('base64'), '--mac', cli.json.Mac, '--mac-algorithm', 'HMAC_SHA_256']);
    assert.equal(verify.code, 0, verify.stderr);
    assert.equal(verify.json.MacValid, true);
  });
});

describe('DeriveSharedSecret', () => {
  for (const [spec, curve] of [['ECC_NIST_P256', 'prime256v1'], ['ECC_NIST_P384', 'secp384r1'], ['ECC_NIST_P521', 'secp521r1']] as const) {
    test(`${spec}: the secret equals what Node derives on the other side`, async () => {
      const keyId = keys.get(`ka-${spec}`)!;
      const peer = generateKeyPairSync('ec', { namedCurve: curve });
      const out = await kms.send(
        new DeriveSharedSecretCommand({ KeyId: keyId, KeyAgreementAlgorithm: 'ECDH', PublicKey: peer.publicKey.export({ format: 'der', type: 'spki' }) }),
      );
      const ours = await kms.send(new GetPublicKeyCommand({ KeyId: keyId }));
      const expected = diffieHellman({ privateKey: peer.privateKey, publicKey: createPublicKey({ key: Buffer.from(ours.PublicKey!), format: 'der', type: 'spki' }) });
      assert.deepEqual(Buffer.from(out.SharedSecret!), expected);
      assert.equal(out.KeyAgreementAlgorithm, 'ECDH');
      assert.equal(out.KeyOrigin, 'AWS_KMS');
    });
  }

  test('a public key on another curve, garbage, or a non-agreement key is refused', async () => {
    const other = generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).publicKey.export({ format: 'der', type: 'spki' });
    await rejects(kms.send(new DeriveSharedSecretCommand({ KeyId: keys.get('ka-ECC_NIST_P256')!, KeyAgreementAlgorithm: 'ECDH', PublicKey: other })), 'ValidationException');
    await rejects(kms.send(new DeriveSharedSecretCommand({ KeyId: keys.get('ka-ECC_NIST_P256')!, KeyAgreementAlgorithm: 'ECDH', PublicKey: Buffer.from('nope') })), 'ValidationException');
    const p256 = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey.export({ format: 'der', type: 'spki' });
    await rejects(kms.send(new DeriveSharedSecretCommand({ KeyId: keys.get('p256')!, KeyAgreementAlgorithm: 'ECDH', PublicKey: p256 })), 'InvalidKeyUsageException', /SIGN_VERIFY/);
  });

  test('the AWS CLI derive-shared-secret gives the same secret', { skip: awsCliMissing }, async (t) => {
    const peer = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const der = peer.publicKey.export({ format: 'der', type: 'spki' });
    writeFileSync(join(work, 'peer.der'), der);
    const cli = await awsKms(server, ['derive-shared-secret', '--key-id', keys.get('ka-ECC_NIST_P256')!, '--key-agreement-algorithm', 'ECDH', '--public-key', `fileb://${join(work, 'peer.der')}`]);
    if (/Invalid choice/.test(cli.stderr)) {
      t.skip('the installed AWS CLI predates DeriveSharedSecret');
      return;
    }
    assert.equal(cli.code, 0, cli.stderr);
    const ours = await publicKeyOfArn(keys.get('ka-ECC_NIST_P256')!);
    assert.equal(cli.json.SharedSecret, diffieHellman({ privateKey: peer.privateKey, publicKey: ours }).toString('base64'));
  });
});

async function publicKeyOfArn(keyId: string): Promise<KeyObject> {
  const out = await kms.send(new GetPublicKeyCommand({ KeyId: keyId }));
  return createPublicKey({ key: Buffer.from(out.PublicKey!), format: 'der', type: 'spki' });
}

describe('GenerateDataKeyPair', () => {
  for (const spec of ['RSA_2048', 'ECC_NIST_P256', 'ECC_SECG_P256K1', 'ECC_NIST_EDWARDS25519'] as const) {
    test(`${spec}: a matching pair, the private key sealed under the symmetric key`, async () => {
      const out = await kms.send(new GenerateDataKeyPairCommand({ KeyId: keys.get('symmetric')!, KeyPairSpec: spec, EncryptionContext: { purpose: 'test' } }));
      assert.equal(out.KeyPairSpec, spec);
      assert.equal(out.KeyId, keys.get('symmetric'));
      const privateKey = createPrivateKey({ key: Buffer.from(out.PrivateKeyPlaintext!), format: 'der', type: 'pkcs8' });
      const publicKey = createPublicKey({ key: Buffer.from(out.PublicKey!), format: 'der', type: 'spki' });
      const hash = spec === 'ECC_NIST_EDWARDS25519' ? null : 'sha256';
      assert.ok(nodeVerify(hash, MESSAGE, publicKey, nodeSign(hash, MESSAGE, privateKey)), 'the private key belongs to the public key');
      const opened = await kms.send(new DecryptCommand({ CiphertextBlob: out.PrivateKeyCiphertextBlob!, EncryptionContext: { purpose: 'test' } }));
      assert.deepEqual(Buffer.from(opened.Plaintext!), Buffer.from(out.PrivateKeyPlaintext!));
    });
  }

  test('WithoutPlaintext returns no private key, and the blob decrypts to one matching the public key', async () => {
    const out = await kms.send(new GenerateDataKeyPairWithoutPlaintextCommand({ KeyId: keys.get('symmetric')!, KeyPairSpec: 'ECC_NIST_P384' }));
    assert.equal((out as unknown as Record<string, unknown>)['PrivateKeyPlaintext'], undefined);
    const opened = await kms.send(new DecryptCommand({ CiphertextBlob: out.PrivateKeyCiphertextBlob! }));
    const privateKey = createPrivateKey({ key: Buffer.from(opened.Plaintext!), format: 'der', type: 'pkcs8' });
    const derived = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
    assert.deepEqual(derived, Buffer.from(out.PublicKey!));
  });

  test('needs a symmetric encryption key; SM2 is not supported', async () => {
    await rejects(kms.send(new GenerateDataKeyPairCommand({ KeyId: keys.get('rsaEnc2048')!, KeyPairSpec: 'RSA_2048' })), 'InvalidKeyUsageException');
    await rejects(kms.send(new GenerateDataKeyPairCommand({ KeyId: keys.get('symmetric')!, KeyPairSpec: 'SM2' })), 'UnsupportedOperationException');
  });
});
