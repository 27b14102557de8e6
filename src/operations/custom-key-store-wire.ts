// Wire members shared by the custom key store operations (reference §1.10).

import { X509Certificate } from 'node:crypto';
import { z } from 'zod';
import { KmsError } from '../domain/errors.js';
import { secretStr, str } from './wire.js';

export const customKeyStoreIdMember = str(1, 64);
export const customKeyStoreNameMember = str(1, 256);
export const cloudHsmClusterIdMember = str(19, 24);
export const keyStorePasswordMember = secretStr(7, 32);

/** External key store (XKS) members, with the patterns of AWS's model (reference §2). */
export const xksMembers = {
  XksProxyUriEndpoint: str(10, 128).regex(/^https:\/\/[a-zA-Z0-9.-]+$/).optional(),
  XksProxyUriPath: str(10, 128).regex(/^(\/[a-zA-Z0-9/_-]+\/kms\/xks\/v\d{1,2})$|^(\/kms\/xks\/v\d{1,2})$/).optional(),
  XksProxyVpcEndpointServiceName: str(20, 64).regex(/^(com|eu)\.amazonaws\.vpce\.([a-z]+-){2,3}\d+\.vpce-svc-[0-9a-z]+$/).optional(),
  XksProxyVpcEndpointServiceOwner: str(12, 12).regex(/^[0-9]{12}$/).optional(),
  XksProxyAuthenticationCredential: z.object({ AccessKeyId: str(20, 30).regex(/^[A-Z2-7]+$/), RawSecretAccessKey: secretStr(43, 64) }).optional(),
  XksProxyConnectivity: z.enum(['PUBLIC_ENDPOINT', 'VPC_ENDPOINT_SERVICE']).optional(),
};

/** The members only an external key store takes: refused for a CloudHSM key store. */
export function refuseXks(input: Record<string, unknown>): void {
  const given = Object.keys(xksMembers).find((member) => input[member] !== undefined);
  if (given !== undefined) {
    throw new KmsError('ValidationException', `${given} is valid only for a custom key store of type EXTERNAL_KEY_STORE.`);
  }
}

/** The members only a CloudHSM key store takes: refused for an external key store. */
export function refuseCloudHsm(input: Record<string, unknown>): void {
  const given = ['CloudHsmClusterId', 'TrustAnchorCertificate', 'KeyStorePassword'].find((member) => input[member] !== undefined);
  if (given !== undefined) {
    throw new KmsError('ValidationException', `${given} is valid only for a custom key store of type AWS_CLOUDHSM.`);
  }
}

/** The secret's pattern (never echoed): [A-Za-z0-9/+=]. */
export function checkRawSecret(secret: string): void {
  if (!/^[a-zA-Z0-9/+=]+$/.test(secret)) {
    throw new KmsError(
      'ValidationException',
      "1 validation error detected: Value at 'xksProxyAuthenticationCredential.rawSecretAccessKey' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9\\/+=]+$",
    );
  }
}

export function checkClusterIdFormat(clusterId: string): void {
  if (!/^cluster-[2-7a-zA-Z]{11,16}$/.test(clusterId)) {
    throw new KmsError('CloudHsmClusterNotFoundException', `Cluster ID ${clusterId} is not valid: it must be "cluster-" followed by 11–16 characters of [2-7a-zA-Z].`);
  }
}

/**
 * The trust anchor must be one PEM certificate; when the cluster's definition names its own trust
 * anchor, the two must be the same certificate (IncorrectTrustAnchorException otherwise).
 */
export function checkTrustAnchor(pem: string, expectedPem: string | undefined, clusterId: string): void {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pem);
  } catch {
    throw new KmsError('IncorrectTrustAnchorException', 'TrustAnchorCertificate is not a PEM-encoded X.509 certificate.');
  }
  if (expectedPem !== undefined && !cert.raw.equals(new X509Certificate(expectedPem).raw)) {
    throw new KmsError('IncorrectTrustAnchorException', `TrustAnchorCertificate is not the trust anchor certificate of cluster ${clusterId}.`);
  }
}
