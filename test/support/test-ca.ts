// A throw-away certificate authority made with openssl, for TLS and mutual-TLS tests: P-256 keys,
// one-day certificates, files in a directory the caller owns.

import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Pem {
  /** Paths of the PEM files. */
  readonly key: string;
  readonly cert: string;
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: 'ignore' });
}

/**
 * A P-256 key and a certificate for `cn` in `dir` (`name`.key, `name`.pem): signed by `ca`, or
 * self-signed (a CA) when `ca` is absent. `san` e.g. 'DNS:localhost,IP:127.0.0.1'.
 */
export function issueCertificate(dir: string, name: string, cn: string, ca?: Pem, san?: string): Pem {
  const key = join(dir, `${name}.key`);
  const cert = join(dir, `${name}.pem`);
  if (ca === undefined) {
    openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', `/CN=${cn}`, '-keyout', key, '-out', cert]);
    return { key, cert };
  }
  const csr = join(dir, `${name}.csr`);
  openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', `/CN=${cn}`, '-keyout', key, '-out', csr]);
  const ext = join(dir, `${name}.ext`);
  writeFileSync(ext, san === undefined ? 'basicConstraints=CA:FALSE\n' : `basicConstraints=CA:FALSE\nsubjectAltName=${san}\n`);
  openssl(['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-days', '1', '-extfile', ext, '-out', cert]);
  return { key, cert };
}
