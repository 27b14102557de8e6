// The image's HEALTHCHECK (docker/Dockerfile, docker/compose.yml): exits 0 when keybridge answers
// GET /readyz with 200, 1 otherwise. It reads the configuration the server reads (KEYBRIDGE_CONFIG
// and the KEYBRIDGE_* overrides), so it follows the configured host, port and TLS, and needs no
// curl in the image.

import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { loadConfig } from '../src/config/load.js';

const TIMEOUT_MS = 3000;

function fail(reason: string): never {
  process.stderr.write(`keybridge healthcheck: ${reason}\n`);
  process.exit(1);
}

let config: ReturnType<typeof loadConfig>;
try {
  config = loadConfig();
} catch (err) {
  fail((err as Error).message);
}
const { host: listenHost, port, tls } = config.listen;
if (port === 0) fail('the configured port is 0 (chosen at start); nothing to check');
// A wildcard address is reached through the loopback interface of the same family.
const host = listenHost === '0.0.0.0' ? '127.0.0.1' : listenHost === '::' ? '::1' : listenHost;

const request = tls ? httpsRequest : httpRequest;
// A health check asks "is it serving?", not "is its certificate trusted?".
const req = request({ host, port, path: '/readyz', method: 'GET', timeout: TIMEOUT_MS, ...(tls ? { rejectUnauthorized: false } : {}) }, (res) => {
  res.resume();
  if (res.statusCode === 200) process.exit(0);
  fail(`/readyz answered ${res.statusCode}`);
});
req.on('timeout', () => req.destroy(new Error(`no answer within ${TIMEOUT_MS} ms`)));
req.on('error', (err) => fail(`${tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}/readyz: ${err.message}`));
req.end();
