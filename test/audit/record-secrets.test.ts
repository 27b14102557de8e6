// No plaintext, ciphertext, key material, password or token ever reaches an audit record: every
// registered operation, with a body whose every secret-bearing member (and an unknown member)
// holds a marker, and a response full of markers, on success and on failure. The marker is also
// looked for in the database file bytes after the records were committed.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import pino from 'pino';
import { AuditTrail } from '../../src/audit/audit-store.js';
import { REQUEST_MEMBERS, SECRET_MEMBERS } from '../../src/audit/operation-rules.js';
import { buildApiCallEvent } from '../../src/audit/record.js';
import { OPERATIONS } from '../../src/operations/registry.js';

const MARKER = 'TOP-SECRET-MARKER-7f3a';
const MARKER_B64 = Buffer.from(MARKER).toString('base64');
const dir = mkdtempSync(join(tmpdir(), 'keybridge-audit-secrets-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function schemaMembers(op: (typeof OPERATIONS)[number]): string[] {
  const shape = (op.input as unknown as { shape?: Record<string, unknown> }).shape;
  assert.ok(shape, `${op.name}: input schema has no object shape to classify`);
  return Object.keys(shape);
}

test('every member of every registered operation is classified: recorded (allowlist) or secret', () => {
  for (const op of OPERATIONS) {
    const allowed = REQUEST_MEMBERS[op.name];
    assert.ok(allowed, `${op.name} has no requestParameters rule in src/audit/operation-rules.ts`);
    for (const member of schemaMembers(op)) {
      assert.ok(allowed.includes(member) || SECRET_MEMBERS.has(member), `${op.name}.${member} is neither recorded nor listed as secret`);
    }
    for (const member of allowed) assert.ok(!SECRET_MEMBERS.has(member), `${op.name}.${member} is both allowed and secret`);
  }
});

function secretBody(members: readonly string[]): Record<string, unknown> {
  const body: Record<string, unknown> = { UnknownMember: MARKER, Nested: { Plaintext: MARKER } };
  for (const m of members) if (SECRET_MEMBERS.has(m)) body[m] = m === 'GrantTokens' ? [MARKER] : m === 'Recipient' ? { AttestationDocument: MARKER_B64 } : MARKER_B64;
  for (const m of SECRET_MEMBERS) body[m] ??= MARKER_B64;
  return body;
}

const RESPONSE = {
  Plaintext: MARKER_B64, CiphertextBlob: MARKER_B64, CiphertextForRecipient: MARKER_B64, Policy: MARKER, GrantToken: MARKER,
  KeyMetadata: { Arn: 'arn:aws:kms:us-east-1:111122223333:key/k', Plaintext: MARKER_B64, Nested: [{ KeyStorePassword: MARKER }] },
  PrivateKeyPlaintext: MARKER_B64, PublicKey: MARKER_B64, Signature: MARKER_B64, Mac: MARKER_B64,
};

test('the marker never appears in a record or in the audit database, for every operation, on success and failure', async () => {
  const trail = await AuditTrail.open({ path: join(dir, 'audit.db'), logger: pino({ level: 'silent' }) });
  const records: string[] = [];
  for (const op of OPERATIONS) {
    const request = secretBody(schemaMembers(op));
    for (const error of [undefined, { name: 'ValidationException', message: 'bad input' }]) {
      const event = buildApiCallEvent({
        time: new Date(), requestId: 'r', region: 'us-east-1', account: '111122223333', sourceIp: '127.0.0.1', userAgent: 'test',
        principal: { type: 'IAMUser', arn: 'arn:aws:iam::111122223333:user/a', accountId: '111122223333' },
        eventName: op.name, request, response: RESPONSE, ...(error ? { error } : {}),
        key: { arn: 'arn:aws:kms:us-east-1:111122223333:key/k', accountId: '111122223333' },
      });
      const text = JSON.stringify(event);
      assert.ok(!text.includes(MARKER) && !text.includes(MARKER_B64), `${op.name}: ${text}`);
      records.push(text);
      await trail.append(event);
    }
  }
  await trail.close();
  assert.ok(records.length >= OPERATIONS.length * 2);
  for (const f of readdirSync(dir)) {
    const bytes = readFileSync(join(dir, f));
    assert.ok(!bytes.includes(MARKER) && !bytes.includes(MARKER_B64), `${f} contains the marker`);
  }
});
