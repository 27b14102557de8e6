import { z } from 'zod';
import { KmsError } from '../domain/errors.js';
import { resolveKeyById } from './key-access.js';
import { epochSeconds } from './key-metadata.js';
import { defineOperation } from './operation.js';
import { decodeMarker, page } from './pagination.js';
import { assertRotatable } from './rotation-access.js';
import { keyIdMember, limit, marker } from './wire.js';

/**
 * The key's materials as AWS lists them: by default (ROTATIONS_ONLY) the ones rotations made, each
 * with RotationDate and RotationType; ALL_KEY_MATERIAL adds the first material, which has neither.
 * KeyMaterialState says which one encrypts (CURRENT); the others only decrypt (NON_CURRENT).
 * Oldest first; the marker is the last material's ordinal.
 */
export const listKeyRotations = defineOperation({
  name: 'ListKeyRotations',
  input: z.object({
    KeyId: keyIdMember,
    IncludeKeyMaterial: z.enum(['ALL_KEY_MATERIAL', 'ROTATIONS_ONLY']).optional(),
    Limit: limit(1000).optional(),
    Marker: marker.optional(),
  }),
  async run(_ctx, deps, input) {
    const max = input.Limit ?? 100;
    const key = await resolveKeyById(deps, input.KeyId);
    assertRotatable(key);
    const after = decodeMarker(input.Marker);
    if (after !== undefined && !/^[1-9]\d{0,8}$/u.test(after)) {
      throw new KmsError('InvalidMarkerException', 'The marker that specifies where pagination should next begin is not valid.');
    }
    const afterOrdinal = after === undefined ? 0 : Number(after);
    const all = input.IncludeKeyMaterial === 'ALL_KEY_MATERIAL';
    const materials = (await deps.store.listKeyMaterials(key.keyId)).filter((m) => m.ordinal > afterOrdinal && (all || m.rotationDate !== null));
    const { items, ...rest } = page(materials, max, (m) => String(m.ordinal));
    return {
      Rotations: items.map((m) => ({
        KeyId: key.arn,
        KeyMaterialId: m.materialId,
        KeyMaterialState: m.materialId === key.backingKeyId ? 'CURRENT' : 'NON_CURRENT',
        ...(m.rotationDate === null ? {} : { RotationDate: epochSeconds(m.rotationDate), RotationType: m.rotationType }),
      })),
      ...rest,
    };
  },
});
