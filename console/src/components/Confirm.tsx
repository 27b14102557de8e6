// An inline confirmation, as AWS's console asks before an action that is hard to undo: what will
// happen, whatever else must be given first (a checkbox, a typed name), the action, and Cancel.

import type { ComponentChildren } from 'preact';

export interface ConfirmProps {
  /** The dialog's accessible name. */
  readonly label: string;
  /** The confirming button's text. */
  readonly action: string;
  /** Button style: "danger" for what destroys or cuts off, "primary" otherwise. */
  readonly kind: 'danger' | 'primary';
  /** Disabled while the action runs, or until what must be given first is given. */
  readonly disabled: boolean;
  onConfirm(): void;
  onCancel(): void;
  readonly children: ComponentChildren;
}

export function Confirm({ label, action, kind, disabled, onConfirm, onCancel, children }: ConfirmProps) {
  return (
    <div class="confirm" role="dialog" aria-label={label}>
      {children}
      <div class="actions">
        <button type="button" class={kind === 'danger' ? 'primary danger' : 'primary'} disabled={disabled} onClick={onConfirm}>
          {action}
        </button>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </div>
  );
}
