// The web console (issue #18) at /console on the KMS listener: the page Vite built into
// dist/console-app, read once at start and served from memory, under a strict Content-Security-Policy
// (only our own scripts, styles and API; no inline code, no frames, no other origin).
//
// The page holds no authority of its own: it signs every call in the browser with the caller's
// access key (SigV4) against POST /, exactly as the AWS CLI would. /console/config.json tells it
// the region to sign for, nothing else.

import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Logger } from 'pino';

/** Where the build puts the console: dist/console-app, beside dist/src (console/vite.config.ts). */
export const CONSOLE_ASSETS_DIR = fileURLToPath(new URL('../../console-app', import.meta.url));

export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "font-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
};

interface Asset {
  readonly body: Buffer;
  readonly type: string;
}

export interface ConsoleOptions {
  readonly region: string;
  /** The built page; CONSOLE_ASSETS_DIR unless a test points elsewhere. */
  readonly directory?: string;
  /** Sent as Strict-Transport-Security when the listener is HTTPS. */
  readonly https: boolean;
  readonly logger: Logger;
}

/** Every file under `directory`, by its URL path below /console/ ("index.html", "assets/x.js"). */
function readAssets(directory: string): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else assets.set(relative(directory, path).split(sep).join('/'), { body: readFileSync(path), type: TYPES[extname(name)] ?? 'application/octet-stream' });
    }
  };
  walk(directory);
  return assets;
}

function secure(reply: FastifyReply, https: boolean): FastifyReply {
  reply
    .header('content-security-policy', CONSOLE_CSP)
    .header('x-content-type-options', 'nosniff')
    .header('x-frame-options', 'DENY')
    .header('referrer-policy', 'no-referrer')
    .header('cross-origin-opener-policy', 'same-origin')
    .header('cross-origin-resource-policy', 'same-origin')
    .header('permissions-policy', 'camera=(), microphone=(), geolocation=(), payment=()');
  if (https) reply.header('strict-transport-security', 'max-age=31536000');
  return reply;
}

/**
 * Registers GET /console (a redirect), /console/ (the page), /console/config.json and the page's
 * assets. When the page was not built, /console says so instead of failing.
 */
export function registerConsole(app: FastifyInstance, options: ConsoleOptions): void {
  const directory = options.directory ?? CONSOLE_ASSETS_DIR;
  const assets = existsSync(join(directory, 'index.html')) ? readAssets(directory) : undefined;
  if (assets === undefined) options.logger.warn({ directory }, 'the web console is not built (npm run build); /console answers 503');
  const config = Buffer.from(JSON.stringify({ region: options.region }), 'utf8');

  app.get('/console', async (_request, reply) => secure(reply, options.https).redirect('/console/', 302));
  app.get('/console/config.json', async (_request, reply) =>
    secure(reply, options.https).header('cache-control', 'no-store').type('application/json; charset=utf-8').send(config),
  );
  app.get('/console/*', async (request, reply) => {
    secure(reply, options.https);
    if (assets === undefined) {
      return reply.code(503).header('cache-control', 'no-store').type('text/plain; charset=utf-8').send('The keybridge console is not built: run `npm run build`.\n');
    }
    const path = (request.params as { '*': string })['*'];
    const asset = assets.get(path === '' ? 'index.html' : path);
    if (asset === undefined) return reply.code(404).header('cache-control', 'no-store').type('text/plain; charset=utf-8').send('Not found.\n');
    // Vite names every asset by its content hash: it never changes under its name.
    reply.header('cache-control', path.startsWith('assets/') ? 'public, max-age=31536000, immutable' : 'no-store');
    return reply.type(asset.type).send(asset.body);
  });
}
