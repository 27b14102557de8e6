// End to end over HTTP: the real AWS CLI, boto3 and @aws-sdk/client-kms call a Node server that
// authenticates with SigV4Verifier, so header names, values and paths are exactly what Node hands
// the verifier in production.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { KMSClient, ListKeysCommand } from '@aws-sdk/client-kms';
import { SigV4Verifier } from '../../src/auth/sigv4-verifier.js';
import { StaticCredentials } from '../../src/auth/static-credentials.js';
import { KmsError } from '../../src/domain/errors.js';
import { boto3Skip, SYSTEM_PYTHON } from './signing-clients.js';

const run = promisify(execFile);
const REGION = 'us-east-1';
const KEY = {
  accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
  principal: { arn: 'arn:aws:iam::111122223333:root', accountId: '111122223333', type: 'Root' as const },
};

describe('real clients over HTTP', () => {
  let server: Server;
  let endpoint = '';
  /** SignedHeaders of each request that verified, with its User-Agent. */
  const seen: Array<{ userAgent: string; signedHeaders: string }> = [];
  /** What the client with this User-Agent prefix signed; each test looks up only its own client. */
  const signedBy = (prefix: string) => seen.find((s) => s.userAgent.startsWith(prefix))?.signedHeaders;

  before(async () => {
    const verifier = new SigV4Verifier({
      credentials: new StaticCredentials([KEY]),
      region: REGION,
      service: 'kms',
      maxSkewMs: 5 * 60_000,
    });
    server = createServer((req, res) => {
      void handle(req).then(
        ({ status, body }) => {
          res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' });
          res.end(body);
        },
        () => {
          res.writeHead(500);
          res.end();
        },
      );
    });
    async function handle(req: IncomingMessage): Promise<{ status: number; body: string }> {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const url = req.url ?? '/';
      const q = url.indexOf('?');
      try {
        await verifier.verify({
          method: req.method ?? 'GET',
          path: q < 0 ? url : url.slice(0, q),
          query: q < 0 ? '' : url.slice(q + 1),
          headers: req.headers,
          body: Buffer.concat(chunks),
        });
      } catch (err) {
        if (!(err instanceof KmsError)) throw err;
        return { status: err.status, body: JSON.stringify({ __type: err.kmsName, message: err.message }) };
      }
      const auth = req.headers.authorization ?? '';
      const from = auth.indexOf('SignedHeaders=') + 'SignedHeaders='.length;
      seen.push({ userAgent: req.headers['user-agent'] ?? '', signedHeaders: auth.slice(from, auth.indexOf(',', from)) });
      return { status: 200, body: '{"Keys":[],"Truncated":false}' };
    }
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  function cliEnv(secret: string): NodeJS.ProcessEnv {
    return {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      AWS_ACCESS_KEY_ID: KEY.accessKeyId,
      AWS_SECRET_ACCESS_KEY: secret,
      AWS_CONFIG_FILE: '/dev/null',
      AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
      AWS_MAX_ATTEMPTS: '1',
      AWS_PAGER: '',
    };
  }

  test('@aws-sdk/client-kms: valid call succeeds, wrong secret gets InvalidSignatureException', async () => {
    const ok = new KMSClient({ region: REGION, endpoint, credentials: KEY, maxAttempts: 1 });
    const out = await ok.send(new ListKeysCommand({}));
    assert.deepEqual(out.Keys, []);
    ok.destroy();
    const js = signedBy('aws-sdk-js/') ?? '';
    for (const name of ['content-type', 'host', 'x-amz-content-sha256', 'x-amz-date', 'x-amz-target']) {
      assert.ok(js.split(';').includes(name), js);
    }

    const bad = new KMSClient({ region: REGION, endpoint, credentials: { ...KEY, secretAccessKey: 'wrong' }, maxAttempts: 1 });
    await assert.rejects(bad.send(new ListKeysCommand({})), (err: Error) => {
      assert.equal(err.name, 'InvalidSignatureException');
      assert.match(err.message, /^The request signature we calculated does not match/);
      return true;
    });
    bad.destroy();
  });

  test('boto3: valid call succeeds, unknown key gets UnrecognizedClientException', { skip: boto3Skip }, async () => {
    const script = `
import boto3, json, sys
from botocore.exceptions import ClientError
c = boto3.client('kms', endpoint_url=sys.argv[1], region_name='${REGION}', aws_access_key_id=sys.argv[2], aws_secret_access_key=sys.argv[3])
try:
    print(json.dumps({'ok': c.list_keys()['Keys']}))
except ClientError as e:
    print(json.dumps({'error': e.response['Error']['Code'], 'message': e.response['Error']['Message']}))
`;
    const good = await run(SYSTEM_PYTHON, ['-c', script, endpoint, KEY.accessKeyId, KEY.secretAccessKey], { env: cliEnv(KEY.secretAccessKey) });
    assert.deepEqual(JSON.parse(good.stdout), { ok: [] });
    assert.equal(signedBy('Boto3/'), 'content-type;host;x-amz-date;x-amz-target');
    const unknown = await run(SYSTEM_PYTHON, ['-c', script, endpoint, 'AKIAUNKNOWN000000000', 'x'], { env: cliEnv('x') });
    assert.deepEqual(JSON.parse(unknown.stdout), {
      error: 'UnrecognizedClientException',
      message: 'The security token included in the request is invalid.',
    });
  });

  test('AWS CLI v2: valid call succeeds, wrong secret fails with InvalidSignatureException', async () => {
    const good = await run('/usr/bin/aws', ['kms', 'list-keys', '--endpoint-url', endpoint, '--region', REGION, '--output', 'json'], {
      env: cliEnv(KEY.secretAccessKey),
    });
    assert.deepEqual(JSON.parse(good.stdout).Keys, []);
    assert.equal(signedBy('aws-cli/2'), 'content-type;host;x-amz-date;x-amz-target');
    await assert.rejects(
      run('/usr/bin/aws', ['kms', 'list-keys', '--endpoint-url', endpoint, '--region', REGION], { env: cliEnv('wrong') }),
      (err: Error & { stderr?: string }) => {
        assert.match(err.stderr ?? '', /InvalidSignatureException/);
        return true;
      },
    );
  });
});
