// The web console (issue #18) in real headless Chromium (Debian's chromium, driven by
// playwright-core) against a real keybridge: SoftHSM2 tokens, a two-member custom key store behind
// the fault-injecting PKCS#11 module, the AWS SDK beside the page to check what really changed.
// The page signs every call itself; nothing of ours is mocked. A screenshot of each view is written
// to the tests' output directory (test/support/browser.ts).

import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { DescribeKeyCommand, GetKeyPolicyCommand, type KMSClient, ListGrantsCommand } from '@aws-sdk/client-kms';
import type { Browser, BrowserContext, Page } from 'playwright-core';

import { readCredentialsFile } from '../../src/auth/credentials-file.js';
import { chromiumSkip, launchChromium, outputDir, watchPage } from '../support/browser.js';
import { runCliAgainst } from '../support/cli.js';
import { writeFaultyCluster, type FaultyCluster } from '../support/faulty-cluster.js';
import { buildFaultyPkcs11, FaultController, faultyEnv } from '../support/faulty-pkcs11.js';
import { sdkClient } from '../support/kms-client.js';
import { REPO_ROOT } from '../support/repo-root.js';
import { makeDataDir, startServer, type TestServer } from '../support/server.js';
import { until } from '../support/until.js';

const CLUSTER: FaultyCluster = { clusterId: 'cluster-kbConsoleView', memberA: 'kb-console-a', memberB: 'kb-console-b', callTimeoutMs: 2_000 };
const WAIT_MS = 30_000;
/** Errors the test provokes on purpose: the browser logs each failed call's HTTP status. */
const PROVOKED = [/status of 400/, /status of 403/];

let server: TestServer;
let kms: KMSClient;
let faults: FaultController;
let browser: Browser;
let shots: string;
let dataDir: string;

before(async () => {
  if (chromiumSkip !== false) return;
  dataDir = makeDataDir();
  const controlFile = join(dataDir, 'faults.conf');
  writeFileSync(controlFile, '');
  const modulePath = await buildFaultyPkcs11();
  Object.assign(process.env, faultyEnv(controlFile));
  faults = new FaultController(controlFile);
  const clustersDir = writeFaultyCluster(dataDir, modulePath, CLUSTER);
  server = await startServer({ dataDir, settings: { clustersDir, deletionSweepIntervalMs: 3_600_000 } });
  kms = sdkClient(server);
  browser = await launchChromium();
  shots = outputDir('console');
});

after(async () => {
  faults?.clear();
  await browser?.close();
  await server?.destroy();
});

async function newPage(context: BrowserContext): Promise<Page> {
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT_MS);
  return page;
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
}

/** Signs in by pasting a profile of the credentials file, as the README says. */
async function signInWithProfile(page: Page, profile: string): Promise<void> {
  await page.goto(`${server.url}/console/`);
  await page.getByRole('tab', { name: 'Credentials profile' }).click();
  await page.fill('textarea[name=profile]', readFileSync(server.credentialsFile, 'utf8'));
  await page.fill('input[name=profileName]', profile);
  await page.click('form button[type=submit]');
  await page.locator('[data-testid=caller]').waitFor();
}

async function signInWithKey(page: Page, credentials: { accessKeyId: string; secretAccessKey: string }): Promise<void> {
  await page.goto(`${server.url}/console/`);
  await page.fill('input[name=accessKeyId]', credentials.accessKeyId);
  await page.fill('input[name=secretAccessKey]', credentials.secretAccessKey);
  await page.click('form button[type=submit]');
  await page.locator('[data-testid=caller]').waitFor();
}

async function goTo(page: Page, hash: string): Promise<void> {
  // Evaluated in the page (as a string: this file is compiled without the DOM's types).
  await page.evaluate(`window.location.hash = ${JSON.stringify(hash)}`);
}

