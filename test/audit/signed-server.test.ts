// The composition root wires the digest signer: a real server (embedded SoftHSM2 token) creates
// the audit signing key on first start, writes its public key to the data directory, signs the
// trail's head at shutdown, and reuses the same key on the next start.

import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { CreateKeyCommand, DescribeKeyCommand } from '@aws-sdk/client-kms';
import { verifyAuditFile } from '../../src/audit/verify.js';
import { sdkClient } from '../support/kms-client.js';
import { makeDataDir, startServer } from '../support/server.js';

test('a server signs its trail: PEM in the data directory, every record signed after a clean stop, the key reused on restart', async () => {
  const dataDir = makeDataDir();
  const first = await startServer({ dataDir });
  const pemPath = join(dataDir, 'audit-signing-key.pem');
  let pem: string;
  try {
    pem = readFileSync(pemPath, 'utf8');
    assert.equal(statSync(pemPath).mode & 0o777, 0o644);
    const kms = sdkClient(first);
    const { KeyMetadata } = await kms.send(new CreateKeyCommand({}));
    await kms.send(new DescribeKeyCommand({ KeyId: KeyMetadata!.KeyId! }));
  } finally {
    await first.stop();
  }
  const afterStop = verifyAuditFile(join(dataDir, 'audit.db'), { publicKeyPem: pem });
  assert.equal(afterStop.ok, true, JSON.stringify(afterStop.problem));
  assert.ok(afterStop.records >= 2, `${afterStop.records} records`);
  assert.deepEqual([afterStop.digests.checked, afterStop.digests.unsignedRecords, afterStop.digests.last?.headSeq], [true, 0, afterStop.head.seq]);

  const second = await startServer({ dataDir });
  try {
    assert.equal(readFileSync(pemPath, 'utf8'), pem, 'the same key pair on restart');
    await sdkClient(second).send(new CreateKeyCommand({}));
  } finally {
    await second.destroy();
  }
});
