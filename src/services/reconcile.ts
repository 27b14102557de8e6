// Start-up reconciliation of HSM objects against metadata (durability, issue #2 §9).
//
// CreateKey makes the HSM object before the metadata, so a crash can leave an HSM object that no
// metadata names: an orphan. Orphans are reported and never used (nothing can reach them). Metadata
// whose HSM object is missing is reported too: such a key fails its crypto calls with
// KMSInternalException until the operator restores the token.

import type { Logger } from 'pino';
import type { Hsm } from '../ports/hsm.js';
import type { MetadataStore } from '../ports/store.js';

export interface ReconcileReport {
  readonly orphanBackingKeys: Array<{ id: string; label: string }>;
  readonly keysMissingMaterial: string[];
}

/** `alsoKnown`: backing key ids other records own (the XKS proxy's keys). */
export async function reconcile(store: MetadataStore, hsm: Hsm, logger: Logger, alsoKnown: ReadonlySet<string> = new Set()): Promise<ReconcileReport> {
  const objects = await hsm.listSymmetricKeys();
  const rows = await store.allBackingKeyIds();
  const known = new Set([...rows.map((r) => r.backingKeyId), ...alsoKnown]);
  const present = new Set(objects.map((o) => o.id));
  const orphanBackingKeys = objects.filter((o) => !known.has(o.id));
  const keysMissingMaterial = rows.filter((r) => !present.has(r.backingKeyId)).map((r) => r.keyId);
  for (const orphan of orphanBackingKeys) {
    logger.warn({ backingKeyId: orphan.id, label: orphan.label }, 'orphan HSM key object: no key metadata refers to it; it will not be used');
  }
  for (const keyId of keysMissingMaterial) {
    logger.error({ keyId }, 'key metadata refers to a backing key that is not in the HSM');
  }
  return { orphanBackingKeys, keysMissingMaterial };
}
