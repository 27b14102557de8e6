// hsm-config is data read at start: every shipped profile and cluster definition must pass the
// schema, and a broken one must stop the start with its path and the setting named.

import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { defaultHsmConfigDir, loadClusters, loadVendorProfile } from '../../src/config/clusters.js';
import { parseConfig } from '../../src/config/load.js';
import { ckrCodes } from '../../src/hsm/pkcs11/ckr.js';

const profilesDir = defaultHsmConfigDir('profiles');
const clustersDir = defaultHsmConfigDir('clusters');

test('every shipped vendor profile validates and names only CKR codes keybridge knows', () => {
  const names = readdirSync(profilesDir).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5)).sort();
  assert.deepEqual(names, ['cloudhsm', 'generic', 'luna', 'softhsm2', 'yubihsm2']);
  for (const name of names) {
    const profile = loadVendorProfile(profilesDir, name);
    assert.equal(profile.name, name);
    assert.ok(profile.comment && profile.comment.length > 40, `${name} has a comment naming the device`);
    assert.equal(ckrCodes(profile.badTagCkrs).size, profile.badTagCkrs.length);
  }
  // CKR_FUNCTION_FAILED is CloudHSM's throttling answer: it must never mean "bad tag" there.
  assert.equal(loadVendorProfile(profilesDir, 'cloudhsm').badTagCkrs.includes('CKR_FUNCTION_FAILED'), false);
  assert.equal(loadVendorProfile(profilesDir, 'cloudhsm').ivGeneration, 'hsm');
});

test('the shipped example cluster validates, with its trust anchor read in', () => {
  const clusters = loadClusters(clustersDir, profilesDir);
  const example = clusters.get('cluster-kbExampleTwo');
  assert.ok(example);
  assert.equal(example.members.length, 2);
  assert.equal(example.embeddedSoftHsm, true);
  assert.match(example.trustAnchorPem ?? '', /^-----BEGIN CERTIFICATE-----/);
});

test('a bad cluster definition names the file and the setting', () => {
  const dir = mkdtempSync(join(tmpdir(), 'keybridge-clusters-'));
  writeFileSync(join(dir, 'bad.json'), JSON.stringify({ clusterId: 'cluster-1', members: [] }));
  assert.throws(() => loadClusters(dir, profilesDir), (err: Error) => /bad\.json/.test(err.message) && /clusterId/.test(err.message) && /members/.test(err.message));
  writeFileSync(join(dir, 'bad.json'), JSON.stringify({ clusterId: 'cluster-kbUnknownProf', members: [{ name: 'a', module: '/x.so', tokenLabel: 't', profile: 'nope' }] }));
  assert.throws(() => loadClusters(dir, profilesDir), (err: Error) => /nope\.json/.test(err.message));
});

test('recovery settings: a cluster\'s health.maxRetryIntervalMs (default 30 s), the default key store\'s defaultKeyStoreHealth, a profile\'s reinitializeOnTokenLoss', () => {
  const dir = mkdtempSync(join(tmpdir(), 'keybridge-clusters-'));
  const member = { name: 'a', module: '/x.so', tokenLabel: 't', profile: 'softhsm2' };
  writeFileSync(join(dir, 'c.json'), JSON.stringify({ clusterId: 'cluster-kbRetryDefault', members: [member] }));
  assert.equal(loadClusters(dir, profilesDir).get('cluster-kbRetryDefault')?.health.maxRetryIntervalMs, 30_000);
  writeFileSync(join(dir, 'c.json'), JSON.stringify({ clusterId: 'cluster-kbRetryDefault', members: [member], health: { maxRetryIntervalMs: 5_000 } }));
  assert.equal(loadClusters(dir, profilesDir).get('cluster-kbRetryDefault')?.health.maxRetryIntervalMs, 5_000);
  writeFileSync(join(dir, 'c.json'), JSON.stringify({ clusterId: 'cluster-kbRetryDefault', members: [member], health: { maxRetryIntervalMs: 0 } }));
  assert.throws(() => loadClusters(dir, profilesDir), (err: Error) => /maxRetryIntervalMs/.test(err.message));

  const defaults = parseConfig({ dataDir: dir }, dir);
  assert.deepEqual(defaults.defaultKeyStoreHealth, { intervalMs: 5_000, callTimeoutMs: 2_000, slowCheckMs: 250, failuresToTrip: 3, maxRetryIntervalMs: 30_000 });
  assert.equal(parseConfig({ dataDir: dir, defaultKeyStoreHealth: { maxRetryIntervalMs: 2_000 } }, dir).defaultKeyStoreHealth.maxRetryIntervalMs, 2_000);
  assert.throws(() => parseConfig({ dataDir: dir, defaultKeyStoreHealth: { retry: 1 } }, dir), /retry/);

  const profiles = mkdtempSync(join(tmpdir(), 'keybridge-profiles-'));
  const softhsm2 = loadVendorProfile(profilesDir, 'softhsm2');
  assert.equal(softhsm2.reinitializeOnTokenLoss, undefined, 'absent means allowed');
  writeFileSync(join(profiles, 'once.json'), JSON.stringify({ ...softhsm2, name: 'once', reinitializeOnTokenLoss: false }));
  assert.equal(loadVendorProfile(profiles, 'once').reinitializeOnTokenLoss, false);
  writeFileSync(join(profiles, 'bad.json'), JSON.stringify({ ...softhsm2, name: 'bad', reinitializeOnTokenLoss: 'no' }));
  assert.throws(() => loadVendorProfile(profiles, 'bad'), (err: Error) => /reinitializeOnTokenLoss/.test(err.message));
});
