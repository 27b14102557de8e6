// Wire members shared by the custom key store operations (reference §1.10).

import { X509Certificate } from 'node:crypto';
import { z } from 'zod';
import { KmsError } from '../domain/errors.js';
import { secretStr, str } from './wire.js';

export const customKeyStoreIdMember = str(1, 64);
export const customKeyStoreNameMember = str(1, 256);
export const cloudHsmClusterIdMember = str(19, 24);
export const keyStorePasswordMember = secretStr(7, 32);

/** External key store (XKS) members: accepted on the wire, refused as unsupported. */
export const xksMembers = {
  XksProxyUriEndpoint: str(10, 128).optional(),
  XksProxyUriPath: str(10, 128).optional(),
  XksProxyVpcEndpointServiceName: str(20, 64).optional(),
  XksProxyVpcEndpointServiceOwner: str(12, 12).optional(),
  XksProxyAuthenticationCredential: z.object({ AccessKeyId: str(20, 30), RawSecretAccessKey: secretStr(43, 64) }).optional(),
  XksProxyConnectivity: z.enum(['PUBLIC_ENDPOINT', 'VPC_ENDPOINT_SERVICE']).optional(),
};

export function refuseXks(input: Record<string, unknown>): void {
  if (Object.keys(xksMembers).some((member) => input[member] !== undefined)) {
    throw new KmsError('UnsupportedOperationException', 'External key stores (XKS) are not supported by keybridge; use CustomKeyStoreType AWS_CLOUDHSM.');
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
