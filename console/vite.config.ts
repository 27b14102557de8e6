// Builds the web console (issue #18) into dist/console-app, which src/http/console.ts serves at
// /console. Every asset is bundled and served by keybridge itself: no CDN, no inline script or
// style, no data: URL, so the page runs under a strict Content-Security-Policy.

import { fileURLToPath } from 'node:url';

import preact from '@preact/preset-vite';
import { defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/console/',
  plugins: [preact()],
  logLevel: 'warn',
  build: {
    // Not dist/console: tsc puts there what the unit tests import from console/src (lockout.ts).
    outDir: fileURLToPath(new URL('../dist/console-app', import.meta.url)),
    emptyOutDir: true,
    // Inlined assets would be data: URLs, which the CSP refuses.
    assetsInlineLimit: 0,
    // Every browser that runs the console supports modulepreload; the polyfill is not needed.
    modulePreload: { polyfill: false },
    sourcemap: false,
    chunkSizeWarningLimit: 2048,
  },
});
