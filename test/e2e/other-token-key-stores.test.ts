// keybridge end to end on the two other PKCS#11 implementations: a custom key store whose one member
// is an openCryptoki soft token (no AES-GCM, so symmetric keys use the CBC-HMAC suite; no elliptic curves) or a tpm2-pkcs11 token on swtpm (no
// secret-key generation, RSA up to 3072 bits, no ECDH); the default key store on SoftHSM2. The
// server runs as a child process in the token's environment (scripts/tokens; for openCryptoki the
// only place its pkcsslotd can be reached), exactly as an operator starts it, and the AWS SDK drives
// it: the store connects (its health check is whatever the token can do: an HMAC, a signature), the
// keys the token can hold are created and used in it, and the specs it cannot do are refused at
// CreateKey naming what it lacks.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { constants, createPublicKey, publicEncrypt, verify } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import {
  ConnectCustomKeyStoreCommand,
  CreateCustomKeyStoreCommand,
  CreateKeyCommand,
  DecryptCommand,
  DescribeCustomKeyStoresCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  GenerateMacCommand,
  GetPublicKeyCommand,
  KMSClient,
  ReEncryptCommand,
  SignCommand,
  VerifyMacCommand,
  type KeySpec,
  type KeyUsageType,
  type MacAlgorithmSpec,
  type SigningAlgorithmSpec,
} from '@aws-sdk/client-kms';

import { freePort } from '../support/free-port.js';
import { REPO_ROOT } from '../support/repo-root.js';
import { startLabToken, tokenLabMissing, type LabToken, type TokenImplementation } from '../support/token-lab.js';
import { until } from '../support/until.js';
import { stopChild } from '../support/child-process.js';

const MAIN = join(REPO_ROOT, 'dist', 'src', 'main.js');

interface Expectation {
  readonly clusterId: string;
  /** Every key spec and usage the token can hold: each is created and used through the API. */
  readonly usable: ReadonlyArray<readonly [KeySpec, KeyUsageType]>;
  /** What CreateKey refuses, and the words naming what the token lacks. */
  readonly refused: ReadonlyArray<readonly [KeySpec, KeyUsageType, string]>;
}

const EXPECTED: ReadonlyArray<[TokenImplementation, Expectation]> = [
  [
    'opencryptoki',
    {
      clusterId: 'cluster-ockSoftTokenA',
      usable: [
        ['SYMMETRIC_DEFAULT', 'ENCRYPT_DECRYPT'],
        ['RSA_2048', 'SIGN_VERIFY'],
        ['RSA_3072', 'SIGN_VERIFY'],
        ['RSA_4096', 'SIGN_VERIFY'],
        ['RSA_2048', 'ENCRYPT_DECRYPT'],
        ['RSA_4096', 'ENCRYPT_DECRYPT'],
        ['HMAC_256', 'GENERATE_VERIFY_MAC'],
        ['HMAC_384', 'GENERATE_VERIFY_MAC'],
        ['HMAC_512', 'GENERATE_VERIFY_MAC'],
      ],
      refused: [
        ['ECC_NIST_P256', 'SIGN_VERIFY', 'CKM_EC_KEY_PAIR_GEN is not supported'],
        ['ECC_NIST_EDWARDS25519', 'SIGN_VERIFY', 'CKM_EC_EDWARDS_KEY_PAIR_GEN is not supported'],
        ['HMAC_224', 'GENERATE_VERIFY_MAC', 'CKM_SHA224_HMAC is not supported'],
      ],
    },
  ],
  [
    'tpm2',
    {
      clusterId: 'cluster-swtpmTokenA',
      usable: [
        ['RSA_2048', 'SIGN_VERIFY'],
        ['RSA_3072', 'SIGN_VERIFY'],
        ['RSA_2048', 'ENCRYPT_DECRYPT'],
        ['ECC_NIST_P256', 'SIGN_VERIFY'],
        ['ECC_NIST_P384', 'SIGN_VERIFY'],
      ],
      refused: [
        ['SYMMETRIC_DEFAULT', 'ENCRYPT_DECRYPT', 'cannot generate secret keys through PKCS#11 (C_GenerateKey'],
        ['HMAC_256', 'GENERATE_VERIFY_MAC', 'CKM_GENERIC_SECRET_KEY_GEN is not supported'],
        ['RSA_4096', 'SIGN_VERIFY', 'supports key sizes 1024-3072, not 4096'],
        ['ECC_NIST_P256', 'KEY_AGREEMENT', 'CKM_ECDH1_DERIVE is not supported'],
        ['ECC_SECG_P256K1', 'SIGN_VERIFY', 'it refused the curve'],
      ],
    },
  ],
];

