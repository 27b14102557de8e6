// Reading hsm-config: cluster definitions (clusters/*.json) and vendor profiles (profiles/*.json).
// Both are data, validated with the one schema at start; a bad file stops the start with its path
// and the offending setting named.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { z } from 'zod';
import { clusterSchema, vendorProfileSchema, type ClusterDefinition } from './schema.js';

export type VendorProfileData = z.infer<typeof vendorProfileSchema>;

/** A cluster definition with its trust anchor certificate read in. */
export interface LoadedCluster extends ClusterDefinition {
  readonly trustAnchorPem: string | undefined;
}

/** hsm-config/<part> of the installation this file belongs to (dist/src/config → three up). */
export function defaultHsmConfigDir(part: 'profiles' | 'clusters'): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'hsm-config', part);
    if (existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`cannot find hsm-config/${part}; set ${part}Dir in the configuration`);
    dir = parent;
  }
}

function readJson(path: string, what: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Error(`cannot read ${what} ${path}: ${(err as Error).message}`);
  }
}

function issues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
}

export function loadVendorProfile(dir: string, name: string): VendorProfileData {
  const path = join(dir, `${name}.json`);
  const parsed = vendorProfileSchema.safeParse(readJson(path, 'vendor profile'));
  if (!parsed.success) throw new Error(`invalid vendor profile ${path}: ${issues(parsed.error)}`);
  return parsed.data;
}

/** Every cluster definition in `dir`, by cluster id. Profiles named by members must exist. */
export function loadClusters(dir: string, profilesDir: string): Map<string, LoadedCluster> {
  const clusters = new Map<string, LoadedCluster>();
  if (!existsSync(dir)) return clusters;
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.json')).sort()) {
    const path = join(dir, file);
    const parsed = clusterSchema.safeParse(readJson(path, 'cluster definition'));
    if (!parsed.success) throw new Error(`invalid cluster definition ${path}: ${issues(parsed.error)}`);
    const cluster = parsed.data;
    if (clusters.has(cluster.clusterId)) throw new Error(`cluster ${cluster.clusterId} is defined twice (${path})`);
    for (const member of cluster.members) loadVendorProfile(profilesDir, member.profile);
    let trustAnchorPem: string | undefined;
    if (cluster.trustAnchorCertificateFile) {
      const pemPath = join(dir, cluster.trustAnchorCertificateFile);
      try {
        trustAnchorPem = readFileSync(pemPath, 'utf8');
      } catch (err) {
        throw new Error(`cannot read the trust anchor certificate ${pemPath} of cluster ${cluster.clusterId}: ${(err as Error).message}`);
      }
    }
    clusters.set(cluster.clusterId, { ...cluster, trustAnchorPem });
  }
  return clusters;
}
