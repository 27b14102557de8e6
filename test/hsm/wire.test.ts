// What crosses to an executor worker (src/hsm/pkcs11/wire.ts): a Buffer never carries the bytes
// around it (Node's pooled Buffers share 8 KiB with other data), large buffers are moved, and
// errors keep their outcome code and CKR.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MessageChannel } from 'node:worker_threads';

import { errorFromWire, errorToWire, fromWire, toWire } from '../../src/hsm/pkcs11/wire.js';
import { HsmError } from '../../src/ports/hsm.js';

function across(value: unknown): Promise<unknown> {
  const { port1, port2 } = new MessageChannel();
  const transfer: ArrayBuffer[] = [];
  const wire = toWire(value, transfer);
  return new Promise((resolve) => {
    port2.once('message', (message: unknown) => {
      port1.close();
      port2.close();
      resolve(fromWire(message));
    });
    port1.postMessage(wire, transfer);
  });
}

test('a view into a larger buffer crosses alone: the bytes around it stay behind', async () => {
  const secretNeighbour = Buffer.from('other request data '.repeat(20));
  const whole = Buffer.concat([secretNeighbour, Buffer.from('plaintext'), secretNeighbour]);
  const view = whole.subarray(secretNeighbour.length, secretNeighbour.length + 9);
  const [got] = (await across([view])) as [Buffer];
  assert.ok(Buffer.isBuffer(got));
  assert.equal(got.toString(), 'plaintext');
  assert.equal(got.buffer.byteLength, 9, 'only the view\'s own bytes crossed');
  assert.equal(view.toString(), 'plaintext', 'the sender\'s buffer is intact');
});

test('nested Buffers come back as Buffers; large ones are moved, the sender keeps its own', async () => {
  const big = Buffer.alloc(100 * 1024, 7);
  const transfer: ArrayBuffer[] = [];
  toWire({ a: [big] }, transfer);
  assert.equal(transfer.length, 1, 'a large buffer is transferred (as a copy)');
  assert.equal(big.length, 100 * 1024, 'the sender\'s buffer is not detached');
  const got = (await across({ ref: { id: 'x' }, parts: [Buffer.from('iv'), big] })) as { ref: { id: string }; parts: Buffer[] };
  assert.equal(got.ref.id, 'x');
  assert.ok(got.parts.every((part) => Buffer.isBuffer(part)));
  assert.deepEqual(got.parts[1], big);
});

test('errors keep their outcome code and CKR; anything else becomes HSM_FAILED', () => {
  const back = errorFromWire(errorToWire(new HsmError('HSM_TIMEOUT', 'slow', { ckr: 0x30 })));
  assert.equal(back.code, 'HSM_TIMEOUT');
  assert.equal(back.ckr, 0x30);
  assert.equal(back.message, 'slow');
  const other = errorFromWire(errorToWire(new TypeError('boom')));
  assert.equal(other.code, 'HSM_FAILED');
  assert.match(other.message, /TypeError: boom/);
});
