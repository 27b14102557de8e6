// One event's whole CloudTrail record, pretty-printed, with the members people look for first.
// It takes focus when opened so keyboard and screen-reader users land on it; Escape or "Close"
// hands focus back to the row it came from (the caller does that).

import { useEffect, useRef } from 'preact/hooks';

import { Outcome } from './Outcome.js';
import { isoOf, localOf } from './time.js';
import { type LookupEvent, parseRecord, stringMember } from './types.js';

export function EventRecord({ event, onClose }: { event: LookupEvent; onClose(): void }) {
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    heading.current?.focus();
    heading.current?.scrollIntoView({ block: 'nearest' });
  }, [event.EventId]);

  const record = parseRecord(event);
  const identity = record?.['userIdentity'];
  const identityType = typeof identity === 'object' && identity !== null ? stringMember(identity as Record<string, unknown>, 'type') : undefined;
  const facts: Array<[string, string | undefined]> = [
    ['Event ID', event.EventId],
    ['Time', isoOf(event.EventTime)],
    ['Caller', event.Username === undefined ? identityType : `${event.Username}${identityType === undefined ? '' : ` (${identityType})`}`],
    ['Source IP', stringMember(record, 'sourceIPAddress')],
    ['User agent', stringMember(record, 'userAgent')],
    ['Request ID', stringMember(record, 'requestID')],
    ['Event type', stringMember(record, 'eventType')],
    ['Error message', stringMember(record, 'errorMessage')],
  ];

  return (
    <section
      class="card audit-record"
      aria-labelledby="audit-record-title"
      onKeyDown={(e) => {
        if (e.key === 'Escape') onClose();
      }}
    >
      <div class="heading">
        <h2 id="audit-record-title" tabIndex={-1} ref={heading}>
          {event.EventName} <span class="muted">at {localOf(event.EventTime)}</span>
        </h2>
        <button type="button" onClick={onClose} data-testid="close-record">
          Close
        </button>
      </div>
      <dl class="props">
        <dt>Outcome</dt>
        <dd>
          <Outcome record={record} />
        </dd>
        {facts.map(([name, value]) =>
          value === undefined ? null : (
            <>
              <dt>{name}</dt>
              <dd class={name === 'Event ID' || name === 'Request ID' || name === 'Source IP' ? 'mono' : ''}>{value}</dd>
            </>
          ),
        )}
      </dl>
      <pre data-testid="event-record" tabIndex={0} aria-label="Full CloudTrail record">
        {record === undefined ? event.CloudTrailEvent : JSON.stringify(record, null, 2)}
      </pre>
    </section>
  );
}
