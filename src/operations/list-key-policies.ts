import { z } from 'zod';
import { DEFAULT_POLICY_NAME } from '../domain/key-policy.js';
import { resolveKeyById } from './key-access.js';
import { defineOperation } from './operation.js';
import { decodeMarker } from './pagination.js';
import { keyIdMember, limit, marker } from './wire.js';

export const listKeyPolicies = defineOperation({
  name: 'ListKeyPolicies',
  input: z.object({ KeyId: keyIdMember, Limit: limit(1000).optional(), Marker: marker.optional() }),
  async run(_ctx, deps, input) {
    await resolveKeyById(deps, input.KeyId);
    // Every key has exactly one policy, so any marker (which we never hand out) is invalid.
    if (input.Marker !== undefined) decodeMarker(input.Marker);
    return { PolicyNames: [DEFAULT_POLICY_NAME], Truncated: false };
  },
});
