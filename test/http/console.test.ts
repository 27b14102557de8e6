// The web console's HTTP side (src/http/console.ts): the built page and its assets under a strict
// Content-Security-Policy, nothing inline, nothing outside dist/console, and none of it when the
// configuration turns the console off. The page's behaviour is tested in a real browser
// (test/e2e/console.test.ts).

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { loadConfig } from '../../src/config/load.js';
import { CONSOLE_CSP } from '../../src/http/console.js';
import { startServer, type TestServer } from '../support/server.js';

describe('the console served at /console', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server?.destroy();
  });

  test('/console redirects to /console/, which is the page under the strict CSP', async () => {
    const redirect = await fetch(`${server.url}/console`, { redirect: 'manual' });
    assert.equal(redirect.status, 302);
    assert.equal(redirect.headers.get('location'), '/console/');

    const page = await fetch(`${server.url}/console/`);
    assert.equal(page.status, 200);
    assert.equal(page.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.equal(page.headers.get('content-security-policy'), CONSOLE_CSP);
    assert.match(CONSOLE_CSP, /default-src 'none'/);
    assert.match(CONSOLE_CSP, /script-src 'self'(;|$)/);
    assert.equal(page.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(page.headers.get('x-frame-options'), 'DENY');
    assert.equal(page.headers.get('referrer-policy'), 'no-referrer');
    assert.equal(page.headers.get('cache-control'), 'no-store');
    const html = await page.text();
    // Nothing inline (the CSP would refuse it) and nothing from another origin.
    assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/);
    assert.doesNotMatch(html, /\sstyle=/);
    assert.doesNotMatch(html, /(src|href)="(https?:)?\/\//);

    const assets = [...html.matchAll(/(?:src|href)="(\/console\/assets\/[^"]+)"/g)].map((m) => m[1]!);
    assert.ok(assets.some((a) => a.endsWith('.js')) && assets.some((a) => a.endsWith('.css')), `the page loads a script and a stylesheet: ${assets.join(', ')}`);
    for (const asset of assets) {
      const response = await fetch(`${server.url}${asset}`);
      assert.equal(response.status, 200, asset);
      assert.equal(response.headers.get('content-type'), asset.endsWith('.js') ? 'text/javascript; charset=utf-8' : 'text/css; charset=utf-8');
      assert.equal(response.headers.get('cache-control'), 'public, max-age=31536000, immutable');
      assert.equal(response.headers.get('content-security-policy'), CONSOLE_CSP);
      const text = await response.text();
      assert.ok(text.length > 0, asset);
      // Every module the page loads comes from this server.
      assert.doesNotMatch(text, /\bimport\s*\(?\s*["']https?:\/\//, `${asset} imports from another origin`);
    }
  });

  test('config.json tells the page the region to sign for, and nothing else', async () => {
    const response = await fetch(`${server.url}/console/config.json`);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('cache-control'), 'no-store');
    assert.deepEqual(await response.json(), { region: server.region });
  });

  test('only the built files are served: unknown names and paths out of the folder are 404', async () => {
    for (const path of ['/console/nope.js', '/console/assets/', '/console/../package.json', '/console/%2e%2e/package.json', '/console/..%2fpackage.json', '/console/assets/%2e%2e/%2e%2e/src/main.js']) {
      const response = await fetch(`${server.url}${path}`);
      assert.ok(response.status === 404, `${path}: ${response.status}`);
      assert.doesNotMatch(await response.text(), /"name":\s*"keybridge"|import /, path);
    }
  });

  test('the KMS API is unchanged beside it: POST /console is an AWS-shaped error, not the page', async () => {
    const response = await fetch(`${server.url}/console/`, { method: 'POST', body: '{}' });
    assert.equal(response.status, 404);
    const body = (await response.json()) as { __type: string };
    assert.equal(body.__type, 'UnknownOperationException');
  });
});

describe('the console turned off', () => {
  test('console.enabled false: /console is not served', async () => {
    const server = await startServer({ settings: { console: { enabled: false } } });
    try {
      for (const path of ['/console', '/console/', '/console/config.json']) {
        const response = await fetch(`${server.url}${path}`, { redirect: 'manual' });
        assert.equal(response.status, 404, path);
        assert.equal(((await response.json()) as { __type: string }).__type, 'UnknownOperationException');
      }
    } finally {
      await server.destroy();
    }
  });

  test('KEYBRIDGE_CONSOLE=false turns it off; a value other than true or false is refused by name', () => {
    assert.equal(loadConfig({ env: {} }).console.enabled, true);
    assert.equal(loadConfig({ env: { KEYBRIDGE_CONSOLE: 'false' } }).console.enabled, false);
    assert.equal(loadConfig({ env: { KEYBRIDGE_CONSOLE: 'true' } }).console.enabled, true);
    assert.throws(() => loadConfig({ env: { KEYBRIDGE_CONSOLE: 'off' } }), /console/);
  });
});
