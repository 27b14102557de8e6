// A failed action's AWS error name and message, next to the action: nothing fails silently.

import { describeError } from '../api/errors.js';

export function ErrorNote({ error }: { error: unknown }) {
  if (error === undefined || error === null) return null;
  const { name, message } = describeError(error);
  return (
    <div class="error" role="alert" data-testid="error">
      <strong class="error-name">{name}</strong>
      {message === '' ? null : <span class="error-message">: {message}</span>}
    </div>
  );
}
