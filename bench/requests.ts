// What the benchmark sends: requests signed once with AWS's own signer (replayed for a whole run:
// a SigV4 signature stays valid for the 5-minute skew window (signatureMaxSkewMinutes)), and a key to send them for.

import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';

export const REGION = 'us-east-1';

export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
}

export async function signedRequest(url: string, credentials: Credentials, operation: string, body: object) {
  const { hostname, port, host } = new URL(url);
  const signer = new SignatureV4({ credentials, region: REGION, service: 'kms', sha256: Hash.bind(null, 'sha256') });
  const payload = JSON.stringify(body);
  const signed = await signer.sign({
    method: 'POST',
    protocol: 'http:',
    hostname,
    port: Number(port),
    path: '/',
    query: {},
    headers: { host, 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': `TrentService.${operation}` },
    body: payload,
  });
  return { headers: signed.headers as Record<string, string>, body: payload };
}

export async function createKey(url: string, credentials: Credentials): Promise<string> {
  const kms = new KMSClient({ region: REGION, endpoint: url, credentials, maxAttempts: 1 });
  try {
    const { KeyMetadata } = await kms.send(new CreateKeyCommand({ Description: 'bench' }));
    return KeyMetadata!.KeyId!;
  } finally {
    kms.destroy();
  }
}
