// Requests signed by real AWS signers, shaped as the verifier receives them from Node's HTTP
// server (lower-case header names, a Buffer body). Each client picks its own set of headers to
// sign, which is exactly what the verifier must cope with.

import { spawnSync } from 'node:child_process';
import { Readable } from 'node:stream';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import { KMSClient } from '@aws-sdk/client-kms';
import type { SigV4Request } from '../../src/auth/sigv4-verifier.js';

export interface Creds {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

export type Headers = Record<string, string>;

/** Smithy's HttpRequest interface, reached through a direct dependency's signature. */
type SmithyHttpRequest = Parameters<SignatureV4['presign']>[0];

export interface SignedRequest extends SigV4Request {
  readonly headers: Headers;
}

/** A copy with some headers replaced (undefined deletes) and optionally another body. */
export function alter(req: SignedRequest, headers: Record<string, string | undefined>, body?: Buffer): SignedRequest {
  const copy: Headers = { ...req.headers };
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) delete copy[name];
    else copy[name] = value;
  }
  return { ...req, headers: copy, body: body ?? req.body };
}

export function signedHeadersOf(req: SignedRequest): string {
  const auth = req.headers.authorization ?? '';
  const start = auth.indexOf('SignedHeaders=') + 'SignedHeaders='.length;
  return auth.slice(start, auth.indexOf(',', start));
}

export function signatureOf(req: SignedRequest): string {
  const auth = req.headers.authorization ?? '';
  return auth.slice(auth.indexOf('Signature=') + 'Signature='.length);
}

/** Signs with @smithy/signature-v4 directly, for requests no SDK would produce. */
export async function smithySign(opts: {
  creds: Creds;
  region: string;
  service?: string;
  date: Date;
  method?: string;
  path?: string;
  query?: Record<string, string>;
  headers: Headers;
  body: Buffer;
  signableHeaders?: Set<string>;
  unsignableHeaders?: Set<string>;
  applyChecksum?: boolean;
}): Promise<SignedRequest> {
  const signer = new SignatureV4({
    credentials: opts.creds,
    region: opts.region,
    service: opts.service ?? 'kms',
    sha256: Hash.bind(null, 'sha256'),
    applyChecksum: opts.applyChecksum ?? false,
  });
  const signed = await signer.sign(
    {
      method: opts.method ?? 'POST',
      protocol: 'https:',
      hostname: opts.headers.host ?? 'localhost',
      path: opts.path ?? '/',
      query: opts.query ?? {},
      headers: { ...opts.headers },
      body: opts.body,
    },
    { signingDate: opts.date, signableHeaders: opts.signableHeaders, unsignableHeaders: opts.unsignableHeaders },
  );
  const headers: Headers = {};
  for (const [name, value] of Object.entries(signed.headers)) headers[name.toLowerCase()] = value;
  const query = new URLSearchParams(opts.query ?? {}).toString().replace(/\+/g, '%20');
  return { method: opts.method ?? 'POST', path: opts.path ?? '/', query, headers, body: opts.body };
}

/**
 * Runs a real `@aws-sdk/client-kms` call, capturing the signed request in a custom request
 * handler (which answers with a canned 200). `nowMs` fixes the signing clock through the SDK's
 * own `systemClockOffset`.
 */
export async function captureJsSdkRequest(opts: {
  creds: Creds;
  region: string;
  endpoint: string;
  nowMs: number;
  call: (client: KMSClient) => Promise<unknown>;
}): Promise<SignedRequest> {
  let captured: SignedRequest | undefined;
  const client = new KMSClient({
    region: opts.region,
    endpoint: opts.endpoint,
    credentials: opts.creds,
    systemClockOffset: opts.nowMs - Date.now(),
    maxAttempts: 1,
    requestHandler: {
      handle: async (request: SmithyHttpRequest) => {
        const headers: Headers = {};
        for (const [name, value] of Object.entries(request.headers)) headers[name.toLowerCase()] = value;
        const body = request.body === undefined ? Buffer.alloc(0) : Buffer.from(request.body as string | Uint8Array);
        captured = { method: request.method, path: request.path, query: '', headers, body };
        return {
          response: {
            statusCode: 200,
            headers: { 'content-type': 'application/x-amz-json-1.1' },
            body: Readable.from([Buffer.from('{}')]),
          },
        };
      },
    },
  });
  try {
    await opts.call(client);
  } finally {
    client.destroy();
  }
  if (captured === undefined) throw new Error('the SDK sent no request');
  return captured;
}

