// Real headless Chromium for the web console's tests: Debian's `chromium` driven by
// playwright-core (never a downloaded browser). Screenshots go to the tests' output directory.

import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

import { type Browser, chromium, type Page } from 'playwright-core';

import { REPO_ROOT } from './repo-root.js';

export const CHROMIUM = process.env['KEYBRIDGE_CHROMIUM'] ?? '/usr/bin/chromium';

/**
 * For `test(name, { skip: chromiumSkip }, …)`: names the missing package when Debian's chromium is
 * not installed (scripts/test.sh installs it as root), except under CI=true, where the set-up
 * installs it and its absence must fail the tests instead.
 */
export const chromiumSkip: string | false =
  process.env['CI'] === 'true' || existsSync(CHROMIUM) ? false : `Debian's chromium is not installed at ${CHROMIUM} (apt-get install chromium)`;

/** Where screenshots are written: $KEYBRIDGE_TEST_OUTPUT/<name>, default test-output/<name> in the repository. */
export function outputDir(name: string): string {
  const dir = join(process.env['KEYBRIDGE_TEST_OUTPUT'] ?? join(REPO_ROOT, 'test-output'), name);
  mkdirSync(dir, { recursive: true });
  return dir;
}

export async function launchChromium(): Promise<Browser> {
  // --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
}

/**
 * Collects what the page reports that a user would never see but a test must: CSP violations,
 * uncaught exceptions and console errors. Expected failures (an AWS error the test provokes)
 * appear as console errors of the failed fetch; `unexpected()` leaves those out by pattern.
 */
export function watchPage(page: Page): { readonly problems: string[]; unexpected(allowed?: RegExp[]): string[] } {
  const problems: string[] = [];
  page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error' || /Content Security Policy/i.test(message.text())) problems.push(`console.${message.type()}: ${message.text()}`);
  });
  return {
    problems,
    unexpected: (allowed = []) => problems.filter((p) => !allowed.some((re) => re.test(p))),
  };
}
