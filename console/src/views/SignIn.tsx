// Sign-in with an access key: an id and secret, or a profile pasted from a credentials file. The
// key is checked with a signed call (GetCallerIdentity) before the console opens.

import { useState } from 'preact/hooks';

import { type Credentials, parseCredentialsProfile } from '../api/session.js';
import { ErrorNote } from '../components/ErrorNote.js';

export function SignIn({ onSignIn, error, busy }: { onSignIn: (credentials: Credentials) => void; error: unknown; busy: boolean }) {
  const [mode, setMode] = useState<'key' | 'profile'>('key');
  const [accessKeyId, setAccessKeyId] = useState('');
  const [secretAccessKey, setSecret] = useState('');
  const [profileText, setProfileText] = useState('');
  const [profileName, setProfileName] = useState('');
  const [formError, setFormError] = useState<string | undefined>(undefined);

  const submit = (event: Event) => {
    event.preventDefault();
    setFormError(undefined);
    if (mode === 'key') {
      if (accessKeyId.trim() === '' || secretAccessKey.trim() === '') return setFormError('Enter the access key ID and the secret access key.');
      return onSignIn({ accessKeyId: accessKeyId.trim(), secretAccessKey: secretAccessKey.trim() });
    }
    const parsed = parseCredentialsProfile(profileText, profileName.trim());
    if (parsed === undefined) {
      return setFormError(profileName.trim() === '' ? 'No profile with aws_access_key_id and aws_secret_access_key was found.' : `No complete profile named "${profileName.trim()}" was found.`);
    }
    return onSignIn(parsed);
  };

  return (
    <main class="sign-in">
      <h1>keybridge console</h1>
      <p class="muted">Sign in with an access key. It stays in this browser tab and signs each request; it is never sent.</p>
      <div class="tabs" role="tablist">
        <button type="button" role="tab" aria-selected={mode === 'key'} class={mode === 'key' ? 'tab active' : 'tab'} onClick={() => setMode('key')}>
          Access key
        </button>
        <button type="button" role="tab" aria-selected={mode === 'profile'} class={mode === 'profile' ? 'tab active' : 'tab'} onClick={() => setMode('profile')}>
          Credentials profile
        </button>
      </div>
      <form onSubmit={submit} class="card">
        {mode === 'key' ? (
          <>
            <label>
              Access key ID
              <input name="accessKeyId" autocomplete="username" spellcheck={false} value={accessKeyId} onInput={(e) => setAccessKeyId(e.currentTarget.value)} />
            </label>
            <label>
              Secret access key
              <input name="secretAccessKey" type="password" autocomplete="current-password" value={secretAccessKey} onInput={(e) => setSecret(e.currentTarget.value)} />
            </label>
          </>
        ) : (
          <>
            <label>
              Profile from a credentials file
              <textarea name="profile" rows={6} spellcheck={false} placeholder={'[keybridge]\naws_access_key_id = …\naws_secret_access_key = …'} value={profileText} onInput={(e) => setProfileText(e.currentTarget.value)} />
            </label>
            <label>
              Profile name (optional)
              <input name="profileName" value={profileName} onInput={(e) => setProfileName(e.currentTarget.value)} />
            </label>
          </>
        )}
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
        {formError === undefined ? null : (
          <div class="error" role="alert" data-testid="error">
            {formError}
          </div>
        )}
        <ErrorNote error={error} />
      </form>
    </main>
  );
}