/**
 * The Python that botocore-signing tests run: the system's, where Debian's python3-boto3 puts
 * boto3 and botocore. Not whatever `python3` is first on PATH: a pyenv or virtualenv Python with
 * its own boto3 would hide a machine on which the packaged set-up is incomplete. (Debian's
 * awscli carries a private botocore that /usr/bin/python3 cannot import.)
 */
export const SYSTEM_PYTHON = '/usr/bin/python3';
/** The Debian package that gives SYSTEM_PYTHON boto3 and botocore (scripts/test.sh installs it). */
export const BOTO3_PACKAGE = 'python3-boto3';

function probeBoto3(): string | false {
  const probe = spawnSync(SYSTEM_PYTHON, ['-c', 'import boto3, botocore.auth'], { encoding: 'utf8' });
  if (probe.status === 0) return false;
  const why = probe.error !== undefined ? probe.error.message : probe.stderr.trim().split('\n').at(-1) ?? `exit ${probe.status}`;
  return `${SYSTEM_PYTHON} cannot import boto3/botocore (${why}): install the Debian package ${BOTO3_PACKAGE}`;
}

/** Why boto3/botocore cannot be used here, or false when they can. */
export const boto3Missing: string | false = probeBoto3();
/**
 * For `test(name, { skip: boto3Skip }, …)`: skips naming the missing package, except under
 * CI=true, where the set-up installs it and a missing botocore must fail the tests instead.
 */
export const boto3Skip: string | false = process.env.CI === 'true' ? false : boto3Missing;

// botocore reads the clock in auth.py: get_current_datetime() from 1.31 on, datetime.datetime.utcnow()
// before (Debian 12's python3-botocore is 1.29). Both are pinned, so the test's fixed date holds
// on either.
const BOTOCORE_SIGN = `
import json, sys, base64, datetime, types
import botocore.auth
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
p = json.load(sys.stdin)
when = datetime.datetime.strptime(p['date'], '%Y%m%dT%H%M%SZ')
class Pinned(datetime.datetime):
    @classmethod
    def utcnow(cls):
        return when
botocore.auth.datetime = types.SimpleNamespace(**{**vars(datetime), 'datetime': Pinned})
botocore.auth.get_current_datetime = lambda *a, **k: when
req = AWSRequest(method=p['method'], url=p['url'], data=base64.b64decode(p['body']), headers=p['headers'])
SigV4Auth(Credentials(p['accessKeyId'], p['secretAccessKey']), p['service'], p['region']).add_auth(req)
print(json.dumps(dict(req.headers.items())))
`;

/**
 * Signs with botocore's SigV4Auth (what boto3 and the AWS CLI use), in a SYSTEM_PYTHON subprocess.
 * botocore signs `host` from the URL without setting the header (its HTTP client does), so the
 * Host and Content-Length a server would see are added here.
 */
export function botocoreSign(opts: {
  creds: Creds;
  region: string;
  service?: string;
  amzDate: string;
  url: string;
  method?: string;
  headers: Headers;
  body: Buffer;
}): SignedRequest {
  const url = new URL(opts.url);
  if (boto3Missing) throw new Error(boto3Missing);
  const result = spawnSync(SYSTEM_PYTHON, ['-c', BOTOCORE_SIGN], {
    input: JSON.stringify({
      accessKeyId: opts.creds.accessKeyId,
      secretAccessKey: opts.creds.secretAccessKey,
      region: opts.region,
      service: opts.service ?? 'kms',
      date: opts.amzDate,
      url: opts.url,
      method: opts.method ?? 'POST',
      headers: opts.headers,
      body: opts.body.toString('base64'),
    }),
    encoding: 'utf8',
  });
  if (result.status !== 0) throw new Error(`botocore signing failed: ${result.stderr}`);
  const headers: Headers = { host: url.host, 'content-length': String(opts.body.length) };
  for (const [name, value] of Object.entries(JSON.parse(result.stdout) as Headers)) {
    headers[name.toLowerCase()] = value;
  }
  return { method: opts.method ?? 'POST', path: url.pathname, query: url.search.slice(1), headers, body: opts.body };
}
