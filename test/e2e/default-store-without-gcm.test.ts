// keybridge whose default key store is an HSM without AES-GCM: openCryptoki's soft token (AES-CBC and
// HMAC-SHA-256, no GCM, no elliptic curves). Symmetric keys there use the AES_256_CBC_HMAC_SHA_256
// suite, both halves inside the token (docs/ciphertext-format.md). The server runs as an operator
// starts it, as a child process in the token's environment (scripts/tokens/opencryptoki.sh: its
// pkcsslotd is reachable only there), configured for that token; the AWS CLI v2, the AWS SDK and
// the AWS Encryption SDK use it unchanged.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { buildClient, CommitmentPolicy, getClient, KmsKeyringNode } from '@aws-crypto/client-node';
import { CreateKeyCommand, DecryptCommand, EncryptCommand, KMS, KMSClient } from '@aws-sdk/client-kms';

import { awsCliMissing, awsKms, type CliEndpoint } from '../support/kms-client.js';
import { freePort } from '../support/free-port.js';
import { REPO_ROOT } from '../support/repo-root.js';
import { startLabToken, tokenLabMissing, type LabToken } from '../support/token-lab.js';
import { until } from '../support/until.js';
import { stopChild } from '../support/child-process.js';

const MAIN = join(REPO_ROOT, 'dist', 'src', 'main.js');
const ACCESS_KEY_ID = 'AKIAOCKDEFAULTSTORE1';
const SECRET_ACCESS_KEY = 'ockDefaultStoreSecretAccessKey0123456789';
const REGION = 'us-east-1';

// CI installs openCryptoki (.ci/run): there a missing one is a failure, not a skip.
const missing = process.env.CI === 'true' ? undefined : tokenLabMissing('opencryptoki');

