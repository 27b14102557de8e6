// One decision per request, on exactly what runs: every registered operation has a rule, an
// operation without one is refused, an operation can only use the keys its decision resolved, and
// an alias re-pointed between the decision and the operation cannot move the operation to a key
// nobody authorized. Real server, real store and HSM: the interleaving is made explicit by
// running the decision and the operation as two steps with the alias change between them.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { KmsError } from '../../src/domain/errors.js';
import { authorizeRequest, RULES } from '../../src/operations/authorization.js';
import { resolveKey, withResolvedKeys } from '../../src/operations/key-access.js';
import type { RequestContext } from '../../src/operations/operation.js';
import { OPERATIONS, OPERATIONS_BY_NAME } from '../../src/operations/registry.js';
import { parseInput } from '../../src/operations/wire.js';
import { rawRequest } from '../support/raw-request.js';
import { startServer, type TestServer } from '../support/server.js';

let server: TestServer;

before(async () => {
  server = await startServer();
});
after(async () => {
  await server?.destroy();
});

function rootContext(): RequestContext {
  return {
    requestId: 'test',
    principal: { arn: `arn:aws:iam::${server.accountId}:root`, accountId: server.accountId, type: 'Root' },
    sourceIp: '127.0.0.1',
    userAgent: 'test',
    secureTransport: false,
  };
}

async function must(operation: string, body: unknown): Promise<any> {
  const res = await rawRequest(server, { target: `TrentService.${operation}`, body: JSON.stringify(body) });
  assert.equal(res.status, 200, `${operation}: ${res.body}`);
  return res.json;
}

describe('the rule table', () => {
  test('every registered operation has its own rule', () => {
    const missing = OPERATIONS.map((op) => op.name).filter((name) => !Object.hasOwn(RULES, name));
    assert.deepEqual(missing, []);
  });

  test('every rule names a registered operation (no stale rules)', () => {
    assert.deepEqual(Object.keys(RULES).filter((name) => !OPERATIONS_BY_NAME.has(name)), []);
  });

  test('an operation without a rule is refused before anything is looked up', async () => {
    for (const name of ['ReplicateKey', 'constructor', '__proto__', 'toString']) {
      await assert.rejects(authorizeRequest(rootContext(), server.keybridge.deps, name, {}), (err: KmsError) => {
        assert.equal(err.kmsName, 'AccessDeniedException');
        return true;
      });
    }
  });

  test('an operation run without a decision cannot find a key (fails closed)', async () => {
    const { KeyMetadata } = await must('CreateKey', {});
    await assert.rejects(resolveKey(server.keybridge.deps, KeyMetadata.KeyId), (err: KmsError) => {
      assert.equal(err.kmsName, 'KMSInternalException');
      return true;
    });
    const describeKey = OPERATIONS_BY_NAME.get('DescribeKey')!;
    await assert.rejects(describeKey.run(rootContext(), server.keybridge.deps, { KeyId: KeyMetadata.KeyId }), (err: KmsError) => err.kmsName === 'KMSInternalException');
  });

  test('an identifier the decision did not resolve is refused, even when the decision resolved another', async () => {
    const a = (await must('CreateKey', {})).KeyMetadata;
    const b = (await must('CreateKey', {})).KeyMetadata;
    const deps = server.keybridge.deps;
    const decision = await authorizeRequest(rootContext(), deps, 'DescribeKey', { KeyId: a.KeyId });
    const decided = withResolvedKeys(deps, decision.keys);
    assert.equal((await resolveKey(decided, a.KeyId)).keyId, a.KeyId);
    await assert.rejects(resolveKey(decided, b.KeyId), (err: KmsError) => err.kmsName === 'KMSInternalException');
  });
});

