// The events found so far: a search replaces them, "Load more" appends the next page of the same
// search (same range and filters: the NextToken only says where to go on).

import { useRef, useState } from 'preact/hooks';

import { type Action, useAction } from '../../components/hooks.js';
import { useConsole } from '../../context.js';
import { type Filters, lookupInputFor } from './query.js';
import type { LookupEvent, LookupEventsInput, LookupEventsOutput } from './types.js';

export interface Found {
  readonly input: LookupEventsInput;
  readonly events: readonly LookupEvent[];
  readonly nextToken: string | undefined;
}

export interface EventSearch {
  readonly found: Found | undefined;
  readonly search: Action<[Filters]>;
  readonly more: Action<[]>;
}

export function useEventSearch(): EventSearch {
  const { admin, kms } = useConsole();
  const [found, setFound] = useState<Found | undefined>(undefined);
  // A page that arrives after a newer search started belongs to the old one: dropped.
  const generation = useRef(0);

  const more = useAction(async () => {
    if (found?.nextToken === undefined) return;
    const mine = generation.current;
    const page = await admin<LookupEventsOutput>('LookupEvents', { ...found.input, NextToken: found.nextToken });
    if (mine !== generation.current) return;
    setFound((f) => f && { ...f, events: [...f.events, ...(page.Events ?? [])], nextToken: page.NextToken });
  });

  const search = useAction(async (filters: Filters) => {
    const mine = ++generation.current;
    setFound(undefined);
    more.clear();
    const input = await lookupInputFor(filters, kms);
    const page = await admin<LookupEventsOutput>('LookupEvents', { ...input });
    if (mine !== generation.current) return;
    setFound({ input, events: page.Events ?? [], nextToken: page.NextToken });
  });

  return { found, search, more };
}
