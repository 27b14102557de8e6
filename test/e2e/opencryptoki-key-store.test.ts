// keybridge end to end with a second PKCS#11 implementation: a custom key store whose one member is
// an openCryptoki soft token (scripts/tokens/opencryptoki.sh; no AES-GCM, no elliptic curves), the
// default key store on SoftHSM2. The server runs as a child process inside the token's namespace
// (the only place its pkcsslotd can be reached), exactly as an operator starts it, and the AWS SDK
// drives it: the store connects (its health check is an HMAC where the token has no AES-GCM),
// RSA and HMAC keys are created and used in the token, and the specs the token cannot do are
// refused at CreateKey naming the mechanism it lacks.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { constants, createPublicKey, verify } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import {
  ConnectCustomKeyStoreCommand,
  CreateCustomKeyStoreCommand,
  CreateKeyCommand,
  DescribeCustomKeyStoresCommand,
  GenerateMacCommand,
  GetPublicKeyCommand,
  KMSClient,
  SignCommand,
  VerifyMacCommand,
  type KeySpec,
  type KeyUsageType,
} from '@aws-sdk/client-kms';

import { REPO_ROOT } from '../support/repo-root.js';
import { startLabToken, tokenLabMissing, type LabToken } from '../support/token-lab.js';
import { until } from '../support/until.js';

const MAIN = join(REPO_ROOT, 'dist', 'src', 'main.js');
const CLUSTER_ID = 'cluster-ockSoftTokenA';
const missing = process.env.CI === 'true' ? undefined : tokenLabMissing('opencryptoki');

let token: LabToken;
/** Everything of the test: the cluster definition, the config, and the server's data directory. */
let workDir: string | undefined;
let dataDir: string;
let child: ChildProcess | undefined;
let log = '';
let kms: KMSClient;
let storeId: string;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      srv.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
}

function credentials(): { accessKeyId: string; secretAccessKey: string } {
  const text = readFileSync(join(dataDir, 'credentials'), 'utf8');
  return { accessKeyId: /^aws_access_key_id\s*=\s*(\S+)$/m.exec(text)![1]!, secretAccessKey: /^aws_secret_access_key\s*=\s*(\S+)$/m.exec(text)![1]! };
}

