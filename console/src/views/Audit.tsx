// The audit trail, after CloudTrail's event history: search the trail's events (KeybridgeAdmin.
// LookupEvents) by time, principal, operation, key and outcome, page through them, open one
// record, and have the server verify the trail's integrity (KeybridgeAdmin.VerifyAuditTrail).
// Both operations are root-only: anyone else sees AccessDeniedException next to the action.

import { useEffect, useState } from 'preact/hooks';

import { ErrorNote } from '../components/ErrorNote.js';
import { EventRecord } from './audit/EventRecord.js';
import { EventsTable } from './audit/EventsTable.js';
import { FilterForm } from './audit/FilterForm.js';
import { defaultFilters } from './audit/query.js';
import { useEventSearch } from './audit/search.js';
import { VerifyTrail } from './audit/VerifyTrail.js';
import './audit/Audit.css';

export function Audit() {
  const { found, search, more } = useEventSearch();
  const [selectedId, setSelectedId] = useState<string | undefined>(undefined);

  // Like CloudTrail's event history, the page opens on the last 24 hours.
  useEffect(() => {
    void search.run(defaultFilters());
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  const events = found?.events ?? [];
  const selected = events.find((e) => e.EventId === selectedId);
  const close = () => {
    const id = selectedId;
    setSelectedId(undefined);
    if (id !== undefined) document.querySelector<HTMLButtonElement>(`tr[data-event-id="${CSS.escape(id)}"] button`)?.focus();
  };

  return (
    <section class="audit">
      <h1>Audit trail</h1>
      <VerifyTrail />
      <FilterForm onSearch={(filters) => void search.run(filters)} busy={search.busy} error={search.error} />
      <section aria-labelledby="audit-events-title">
        <div class="heading">
          <h2 id="audit-events-title">Events</h2>
          {found === undefined ? null : (
            <span class="muted" data-testid="events-count" aria-live="polite">
              {events.length} {events.length === 1 ? 'event' : 'events'}
              {found.nextToken === undefined ? '' : ', more available'}
            </span>
          )}
        </div>
        {selected === undefined ? null : <EventRecord event={selected} onClose={close} />}
        {found === undefined ? (
          search.busy ? <p class="muted">Searching…</p> : null
        ) : (
          <>
            <EventsTable events={events} selectedId={selectedId} onOpen={(e) => setSelectedId(e.EventId)} />
            {events.length === 0 ? (
              <p class="muted">
                {found.nextToken === undefined ? 'No events match.' : 'No events match among the records read so far: load more to keep looking.'}
              </p>
            ) : null}
          </>
        )}
        <div class="pager">
          {found?.nextToken === undefined ? null : (
            <button type="button" onClick={() => void more.run()} disabled={more.busy}>
              {more.busy ? 'Loading…' : 'Load more'}
            </button>
          )}
          <ErrorNote error={more.error} />
        </div>
      </section>
    </section>
  );
}