/** The signing algorithm a key of this spec is exercised with, and its hash. */
function signingAlgorithmOf(spec: KeySpec): { algorithm: SigningAlgorithmSpec; hash: string } {
  if (spec.startsWith('RSA_')) return { algorithm: 'RSASSA_PSS_SHA_256', hash: 'sha256' };
  return spec === 'ECC_NIST_P384' ? { algorithm: 'ECDSA_SHA_384', hash: 'sha384' } : { algorithm: 'ECDSA_SHA_256', hash: 'sha256' };
}

const MAC_ALGORITHMS: Partial<Record<KeySpec, MacAlgorithmSpec>> = { HMAC_256: 'HMAC_SHA_256', HMAC_384: 'HMAC_SHA_384', HMAC_512: 'HMAC_SHA_512' };

for (const [impl, expected] of EXPECTED) {
  // CI installs every implementation (.ci/run): there a missing one is a failure, not a skip.
  const missing = process.env.CI === 'true' ? undefined : tokenLabMissing(impl);

  describe(`a custom key store on ${impl}`, { skip: missing ?? false }, () => {
    let token: LabToken | undefined;
    /** Everything of the test: the cluster definition, the config, and the server's data directory. */
    let workDir: string | undefined;
    let child: ChildProcess | undefined;
    let log = '';
    let kms: KMSClient | undefined;
    let storeId: string;

    before(async () => {
      token = await startLabToken(impl);
      workDir = mkdtempSync(join(tmpdir(), `keybridge-${impl}-e2e-`));
      const dataDir = join(workDir, 'data');
      const clustersDir = join(workDir, 'clusters');
      mkdirSync(clustersDir);
      copyFileSync(join(REPO_ROOT, 'hsm-config', 'clusters', 'example-softhsm-ca.pem'), join(clustersDir, 'ca.pem'));
      writeFileSync(
        join(clustersDir, `${expected.clusterId}.json`),
        JSON.stringify({
          clusterId: expected.clusterId,
          members: [{ name: impl, module: token.module, tokenLabel: token.label, profile: 'generic' }],
          trustAnchorCertificateFile: 'ca.pem',
          minActiveMembersToConnect: 1,
          minActiveMembersForCreateKey: 1,
          replication: 'vendor',
          // Generating the signing canary on a software TPM takes seconds.
          health: { callTimeoutMs: 30_000 },
        }),
      );
      const configFile = join(workDir, 'config.json');
      writeFileSync(configFile, JSON.stringify({ clustersDir }));
      const port = await freePort();
      const url = `http://127.0.0.1:${port}`;
      const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: workDir, KEYBRIDGE_DATA_DIR: dataDir, KEYBRIDGE_PORT: String(port), KEYBRIDGE_CONFIG: configFile };
      const running = spawn(token.runPrefix[0]!, [...token.runPrefix.slice(1), process.execPath, MAIN], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      child = running;
      running.stdout!.on('data', (d: Buffer) => (log += d.toString()));
      running.stderr!.on('data', (d: Buffer) => (log += d.toString()));
      await until(() => log.includes(`keybridge is listening on ${url}`) || running.exitCode !== null, 60_000, 'keybridge to listen');
      assert.equal(running.exitCode, null, `keybridge exited:\n${log.slice(-3000)}`);

      const text = readFileSync(join(dataDir, 'credentials'), 'utf8');
      const credentials = { accessKeyId: /^aws_access_key_id\s*=\s*(\S+)$/m.exec(text)![1]!, secretAccessKey: /^aws_secret_access_key\s*=\s*(\S+)$/m.exec(text)![1]! };
      const client = new KMSClient({ region: 'us-east-1', endpoint: url, credentials, maxAttempts: 1 });
      kms = client;
      const ca = readFileSync(join(REPO_ROOT, 'hsm-config', 'clusters', 'example-softhsm-ca.pem'), 'utf8');
      storeId = (await client.send(new CreateCustomKeyStoreCommand({ CustomKeyStoreName: impl, CloudHsmClusterId: expected.clusterId, TrustAnchorCertificate: ca, KeyStorePassword: token.pin })))
        .CustomKeyStoreId!;
      await client.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId }));
      const state = async (): Promise<string | undefined> => (await client.send(new DescribeCustomKeyStoresCommand({ CustomKeyStoreId: storeId }))).CustomKeyStores?.[0]?.ConnectionState;
      await until(async () => (await state()) !== 'CONNECTING', 60_000, 'the store to leave CONNECTING', 100);
      assert.equal(await state(), 'CONNECTED', log.slice(-3000));
    });

    after(async () => {
      await stopChild(child);
      kms?.destroy();
      await token?.stop();
      if (workDir !== undefined) rmSync(workDir, { recursive: true, force: true });
    });

    async function createKey(KeySpec: KeySpec, KeyUsage: KeyUsageType): Promise<string> {
      return (await kms!.send(new CreateKeyCommand({ KeySpec, KeyUsage, CustomKeyStoreId: storeId, Origin: 'AWS_CLOUDHSM' }))).KeyMetadata!.KeyId!;
    }

    for (const [spec, usage] of expected.usable) {
      test(`${spec} ${usage}: made in the token and used through the API`, async () => {
        const keyId = await createKey(spec, usage);
        const message = Buffer.from(`made inside ${impl}`);
        if (spec === 'SYMMETRIC_DEFAULT') {
          // No AES-GCM here: the CBC-HMAC suite (algorithm byte 0x02), both halves in the token.
          const context = { store: impl };
          const { CiphertextBlob } = await kms!.send(new EncryptCommand({ KeyId: keyId, Plaintext: message, EncryptionContext: context }));
          assert.equal(CiphertextBlob![1], 0x02);
          const { Plaintext } = await kms!.send(new DecryptCommand({ CiphertextBlob, EncryptionContext: context }));
          assert.deepEqual(Buffer.from(Plaintext!), message);
          const damaged = Buffer.from(CiphertextBlob!);
          damaged[damaged.length - 40]! ^= 1;
          await assert.rejects(kms!.send(new DecryptCommand({ CiphertextBlob: damaged, EncryptionContext: context })), { name: 'InvalidCiphertextException' });
          const other = await createKey('SYMMETRIC_DEFAULT', 'ENCRYPT_DECRYPT');
          const moved = await kms!.send(new ReEncryptCommand({ CiphertextBlob, SourceEncryptionContext: context, DestinationKeyId: other }));
          assert.deepEqual(Buffer.from((await kms!.send(new DecryptCommand({ CiphertextBlob: moved.CiphertextBlob }))).Plaintext!), message);
          const dataKey = await kms!.send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256' }));
          assert.deepEqual(Buffer.from((await kms!.send(new DecryptCommand({ CiphertextBlob: dataKey.CiphertextBlob }))).Plaintext!), Buffer.from(dataKey.Plaintext!));
        } else if (usage === 'SIGN_VERIFY') {
          const { algorithm, hash } = signingAlgorithmOf(spec);
          const { Signature } = await kms!.send(new SignCommand({ KeyId: keyId, Message: message, MessageType: 'RAW', SigningAlgorithm: algorithm }));
          const { PublicKey } = await kms!.send(new GetPublicKeyCommand({ KeyId: keyId }));
          const publicKey = createPublicKey({ key: Buffer.from(PublicKey!), format: 'der', type: 'spki' });
          const key = algorithm.startsWith('RSASSA_PSS') ? { key: publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 } : publicKey;
          assert.ok(verify(hash, message, key, Buffer.from(Signature!)), 'Node does not verify the signature');
        } else if (usage === 'ENCRYPT_DECRYPT') {
          // What Node encrypts with the public key, the token decrypts (SHA-1 and SHA-256 OAEP).
          const { PublicKey } = await kms!.send(new GetPublicKeyCommand({ KeyId: keyId }));
          const publicKey = createPublicKey({ key: Buffer.from(PublicKey!), format: 'der', type: 'spki' });
          for (const [algorithm, oaepHash] of [['RSAES_OAEP_SHA_1', 'sha1'], ['RSAES_OAEP_SHA_256', 'sha256']] as const) {
            const ciphertext = publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash }, message);
            const { Plaintext } = await kms!.send(new DecryptCommand({ KeyId: keyId, CiphertextBlob: ciphertext, EncryptionAlgorithm: algorithm }));
            assert.deepEqual(Buffer.from(Plaintext!), message, algorithm);
          }
        } else {
          const MacAlgorithm = MAC_ALGORITHMS[spec]!;
          const { Mac } = await kms!.send(new GenerateMacCommand({ KeyId: keyId, Message: message, MacAlgorithm }));
          assert.equal((await kms!.send(new VerifyMacCommand({ KeyId: keyId, Message: message, MacAlgorithm, Mac }))).MacValid, true);
          Mac![0]! ^= 1;
          await assert.rejects(kms!.send(new VerifyMacCommand({ KeyId: keyId, Message: message, MacAlgorithm, Mac })), { name: 'KMSInvalidMacException' });
        }
      });
    }

    test('what the token cannot do is refused at CreateKey, naming what it lacks', async () => {
      for (const [spec, usage, lacks] of expected.refused) {
        await assert.rejects(createKey(spec, usage), (err: Error) => {
          assert.equal(err.name, 'UnsupportedOperationException', `${spec}: ${err.message}`);
          assert.ok(err.message.startsWith(`KeySpec ${spec} `) && err.message.includes('is not supported by the HSM of this key store:'), err.message);
          assert.ok(err.message.includes(lacks), err.message);
          return true;
        });
      }
    });
  });
}
