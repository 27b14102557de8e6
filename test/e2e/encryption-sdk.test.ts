// The AWS Encryption SDK for JavaScript, unchanged, with its KMS keyring pointed at keybridge: it
// generates data keys with GenerateDataKey, wraps them for more keys with Encrypt, and unwraps with
// Decrypt — checking the key ARNs and data-key lengths keybridge returns as it would AWS's.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { buildClient, CommitmentPolicy, getClient, KmsKeyringNode } from '@aws-crypto/client-node';
import { CreateKeyCommand, KMS, type KMSClient } from '@aws-sdk/client-kms';
import { sdkClient } from '../support/kms-client.js';
import { startServer, type TestServer } from '../support/server.js';

let server: TestServer;
let kms: KMSClient;

before(async () => {
  server = await startServer();
  kms = sdkClient(server);
});

after(async () => {
  kms?.destroy();
  await server?.destroy();
});

function keyring(generatorKeyId: string, keyIds: string[] = []): KmsKeyringNode {
  const clientProvider = getClient(KMS, { endpoint: server.url, credentials: server.credentials, region: server.region, maxAttempts: 1 });
  return new KmsKeyringNode({ generatorKeyId, keyIds, clientProvider });
}

test('a message encrypted under two keybridge keys decrypts with either one alone', async () => {
  const first = (await kms.send(new CreateKeyCommand({ Description: 'esdk generator' }))).KeyMetadata!.Arn!;
  const second = (await kms.send(new CreateKeyCommand({ Description: 'esdk second' }))).KeyMetadata!.Arn!;
  const { encrypt, decrypt } = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT);
  const plaintext = Buffer.from('envelope encryption through keybridge');
  const { result } = await encrypt(keyring(first, [second]), plaintext, { encryptionContext: { purpose: 'interop' } });
  assert.equal(result.includes(plaintext), false);

  for (const only of [first, second]) {
    const { plaintext: out, messageHeader } = await decrypt(keyring(only), result);
    assert.deepEqual(out, plaintext);
    assert.equal(messageHeader.encryptionContext.purpose, 'interop');
    assert.equal(messageHeader.encryptedDataKeys.length, 2);
    assert.deepEqual(messageHeader.encryptedDataKeys.map((k) => k.providerInfo).sort(), [first, second].sort());
  }
});

test('a message cannot be decrypted with a key that did not wrap its data key', async () => {
  const wrapper = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.Arn!;
  const stranger = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.Arn!;
  const { encrypt, decrypt } = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT);
  const { result } = await encrypt(keyring(wrapper), Buffer.from('secret'));
  // The keyring never asks keybridge to decrypt an EDK whose provider info names another key, so no
  // data key comes back and the SDK refuses the message.
  await assert.rejects(decrypt(keyring(stranger), result), /unencryptedDataKey has not been set/);
});