describe('a custom key store on an openCryptoki soft token', { skip: missing ?? false }, () => {
  before(async () => {
    token = await startLabToken('opencryptoki');
    workDir = mkdtempSync(join(tmpdir(), 'keybridge-ock-e2e-'));
    dataDir = join(workDir, 'data');
    const clustersDir = join(workDir, 'clusters');
    mkdirSync(clustersDir);
    copyFileSync(join(REPO_ROOT, 'hsm-config', 'clusters', 'example-softhsm-ca.pem'), join(clustersDir, 'ca.pem'));
    writeFileSync(
      join(clustersDir, `${CLUSTER_ID}.json`),
      JSON.stringify({
        clusterId: CLUSTER_ID,
        members: [{ name: 'ock', module: token.module, tokenLabel: token.label, profile: 'generic' }],
        trustAnchorCertificateFile: 'ca.pem',
        minActiveMembersToConnect: 1,
        minActiveMembersForCreateKey: 1,
        replication: 'vendor',
      }),
    );
    const configFile = join(workDir, 'config.json');
    writeFileSync(configFile, JSON.stringify({ clustersDir }));
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: workDir, KEYBRIDGE_DATA_DIR: dataDir, KEYBRIDGE_PORT: String(port), KEYBRIDGE_CONFIG: configFile };
    child = spawn(token.runPrefix[0]!, [...token.runPrefix.slice(1), process.execPath, MAIN], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    await until(() => log.includes(`keybridge is listening on ${url}`) || child!.exitCode !== null, 60_000, 'keybridge to listen');
    assert.equal(child.exitCode, null, `keybridge exited:\n${log.slice(-3000)}`);
    kms = new KMSClient({ region: 'us-east-1', endpoint: url, credentials: credentials(), maxAttempts: 1 });
    const ca = readFileSync(join(REPO_ROOT, 'hsm-config', 'clusters', 'example-softhsm-ca.pem'), 'utf8');
    storeId = (await kms.send(new CreateCustomKeyStoreCommand({ CustomKeyStoreName: 'ock', CloudHsmClusterId: CLUSTER_ID, TrustAnchorCertificate: ca, KeyStorePassword: token.pin }))).CustomKeyStoreId!;
    await kms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId }));
    const state = async (): Promise<string | undefined> => (await kms.send(new DescribeCustomKeyStoresCommand({ CustomKeyStoreId: storeId }))).CustomKeyStores?.[0]?.ConnectionState;
    await until(async () => (await state()) !== 'CONNECTING', 60_000, 'the store to leave CONNECTING', 100);
    assert.equal(await state(), 'CONNECTED', log.slice(-3000));
  });

  after(async () => {
    if (child !== undefined && child.exitCode === null) {
      const exited = new Promise((resolve) => child!.once('exit', resolve));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    kms?.destroy();
    await token?.stop();
    if (workDir !== undefined) rmSync(workDir, { recursive: true, force: true });
  });

  async function createKey(KeySpec: KeySpec, KeyUsage: KeyUsageType): Promise<string> {
    return (await kms.send(new CreateKeyCommand({ KeySpec, KeyUsage, CustomKeyStoreId: storeId, Origin: 'AWS_CLOUDHSM' }))).KeyMetadata!.KeyId!;
  }

  test('RSA_2048 signing keys are made and used in the token; signatures verify with OpenSSL’s maths (Node)', async () => {
    const keyId = await createKey('RSA_2048', 'SIGN_VERIFY');
    const message = Buffer.from('signed inside openCryptoki');
    const { Signature } = await kms.send(new SignCommand({ KeyId: keyId, Message: message, MessageType: 'RAW', SigningAlgorithm: 'RSASSA_PSS_SHA_256' }));
    const { PublicKey } = await kms.send(new GetPublicKeyCommand({ KeyId: keyId }));
    const publicKey = createPublicKey({ key: Buffer.from(PublicKey!), format: 'der', type: 'spki' });
    assert.ok(verify('sha256', message, { key: publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, Buffer.from(Signature!)));
  });

  test('HMAC_256 keys: GenerateMac and VerifyMac in the token', async () => {
    const keyId = await createKey('HMAC_256', 'GENERATE_VERIFY_MAC');
    const message = Buffer.from('a MAC made by openCryptoki');
    const { Mac } = await kms.send(new GenerateMacCommand({ KeyId: keyId, Message: message, MacAlgorithm: 'HMAC_SHA_256' }));
    assert.equal(Mac!.length, 32);
    assert.equal((await kms.send(new VerifyMacCommand({ KeyId: keyId, Message: message, MacAlgorithm: 'HMAC_SHA_256', Mac }))).MacValid, true);
  });

  test('what the token cannot do is refused at CreateKey, naming the mechanism it lacks', async () => {
    for (const [spec, usage, mechanism] of [
      ['SYMMETRIC_DEFAULT', 'ENCRYPT_DECRYPT', 'CKM_AES_GCM'],
      ['ECC_NIST_P256', 'SIGN_VERIFY', 'CKM_EC_KEY_PAIR_GEN'],
      ['ECC_NIST_EDWARDS25519', 'SIGN_VERIFY', 'CKM_EC_EDWARDS_KEY_PAIR_GEN'],
    ] as const) {
      await assert.rejects(createKey(spec, usage), (err: Error) => {
        assert.equal(err.name, 'UnsupportedOperationException');
        assert.match(err.message, new RegExp(`KeySpec ${spec} .*${mechanism} is not supported by the HSM`));
        return true;
      });
    }
  });
});