describe('the web console in Chromium', { skip: chromiumSkip }, () => {
  let context: BrowserContext;
  let page: Page;
  let watch: ReturnType<typeof watchPage>;
  let keyId: string;
  let storeId: string;

  before(async () => {
    if (chromiumSkip !== false) return;
    context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    page = await newPage(context);
    watch = watchPage(page);
  });

  after(async () => {
    await context?.close();
  });

  test('signs in with a pasted credentials profile, and keeps the secret out of every request', async () => {
    const sent: string[] = [];
    page.on('request', (request) => sent.push(`${request.url()}\n${JSON.stringify(request.headers())}\n${request.postData() ?? ''}`));
    await signInWithProfile(page, 'keybridge');
    assert.match(await page.locator('[data-testid=caller]').innerText(), new RegExp(`^arn:aws:iam::${server.accountId}:root$`));
    await page.locator('[data-testid=overview-charts]').waitFor();
    await shot(page, 'overview-at-sign-in');
    assert.ok(sent.length > 0);
    for (const request of sent) assert.ok(!request.includes(server.credentials.secretAccessKey), 'the secret access key was sent');
    // Kept for the tab only.
    const stored = (await page.evaluate('({ local: JSON.stringify(localStorage), cookies: document.cookie })')) as { local: string; cookies: string };
    assert.ok(!stored.local.includes(server.credentials.secretAccessKey) && stored.cookies === '');
  });

  test('creates a key from the keys view', async () => {
    await goTo(page, '#/keys');
    await page.getByRole('button', { name: 'Create key' }).click();
    const form = page.locator('form[aria-label="Create key"]');
    await form.locator('input[name=keyType][value=symmetric]').check();
    await form.locator('input[name=alias]').fill('alias/console-demo');
    await form.locator('input[name=description]').fill('made in the console');
    await form.locator('button[type=submit]').click();
    await page.waitForURL(/#\/keys\/[0-9a-f-]{36}$/);
    keyId = decodeURIComponent(page.url().split('#/keys/')[1]!);
    await page.locator('[data-testid=key-detail]').waitFor();
    const described = await kms.send(new DescribeKeyCommand({ KeyId: 'alias/console-demo' }));
    assert.equal(described.KeyMetadata?.KeyId, keyId);
    assert.equal(described.KeyMetadata?.Description, 'made in the console');
    await goTo(page, '#/keys');
    await page.locator(`[data-testid=keys-table] tr[data-key-id="${keyId}"]`).waitFor();
    await shot(page, 'keys');
  });

  test('a key policy that would lock the caller out is warned about, and refused', async () => {
    await goTo(page, `#/keys/${keyId}`);
    const editor = page.locator('[data-testid=policy-editor]');
    // Polled from here: a function evaluated in the page would be refused by its CSP (no eval).
    await until(async () => (await editor.inputValue()).includes('Statement'), WAIT_MS, 'the key policy in the editor');
    const before = (await kms.send(new GetKeyPolicyCommand({ KeyId: keyId, PolicyName: 'default' }))).Policy!;

    // Not JSON: said at once, and nothing can be saved.
    await editor.fill('{ "Version": ');
    await page.locator('[data-testid=policy-invalid]').waitFor();
    assert.equal(await page.getByRole('button', { name: 'Save policy' }).isDisabled(), true);

    const lockout = {
      Version: '2012-10-17',
      Statement: [{ Sid: 'someone else', Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::999999999999:root' }, Action: 'kms:*', Resource: '*' }],
    };
    await editor.fill(JSON.stringify(lockout, null, 2));
    await page.locator('[data-testid=lockout-warning]').waitFor();
    assert.equal(await page.getByRole('button', { name: 'Save policy' }).isDisabled(), true, 'saving waits for the acknowledgement');
    await shot(page, 'key-detail-lockout-warning');
    await page.getByLabel(/I understand/).check();
    await page.getByRole('button', { name: 'Save policy' }).click();
    const refused = page.locator('[data-testid=error]').filter({ hasText: 'MalformedPolicyDocumentException' });
    await refused.waitFor();
    const after = (await kms.send(new GetKeyPolicyCommand({ KeyId: keyId, PolicyName: 'default' }))).Policy!;
    assert.deepEqual(JSON.parse(after), JSON.parse(before), 'the policy is unchanged');
  });

  test('creates a grant, then revokes it', async () => {
    await goTo(page, '#/keys');
    await goTo(page, `#/keys/${keyId}`);
    await page.locator('[data-testid=grants-table]').waitFor();
    await page.getByRole('button', { name: 'Create grant' }).first().click();
    const form = page.locator('form:has(input[name=granteePrincipal])');
    await form.locator('input[name=granteePrincipal]').fill(`arn:aws:iam::${server.accountId}:user/alice`);
    await form.locator('input[name=operation][value=Encrypt]').check();
    await form.locator('input[name=operation][value=Decrypt]').check();
    await form.locator('button[type=submit]').click();
    const created = page.locator('[data-testid=grant-created]');
    await created.waitFor();
    const grants = (await kms.send(new ListGrantsCommand({ KeyId: keyId }))).Grants ?? [];
    assert.equal(grants.length, 1);
    const grantId = grants[0]!.GrantId!;
    assert.ok((await created.innerText()).includes(grantId));
    assert.deepEqual([...grants[0]!.Operations!].sort(), ['Decrypt', 'Encrypt']);
    const row = page.locator(`[data-testid=grants-table] tr[data-grant-id="${grantId}"]`);
    await row.waitFor();
    await shot(page, 'key-detail');

    await row.getByRole('button', { name: 'Revoke' }).click();
    await page.getByRole('button', { name: 'Revoke grant' }).click();
    await row.waitFor({ state: 'detached' });
    assert.deepEqual((await kms.send(new ListGrantsCommand({ KeyId: keyId }))).Grants ?? [], []);
  });

  test('creates and connects the example custom key store: its members are ACTIVE; a stopped member turns UNAVAILABLE', async () => {
    await goTo(page, '#/stores');
    await page.getByRole('button', { name: 'Create key store' }).first().click();
    const form = page.locator('form:has(input[name=cloudHsmClusterId])');
    await form.locator('input[name=customKeyStoreName]').fill('console-store');
    await form.locator('input[name=cloudHsmClusterId]').fill(CLUSTER.clusterId);
    await form.locator('textarea[name=trustAnchorCertificate]').fill(readFileSync(join(REPO_ROOT, 'hsm-config', 'clusters', 'example-softhsm-ca.pem'), 'utf8'));
    await form.locator('input[name=keyStorePassword]').fill(readFileSync(join(dataDir, 'pins', `${CLUSTER.clusterId}.pin`), 'utf8').trim());
    await form.locator('button[type=submit]').click();
    const row = page.locator('[data-testid=stores-table] tr[data-store-id]').filter({ hasText: 'console-store' });
    await row.waitFor();
    storeId = (await row.getAttribute('data-store-id'))!;
    assert.match(storeId, /^cks-[0-9a-f]{17}$/);

    await row.getByRole('button', { name: 'Connect', exact: true }).click();
    await row.locator('[data-testid=connection-state]').filter({ hasText: 'CONNECTED' }).waitFor({ timeout: 60_000 });
    const members = page.locator(`[data-testid="members-${storeId}"]`);
    for (const name of ['a', 'b']) await members.locator(`tr[data-member=${name}] [data-testid=member-state]`).filter({ hasText: 'ACTIVE' }).waitFor();
    await shot(page, 'key-stores');

    // The member's device is pulled: the page, refreshing by itself, shows it UNAVAILABLE.
    faults.set([{ label: CLUSTER.memberA, scope: 'all', fail: 'CKR_DEVICE_REMOVED' }]);
    await members.locator('tr[data-member=a] [data-testid=member-state]').filter({ hasText: 'UNAVAILABLE' }).waitFor();
    assert.equal(await members.locator('tr[data-member=b] [data-testid=member-state]').innerText(), 'ACTIVE');
    await shot(page, 'key-stores-member-unavailable');
    faults.clear();
    await members.locator('tr[data-member=a] [data-testid=member-state]').filter({ hasText: 'ACTIVE' }).waitFor();
  });

  test('finds those actions in the audit view, opens a record, and verifies the trail', async () => {
    await goTo(page, '#/audit');
    const search = async (operation: string) => {
      await page.fill('[name=operation]', operation);
      await page.getByRole('button', { name: 'Search' }).click();
      return page.locator('[data-testid=events-table] tr[data-event-id]').filter({ hasText: operation });
    };
    for (const operation of ['CreateKey', 'CreateGrant', 'RevokeGrant', 'CreateCustomKeyStore', 'ConnectCustomKeyStore']) {
      await (await search(operation)).first().waitFor();
    }
    const refused = (await search('PutKeyPolicy')).filter({ hasText: 'MalformedPolicyDocumentException' });
    await refused.first().waitFor();
    await refused.first().getByRole('button', { name: 'View' }).click();
    const record = page.locator('[data-testid=event-record]');
    await record.waitFor();
    const text = await record.innerText();
    assert.ok(text.includes(keyId), 'the record names the key');
    assert.match(text, /"eventName":\s*"PutKeyPolicy"/);
    assert.match(text, /"errorCode":\s*"MalformedPolicyDocumentException"/);
    await page.getByRole('button', { name: 'Verify trail' }).click();
    await page.locator('[data-testid=verify-result]').filter({ hasText: /verified/i }).waitFor();
    await shot(page, 'audit');
    // The overview once more, now that the steps above made traffic to chart.
    await goTo(page, '#/overview');
    await page.locator('[data-testid=operations-table]').filter({ hasText: 'PutKeyPolicy' }).waitFor();
    await shot(page, 'overview');
  });

  test('readable on a narrow window', async () => {
    await page.setViewportSize({ width: 400, height: 800 });
    for (const [hash, name] of [['#/keys', 'keys'], [`#/keys/${keyId}`, 'key-detail'], ['#/stores', 'key-stores'], ['#/audit', 'audit'], ['#/overview', 'overview']] as const) {
      await goTo(page, hash);
      await page.locator('main.page h1').first().waitFor();
      // Nothing but the tables' own scrolling areas is wider than the window.
      const overflow = (await page.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth')) as number;
      assert.ok(overflow <= 1, `${hash} scrolls sideways by ${overflow} px`);
      await shot(page, `narrow-${name}`);
    }
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  test('no CSP violation or script error on any page', () => {
    assert.deepEqual(watch.unexpected(PROVOKED), []);
  });

  test('a user denied an action sees AccessDeniedException, and nothing changes', async () => {
    // bob may look at keys (an identity policy, through the default key policy's delegation to
    // IAM) but not disable them, nor call the operator's admin API.
    const made = await runCliAgainst(server, ['principals', 'create', '--account', server.accountId, '--user', 'console-bob']);
    assert.equal(made.code, 0, made.stderr);
    const readOnly = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['kms:List*', 'kms:Describe*', 'kms:Get*'], Resource: '*' }] };
    const put = await runCliAgainst(server, ['principals', 'put-policy', '--account', server.accountId, '--user', 'console-bob', '--name', 'read-only', '--document', JSON.stringify(readOnly)]);
    assert.equal(put.code, 0, put.stderr);
    const bob = readCredentialsFile(server.credentialsFile).get('console-bob')!;

    const bobContext = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    try {
      const bobPage = await newPage(bobContext);
      const bobWatch = watchPage(bobPage);
      await signInWithKey(bobPage, bob);
      assert.match(await bobPage.locator('[data-testid=caller]').innerText(), /:user\/console-bob$/);
      // The operator's metrics are not bob's to see.
      await bobPage.locator('[data-testid=error]').filter({ hasText: 'AccessDeniedException' }).first().waitFor();

      await goTo(bobPage, `#/keys/${keyId}`);
      await bobPage.locator('[data-testid=key-detail]').waitFor();
      await bobPage.getByRole('button', { name: 'Disable', exact: true }).click();
      await bobPage.getByRole('dialog', { name: 'Disable key' }).getByRole('checkbox').check();
      await bobPage.getByRole('button', { name: 'Disable key' }).click();
      await bobPage.locator('[data-testid=key-state-actions] [data-testid=error]').filter({ hasText: 'AccessDeniedException' }).waitFor();
      await shot(bobPage, 'access-denied');
      assert.equal((await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata?.KeyState, 'Enabled', 'nothing changed');
      assert.deepEqual(bobWatch.unexpected(PROVOKED), []);
    } finally {
      await bobContext.close();
    }
  });
});
