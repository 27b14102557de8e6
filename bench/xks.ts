// The XKS proxy rows (issue #15): keybridge as AWS KMS's external key store proxy, on its own
// listener, with requests signed as AWS KMS signs them (SigV4, service kms-xks-proxy) and the
// requestMetadata AWS KMS sends. AWS KMS gives a proxy call 250 ms and an external key store
// 1,800 requests/second by default; the rows measure closed-loop rates and an open-loop run at
// that quota, whose p99 is the figure that matters.

import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import { atQuota } from './constant-rate.js';
import { CONCURRENCIES, load, type Row, type SignedRequest } from './measure.js';
import { freePort, startKeybridge } from './processes.js';
import { REGION, type Credentials } from './requests.js';

const URI_PATH = '/bench/kms/xks/v1';
const KEY_ID = 'bench-key';
/** AWS KMS's default request quota for an external key store. */
const XKS_QUOTA_RPS = 1800;
/** What a double-encrypted 32-byte data key is by the time it reaches the proxy (the inner KMS ciphertext). */
const INNER_CIPHERTEXT_BYTES = 96;
export const XKS_QUOTA_SCENARIO = `XKS proxy Decrypt @ ${XKS_QUOTA_RPS.toLocaleString('en')} rps`;
/** The scenarios of xksRows(), in order (one row per concurrency each, then the quota row); the smoke test checks them. */
export const XKS_ROWS = [`XKS proxy Encrypt ${INNER_CIPHERTEXT_BYTES} B (+CDIV)`, `XKS proxy Decrypt ${INNER_CIPHERTEXT_BYTES} B`, XKS_QUOTA_SCENARIO] as const;

const REQUEST_METADATA = {
  awsPrincipalArn: 'arn:aws:iam::111122223333:role/bench',
  kmsKeyArn: 'arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab',
  kmsOperation: 'GenerateDataKey',
  kmsRequestId: '4112f4d6-db54-4af4-ae30-c55a22a8dfae',
};

async function adminCall(url: string, credentials: Credentials, operation: string, body: object): Promise<Record<string, unknown>> {
  const signed = await sign(url, '/', credentials, 'kms', JSON.stringify(body), { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': `KeybridgeAdmin.${operation}` });
  const res = await fetch(`${url}/`, { method: 'POST', headers: signed.headers, body: signed.body });
  const out = (await res.json()) as Record<string, unknown>;
  if (!res.ok) throw new Error(`${operation}: ${JSON.stringify(out)}`);
  return out;
}

async function sign(url: string, path: string, credentials: Credentials, service: string, payload: string, headers: Record<string, string>): Promise<SignedRequest> {
  const { hostname, port, host } = new URL(url);
  const signer = new SignatureV4({ credentials, region: REGION, service, sha256: Hash.bind(null, 'sha256') });
  const signed = await signer.sign({ method: 'POST', protocol: 'http:', hostname, port: Number(port), path, query: {}, headers: { host, ...headers }, body: payload });
  return { headers: signed.headers as Record<string, string>, body: payload };
}

export async function xksRows(dist: string): Promise<Row[]> {
  const xksPort = await freePort();
  const kb = await startKeybridge(dist, { config: { xksProxy: { enabled: true, plainHttp: true, port: xksPort } } });
  const proxy = `http://127.0.0.1:${xksPort}`;
  const rows: Row[] = [];
  try {
    const credential = await adminCall(kb.url, kb.credentials, 'CreateXksCredential', { UriPath: URI_PATH });
    await adminCall(kb.url, kb.credentials, 'CreateXksKey', { UriPath: URI_PATH, XksKeyId: KEY_ID });
    const creds = { accessKeyId: credential.AccessKeyId as string, secretAccessKey: credential.RawSecretAccessKey as string };
    const proxyRequest = (op: string, body: object) => sign(proxy, `${URI_PATH}/keys/${KEY_ID}/${op}`, creds, 'kms-xks-proxy', JSON.stringify(body), { 'content-type': 'application/json' });

    const plaintext = Buffer.alloc(INNER_CIPHERTEXT_BYTES, 7).toString('base64');
    const aad = Buffer.from('kms-key-arn-and-context').toString('base64');
    const encryptBody = { requestMetadata: REQUEST_METADATA, plaintext, additionalAuthenticatedData: aad, encryptionAlgorithm: 'AES_GCM', ciphertextDataIntegrityValueAlgorithm: 'SHA_256' };
    const encrypt = await proxyRequest('encrypt', encryptBody);
    const sealed = (await (await fetch(`${proxy}${URI_PATH}/keys/${KEY_ID}/encrypt`, { method: 'POST', headers: encrypt.headers, body: encrypt.body })).json()) as Record<string, string>;
    const decrypt = await proxyRequest('decrypt', {
      requestMetadata: { ...REQUEST_METADATA, kmsOperation: 'Decrypt' },
      ciphertext: sealed.ciphertext,
      initializationVector: sealed.initializationVector,
      authenticationTag: sealed.authenticationTag,
      additionalAuthenticatedData: aad,
      encryptionAlgorithm: 'AES_GCM',
    });
    const scenarios: Array<[string, string, SignedRequest]> = [
      [XKS_ROWS[0], 'encrypt', encrypt],
      [XKS_ROWS[1], 'decrypt', decrypt],
    ];
    for (const [scenario, op, request] of scenarios) {
      const url = `${proxy}${URI_PATH}/keys/${KEY_ID}/${op}`;
      // Unmeasured first: JIT, executor workers, SQLite and audit caches.
      await load(`${scenario} (warm-up)`, 'keybridge', url, request, 64, undefined, kb.url);
      for (const c of CONCURRENCIES) rows.push(await load(scenario, 'keybridge', url, request, c, kb.child.pid, kb.url));
    }
    rows.push(await atQuota({ url: proxy, metricsUrl: kb.url, path: `${URI_PATH}/keys/${KEY_ID}/decrypt`, request: decrypt, pid: kb.child.pid, scenario: XKS_QUOTA_SCENARIO }));
  } finally {
    await kb.stop();
  }
  return rows;
}