describe('the default key store on openCryptoki (no AES-GCM)', { skip: missing ?? false }, () => {
  let token: LabToken | undefined;
  let workDir: string | undefined;
  let child: ChildProcess | undefined;
  let log = '';
  let kms: KMSClient;
  let cli: CliEndpoint;
  let url: string;

  before(async () => {
    token = await startLabToken('opencryptoki');
    workDir = mkdtempSync(join(tmpdir(), 'keybridge-ock-default-'));
    const dataDir = join(workDir, 'data');
    const clustersDir = join(workDir, 'clusters');
    mkdirSync(dataDir);
    mkdirSync(clustersDir);
    const pinFile = join(workDir, 'user.pin');
    writeFileSync(pinFile, `${token.pin}\n`, { mode: 0o600 });
    const credentialsFile = join(workDir, 'credentials');
    writeFileSync(credentialsFile, `[keybridge]\naws_access_key_id = ${ACCESS_KEY_ID}\naws_secret_access_key = ${SECRET_ACCESS_KEY}\n`, { mode: 0o600 });
    const configFile = join(workDir, 'config.json');
    writeFileSync(
      configFile,
      JSON.stringify({
        embedded: false,
        defaultKeyStore: { module: token.module, tokenLabel: token.label, userPin: { file: pinFile }, profile: 'generic' },
        credentialsFile,
        clustersDir,
      }),
    );
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: workDir, KEYBRIDGE_DATA_DIR: dataDir, KEYBRIDGE_PORT: String(port), KEYBRIDGE_CONFIG: configFile };
    const running = spawn(token.runPrefix[0]!, [...token.runPrefix.slice(1), process.execPath, MAIN], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    child = running;
    running.stdout!.on('data', (d: Buffer) => (log += d.toString()));
    running.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    await until(() => log.includes(`Server listening at ${url}`) || running.exitCode !== null, 60_000, 'keybridge to listen').catch((err: Error) => {
      throw new Error(`${err.message}; its output:\n${log.slice(-3000)}`);
    });
    assert.equal(running.exitCode, null, `keybridge exited:\n${log.slice(-3000)}`);
    kms = new KMSClient({ region: REGION, endpoint: url, credentials: { accessKeyId: ACCESS_KEY_ID, secretAccessKey: SECRET_ACCESS_KEY }, maxAttempts: 1 });
    cli = { url, region: REGION, dataDir: workDir, credentialsFile };
  });

  after(async () => {
    await stopChild(child);
    kms?.destroy();
    await token?.stop();
    if (workDir !== undefined) rmSync(workDir, { recursive: true, force: true });
  });

  test('AWS CLI v2: create-key, encrypt, decrypt, re-encrypt, generate-data-key; the blobs are CBC-HMAC', { skip: awsCliMissing }, async () => {
    const run = async (args: string[]): Promise<any> => {
      const result = await awsKms(cli, args);
      assert.equal(result.code, 0, `aws kms ${args[0]}: ${result.stderr}\n${log.slice(-2000)}`);
      return result.json;
    };
    const created = await run(['create-key', '--description', 'on openCryptoki']);
    assert.equal(created.KeyMetadata.KeySpec, 'SYMMETRIC_DEFAULT');
    assert.equal(created.KeyMetadata.Origin, 'AWS_KMS');
    const keyId: string = created.KeyMetadata.KeyId;
    const plaintext = Buffer.from('sealed inside openCryptoki');
    const encrypted = await run(['encrypt', '--key-id', keyId, '--plaintext', plaintext.toString('base64'), '--encryption-context', 'app=ock']);
    const blob = Buffer.from(encrypted.CiphertextBlob, 'base64');
    assert.equal(blob[1], 0x02, 'algorithm byte: AES-256-CBC + HMAC-SHA-256');
    assert.equal(blob.length, 98 + 32);
    const decrypted = await run(['decrypt', '--ciphertext-blob', encrypted.CiphertextBlob, '--encryption-context', 'app=ock']);
    assert.deepEqual(Buffer.from(decrypted.Plaintext, 'base64'), plaintext);
    assert.equal(decrypted.KeyId, created.KeyMetadata.Arn);

    const second = (await run(['create-key'])).KeyMetadata.KeyId as string;
    const reEncrypted = await run([
      're-encrypt', '--ciphertext-blob', encrypted.CiphertextBlob, '--source-encryption-context', 'app=ock', '--destination-key-id', second,
    ]);
    assert.equal(reEncrypted.SourceKeyId, created.KeyMetadata.Arn);
    assert.deepEqual(Buffer.from((await run(['decrypt', '--ciphertext-blob', reEncrypted.CiphertextBlob])).Plaintext, 'base64'), plaintext);

    const dataKey = await run(['generate-data-key', '--key-id', keyId, '--key-spec', 'AES_256']);
    assert.equal(Buffer.from(dataKey.Plaintext, 'base64').length, 32);
    assert.equal(Buffer.from(dataKey.CiphertextBlob, 'base64').length, 98 + 48);
    assert.equal((await run(['decrypt', '--ciphertext-blob', dataKey.CiphertextBlob])).Plaintext, dataKey.Plaintext);
    const withoutPlaintext = await run(['generate-data-key-without-plaintext', '--key-id', keyId, '--number-of-bytes', '64']);
    assert.equal(Buffer.from((await run(['decrypt', '--ciphertext-blob', withoutPlaintext.CiphertextBlob])).Plaintext, 'base64').length, 64);
  });

  test('a flipped bit anywhere in a blob is InvalidCiphertextException (the MAC is checked in the token first)', async () => {
    const keyId = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
    const context = { purpose: 'bit flips' };
    const blob = Buffer.from((await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('sixteen byte msg'), EncryptionContext: context }))).CiphertextBlob!);
    for (let i = 0; i < blob.length; i++) {
      const damaged = Buffer.from(blob);
      damaged[i]! ^= 1 << (i % 8);
      await assert.rejects(kms.send(new DecryptCommand({ CiphertextBlob: damaged, EncryptionContext: context })), (err: Error) => {
        assert.equal(err.name, 'InvalidCiphertextException', `byte ${i}: ${err.message}`);
        return true;
      });
    }
    const opened = await kms.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: context }));
    assert.equal(Buffer.from(opened.Plaintext!).toString(), 'sixteen byte msg');
  });

  test('the AWS Encryption SDK round-trips a message through keys in openCryptoki', async () => {
    const generator = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.Arn!;
    const other = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.Arn!;
    const clientProvider = getClient(KMS, { endpoint: url, credentials: { accessKeyId: ACCESS_KEY_ID, secretAccessKey: SECRET_ACCESS_KEY }, region: REGION, maxAttempts: 1 });
    const { encrypt, decrypt } = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT);
    const message = Buffer.from('envelope encryption on an HSM without AES-GCM');
    const { result } = await encrypt(new KmsKeyringNode({ generatorKeyId: generator, keyIds: [other], clientProvider }), message, { encryptionContext: { tenant: 'ock' } });
    for (const only of [generator, other]) {
      const { plaintext, messageHeader } = await decrypt(new KmsKeyringNode({ generatorKeyId: only, clientProvider }), result);
      assert.deepEqual(plaintext, message);
      assert.equal(messageHeader.encryptionContext.tenant, 'ock');
    }
  });
});
