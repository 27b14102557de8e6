// SHA-256 and HMAC-SHA-256 for @smithy/signature-v4 from the browser's own WebCrypto (the signer
// takes a Checksum constructor: `new Sha256()` hashes, `new Sha256(secret)` is an HMAC).

import type { Checksum, SourceData } from '@smithy/types';

const encoder = new TextEncoder();

function bytesOf(data: SourceData): Uint8Array {
  if (typeof data === 'string') return encoder.encode(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return new Uint8Array(data);
}

export class WebSha256 implements Checksum {
  private chunks: Uint8Array[] = [];

  constructor(private readonly secret?: SourceData) {}

  update(data: Uint8Array | string): void {
    this.chunks.push(bytesOf(data).slice());
  }

  async digest(): Promise<Uint8Array> {
    const total = this.chunks.reduce((n, c) => n + c.length, 0);
    const message = new Uint8Array(total);
    let offset = 0;
    for (const chunk of this.chunks) {
      message.set(chunk, offset);
      offset += chunk.length;
    }
    if (this.secret === undefined) return new Uint8Array(await crypto.subtle.digest('SHA-256', message));
    const key = await crypto.subtle.importKey('raw', bytesOf(this.secret).slice(), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
    return new Uint8Array(await crypto.subtle.sign('HMAC', key, message));
  }

  reset(): void {
    this.chunks = [];
  }
}