describe('an alias re-pointed between the decision and the operation', () => {
  test('the operation runs on the key that was decided on, not the alias\'s new target', async () => {
    const deps = server.keybridge.deps;
    const allowed = (await must('CreateKey', { Description: 'allowed' })).KeyMetadata;
    const other = (await must('CreateKey', { Description: 'other' })).KeyMetadata;
    await must('CreateAlias', { AliasName: 'alias/race', TargetKeyId: allowed.KeyId });

    for (const name of ['DescribeKey', 'Encrypt', 'GenerateDataKey']) {
      await must('UpdateAlias', { AliasName: 'alias/race', TargetKeyId: allowed.KeyId });
      const operation = OPERATIONS_BY_NAME.get(name)!;
      const body = name === 'Encrypt' ? { KeyId: 'alias/race', Plaintext: Buffer.from('x').toString('base64') } : name === 'GenerateDataKey' ? { KeyId: 'alias/race', KeySpec: 'AES_256' } : { KeyId: 'alias/race' };
      const input = parseInput(operation.input, body);
      const decision = await authorizeRequest(rootContext(), deps, name, input as Record<string, unknown>);
      assert.equal(decision.key?.keyId, allowed.KeyId);
      // Between the decision and the operation, the alias moves to another key.
      await must('UpdateAlias', { AliasName: 'alias/race', TargetKeyId: other.KeyId });
      const output = (await operation.run(rootContext(), withResolvedKeys(deps, decision.keys), input)) as { KeyId?: string; KeyMetadata?: { KeyId: string } };
      const used = output.KeyMetadata?.KeyId ?? output.KeyId;
      assert.ok(used === allowed.KeyId || used === allowed.Arn, `${name} ran on ${used}, not on the decided key ${allowed.Arn}`);
    }
  });

  test('UpdateAlias and DeleteAlias change the alias only while it points at the key they were authorized on', async () => {
    const deps = server.keybridge.deps;
    const first = (await must('CreateKey', { Description: 'first' })).KeyMetadata;
    const second = (await must('CreateKey', { Description: 'second' })).KeyMetadata;
    const third = (await must('CreateKey', { Description: 'third' })).KeyMetadata;
    await must('CreateAlias', { AliasName: 'alias/cas', TargetKeyId: first.KeyId });

    for (const [name, body] of [
      ['UpdateAlias', { AliasName: 'alias/cas', TargetKeyId: third.KeyId }],
      ['DeleteAlias', { AliasName: 'alias/cas' }],
    ] as const) {
      await must('UpdateAlias', { AliasName: 'alias/cas', TargetKeyId: first.KeyId });
      const operation = OPERATIONS_BY_NAME.get(name)!;
      const input = parseInput(operation.input, body);
      const decision = await authorizeRequest(rootContext(), deps, name, input as Record<string, unknown>);
      assert.equal(decision.key?.keyId, first.KeyId, 'decided on the alias\'s target at the time');
      await must('UpdateAlias', { AliasName: 'alias/cas', TargetKeyId: second.KeyId });
      await assert.rejects(operation.run(rootContext(), withResolvedKeys(deps, decision.keys), input), (err: KmsError) => {
        assert.equal(err.kmsName, 'ConflictException', `${name}: ${err.message}`);
        return true;
      });
      const alias = await deps.store.getAlias('alias/cas');
      assert.equal(alias?.keyId, second.KeyId, `${name} left the re-pointed alias alone`);
    }
  });

  test('a key that does not exist is refused by the decision itself (NotFoundException), not left to the operation', async () => {
    const deps = server.keybridge.deps;
    await assert.rejects(authorizeRequest(rootContext(), deps, 'Encrypt', { KeyId: 'alias/no-such-alias', Plaintext: Buffer.from('x') }), (err: KmsError) => {
      assert.equal(err.kmsName, 'NotFoundException');
      return true;
    });
    await assert.rejects(authorizeRequest(rootContext(), deps, 'Decrypt', { CiphertextBlob: Buffer.from('not a ciphertext') }), (err: KmsError) => {
      assert.equal(err.kmsName, 'InvalidCiphertextException');
      return true;
    });
  });
});
