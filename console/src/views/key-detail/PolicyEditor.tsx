// The key policy in a JSON editor. Its shape is checked as the person types, and before saving
// the console warns when the new policy would stop the caller from changing it again
// (lockout.ts). The console never bypasses the server's lockout safety check: when the server
// refuses, its MalformedPolicyDocumentException is shown next to the Save button.

import { GetKeyPolicyCommand, PutKeyPolicyCommand } from '@aws-sdk/client-kms';
import { useEffect, useState } from 'preact/hooks';

import { ErrorNote } from '../../components/ErrorNote.js';
import { useAction, useLoad } from '../../components/hooks.js';
import { useConsole } from '../../context.js';
import { lockoutRisk } from './lockout.js';
import { prettyPolicy, validatePolicy } from './policy-check.js';

export function PolicyEditor({ keyId, keyArn }: { keyId: string; keyArn: string | undefined }) {
  const { kms, identity } = useConsole();
  const policy = useLoad(async () => (await kms.send(new GetKeyPolicyCommand({ KeyId: keyId, PolicyName: 'default' }))).Policy ?? '', [keyId]);
  const [text, setText] = useState<string | undefined>(undefined);
  const [acknowledged, setAcknowledged] = useState(false);
  const [saved, setSaved] = useState(false);

  // A (re)loaded policy replaces the editor's text: after a save it shows what the server stored.
  useEffect(() => {
    if (policy.data !== undefined) setText(prettyPolicy(policy.data));
  }, [policy.data]);

  const shown = text ?? '';
  const invalid = text === undefined ? undefined : validatePolicy(shown);
  const risk = text === undefined || invalid !== undefined ? undefined : lockoutRisk(shown, identity.Arn, identity.Account, keyArn);
  // An acknowledgement is for one warning: a different risk must be acknowledged again.
  useEffect(() => setAcknowledged(false), [risk]);

  const save = useAction(async () => {
    await kms.send(new PutKeyPolicyCommand({ KeyId: keyId, PolicyName: 'default', Policy: shown }));
    setSaved(true);
    policy.reload();
  });
  const edit = (value: string) => {
    setText(value);
    setSaved(false);
    save.clear();
  };

  return (
    <section class="card" aria-labelledby="policy-heading" data-testid="key-policy">
      <div class="heading">
        <h2 id="policy-heading">Key policy</h2>
        <button type="button" onClick={() => (policy.data === undefined ? policy.reload() : edit(prettyPolicy(policy.data)))} disabled={policy.loading}>
          Discard changes
        </button>
      </div>
      <ErrorNote error={policy.error} />
      {text === undefined ? (
        policy.loading ? <p class="muted">Loading the key policy…</p> : null
      ) : (
        <form
          class="policy-form"
          aria-label="Key policy"
          onSubmit={(e) => {
            e.preventDefault();
            void save.run();
          }}
        >
          <label>
            Policy document (JSON)
            <textarea
              name="policy"
              data-testid="policy-editor"
              class="code"
              rows={Math.min(30, Math.max(12, shown.split('\n').length + 1))}
              spellcheck={false}
              autoComplete="off"
              aria-invalid={invalid !== undefined}
              aria-describedby={invalid !== undefined ? 'policy-invalid' : undefined}
              value={shown}
              onInput={(e) => edit(e.currentTarget.value)}
            />
          </label>
          {invalid !== undefined ? (
            <p class="error" id="policy-invalid" data-testid="policy-invalid" aria-live="polite">
              {invalid}
            </p>
          ) : null}
          {risk !== undefined ? (
            <div class="warning" role="alert" data-testid="lockout-warning">
              <p>
                <strong>You may lock yourself out of this key policy.</strong> {risk} Only someone the new policy allows kms:PutKeyPolicy could change it.
              </p>
              <label class="check">
                <input type="checkbox" name="acknowledgeLockout" checked={acknowledged} onChange={(e) => setAcknowledged(e.currentTarget.checked)} /> I understand that I may no
                longer be able to change this key policy.
              </label>
            </div>
          ) : null}
          <div class="actions">
            <button type="submit" class="primary" disabled={save.busy || invalid !== undefined || (risk !== undefined && !acknowledged)}>
              {save.busy ? 'Saving…' : 'Save policy'}
            </button>
            {saved ? (
              <span class="ok" role="status" data-testid="policy-saved">
                Policy saved.
              </span>
            ) : null}
          </div>
          <ErrorNote error={save.error} />
        </form>
      )}
    </section>
  );
}
