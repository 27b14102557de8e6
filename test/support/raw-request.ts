// Hand-built requests to a test server, signed with SigV4 by AWS's own signer, so tests can send
// what no SDK would: malformed JSON, wrong types, odd headers, oversized bodies.

import { request } from 'node:http';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import type { TestServer } from './server.js';

export interface RawResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
  readonly json: any;
}

export interface RawRequest {
  readonly target?: string;
  readonly body?: string | Buffer;
  readonly headers?: Record<string, string>;
  readonly contentType?: string | null;
  /** false = send unsigned. */
  readonly sign?: boolean;
  readonly credentials?: { accessKeyId: string; secretAccessKey: string };
  readonly region?: string;
  readonly signingDate?: Date;
  readonly method?: string;
  readonly path?: string;
}

export async function rawRequest(server: Pick<TestServer, 'url' | 'region' | 'credentials'>, req: RawRequest): Promise<RawResponse> {
  const url = new URL(server.url);
  const body = req.body === undefined ? Buffer.alloc(0) : Buffer.isBuffer(req.body) ? req.body : Buffer.from(req.body);
  let headers: Record<string, string> = {
    host: url.host,
    ...(req.contentType === null ? {} : { 'content-type': req.contentType ?? 'application/x-amz-json-1.1' }),
    ...(req.target === undefined ? {} : { 'x-amz-target': req.target }),
    ...req.headers,
  };
  if (req.sign !== false) {
    const signer = new SignatureV4({
      credentials: req.credentials ?? server.credentials,
      region: req.region ?? server.region,
      service: 'kms',
      sha256: Hash.bind(null, 'sha256'),
    });
    const signed = await signer.sign(
      { method: req.method ?? 'POST', protocol: 'http:', hostname: url.hostname, port: Number(url.port), path: req.path ?? '/', headers, body, query: {} },
      req.signingDate ? { signingDate: req.signingDate } : {},
    );
    headers = signed.headers as Record<string, string>;
  }
  return sendHttp(url, req.method ?? 'POST', req.path ?? '/', headers, body);
}

/** One plain-HTTP request with exactly these headers (and Content-Length); the answer read whole. */
export function sendHttp(url: URL, method: string, path: string, headers: Record<string, string>, body: Buffer): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const r = request({ host: url.hostname, port: url.port, method, path, headers: { ...headers, 'content-length': String(body.length) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = text ? JSON.parse(text) : undefined;
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text, json });
      });
    });
    r.on('error', reject);
    r.end(body);
  });
}
