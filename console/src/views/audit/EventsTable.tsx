// The events found, newest first, one row each. A row opens its full record on click; its "View"
// button does the same from the keyboard.

import { keyIdOf, Outcome } from './Outcome.js';
import { isoOf, localOf } from './time.js';
import { type LookupEvent, parseRecord, stringMember } from './types.js';

interface Props {
  readonly events: readonly LookupEvent[];
  readonly selectedId: string | undefined;
  onOpen(event: LookupEvent): void;
}

export function EventsTable({ events, selectedId, onOpen }: Props) {
  return (
    <div class="table-wrap">
      <table data-testid="events-table" class="audit-events">
        <thead>
          <tr>
            <th>Time</th>
            <th>Event name</th>
            <th>User name</th>
            <th>Resources</th>
            <th>Outcome</th>
            <th>Source IP</th>
            <th>Access key ID</th>
            <th>Record</th>
          </tr>
        </thead>
        <tbody>
          {events.map((event) => (
            <EventRow key={event.EventId} event={event} selected={event.EventId === selectedId} onOpen={onOpen} />
          ))}
        </tbody>
      </table>
    </div>
  );
}

function EventRow({ event, selected, onOpen }: { event: LookupEvent; selected: boolean; onOpen(event: LookupEvent): void }) {
  const record = parseRecord(event);
  const iso = isoOf(event.EventTime);
  return (
    <tr
      data-event-id={event.EventId}
      class={selected ? 'selected' : ''}
      onClick={(e) => {
        // Links and buttons in the row do their own thing.
        if (!(e.target instanceof Element && e.target.closest('a, button') !== null)) onOpen(event);
      }}
    >
      <td class="nowrap">
        <time dateTime={iso} title={iso}>
          {localOf(event.EventTime)}
        </time>
      </td>
      <td>{event.EventName}</td>
      <td class="audit-user">{event.Username ?? <span class="muted">—</span>}</td>
      <td>
        {event.Resources.length === 0 ? (
          <span class="muted">—</span>
        ) : (
          event.Resources.map((r) => {
            const keyId = keyIdOf(r.ResourceName);
            return (
              <div>
                {keyId === undefined ? (
                  <span class="mono">{r.ResourceName}</span>
                ) : (
                  <a class="mono" href={`#/keys/${encodeURIComponent(keyId)}`} title={r.ResourceName}>
                    {keyId}
                  </a>
                )}
              </div>
            );
          })
        )}
      </td>
      <td>
        <Outcome record={record} />
      </td>
      <td class="mono">{stringMember(record, 'sourceIPAddress') ?? <span class="muted">—</span>}</td>
      <td class="mono">{event.AccessKeyId ?? <span class="muted">—</span>}</td>
      <td>
        <button type="button" onClick={() => onOpen(event)} aria-label={`View record of ${event.EventName} at ${iso}`} aria-expanded={selected}>
          View
        </button>
      </td>
    </tr>
  );
}
