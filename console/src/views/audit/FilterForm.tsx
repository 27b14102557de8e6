// The search form: time range (with quick ranges), principal, operation, key, outcome, error code
// and page size. Every field maps to one LookupEvents attribute; empty fields are left out.

import { useState } from 'preact/hooks';

import { ErrorNote } from '../../components/ErrorNote.js';
import { ADMIN_OPERATIONS, COMMON_ERROR_CODES, KMS_OPERATIONS } from './operations.js';
import { defaultFilters, type Filters, PAGE_SIZES, QUICK_RANGES, relativeRange } from './query.js';
import { browserTimeZone } from './time.js';

interface Props {
  onSearch(filters: Filters): void;
  readonly busy: boolean;
  readonly error: unknown;
}

export function FilterForm({ onSearch, busy, error }: Props) {
  const [filters, setFilters] = useState<Filters>(() => defaultFilters());
  const set = (change: Partial<Filters>) => setFilters((f) => ({ ...f, ...change }));
  const text = (name: 'principal' | 'operation' | 'key' | 'errorCode') => ({
    name,
    value: filters[name],
    onInput: (e: { currentTarget: HTMLInputElement }) => set({ [name]: e.currentTarget.value }),
  });

  return (
    <form
      class="card audit-filters"
      aria-label="Search events"
      onSubmit={(e) => {
        e.preventDefault();
        // A relative range looks back from now: show the range this search actually covers.
        const current = filters.relativeMs === undefined ? filters : { ...filters, ...relativeRange(filters.relativeMs) };
        setFilters(current);
        onSearch(current);
      }}
    >
      <fieldset class="audit-range">
        <legend>Time range ({browserTimeZone()})</legend>
        <label>
          From
          <input type="datetime-local" name="startTime" value={filters.startTime} onInput={(e) => set({ startTime: e.currentTarget.value, relativeMs: undefined })} />
        </label>
        <label>
          To
          <input type="datetime-local" name="endTime" value={filters.endTime} onInput={(e) => set({ endTime: e.currentTarget.value, relativeMs: undefined })} />
        </label>
        <div class="actions" role="group" aria-label="Quick ranges">
          {QUICK_RANGES.map(({ label, ms }) => (
            <button type="button" aria-pressed={filters.relativeMs === ms} onClick={() => set(relativeRange(ms))}>
              {label}
            </button>
          ))}
        </div>
      </fieldset>
      <div class="row audit-fields">
        <label>
          Principal
          <input {...text('principal')} placeholder="alice or arn:…" aria-describedby="audit-principal-hint" autocomplete="off" />
          <span id="audit-principal-hint" class="hint muted">
            User name, ARN or principal ID as recorded (the root user has no name: use its ARN)
          </span>
        </label>
        <label>
          Operation
          <input {...text('operation')} list="audit-operations" placeholder="Any" aria-describedby="audit-operation-hint" autocomplete="off" />
          <span id="audit-operation-hint" class="hint muted">
            Exact name, e.g. Decrypt or KeybridgeAdmin.CreatePrincipal
          </span>
        </label>
        <label class="audit-key">
          Key
          <input {...text('key')} placeholder="Any" aria-describedby="audit-key-hint" autocomplete="off" spellcheck={false} />
          <span id="audit-key-hint" class="hint muted">
            Key ID, key ARN, or alias/name (looked up now)
          </span>
        </label>
        <label class="audit-narrow">
          Outcome
          <select name="outcome" value={filters.outcome} onChange={(e) => set({ outcome: e.currentTarget.value as Filters['outcome'] })}>
            <option value="">Any</option>
            <option value="Success">Success</option>
            <option value="Error">Error</option>
          </select>
        </label>
        <label>
          Error code
          <input {...text('errorCode')} list="audit-error-codes" placeholder="Any" autocomplete="off" />
        </label>
        <label class="audit-narrow">
          Page size
          <select name="pageSize" value={String(filters.pageSize)} onChange={(e) => set({ pageSize: Number(e.currentTarget.value) })}>
            {PAGE_SIZES.map((n) => (
              <option value={String(n)}>{n}</option>
            ))}
          </select>
        </label>
      </div>
      <datalist id="audit-operations">
        {[...KMS_OPERATIONS, ...ADMIN_OPERATIONS].map((op) => (
          <option value={op} />
        ))}
      </datalist>
      <datalist id="audit-error-codes">
        {COMMON_ERROR_CODES.map((code) => (
          <option value={code} />
        ))}
      </datalist>
      <div class="actions">
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Searching…' : 'Search'}
        </button>
        <button type="button" onClick={() => setFilters(defaultFilters())}>
          Clear filters
        </button>
      </div>
      <ErrorNote error={error} />
    </form>
  );
}
