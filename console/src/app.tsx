// The console's shell: sign-in until a key is known good, then the navigation and the views.

import { useEffect, useState } from 'preact/hooks';

import { callAdmin } from './api/admin.js';
import { kmsClientFor } from './api/kms.js';
import { clearSession, type ConsoleConfig, type Credentials, fetchConsoleConfig, loadSession, saveSession, type Session } from './api/session.js';
import { ErrorNote } from './components/ErrorNote.js';
import { type CallerIdentity, Console, type ConsoleContext, useConsole } from './context.js';
import { hrefOf, type Route, useRoute } from './router.js';
import { Audit } from './views/Audit.js';
import { KeyDetail } from './views/KeyDetail.js';
import { Keys } from './views/Keys.js';
import { KeyStores } from './views/KeyStores.js';
import { Overview } from './views/Overview.js';
import { SignIn } from './views/SignIn.js';

const NAV: ReadonlyArray<{ route: Route; label: string }> = [
  { route: { view: 'overview' }, label: 'Overview' },
  { route: { view: 'keys' }, label: 'Keys' },
  { route: { view: 'stores' }, label: 'Custom key stores' },
  { route: { view: 'audit' }, label: 'Audit trail' },
];

function contextFor(session: Session, identity: CallerIdentity, accountId: string): ConsoleContext {
  return { session, kms: kmsClientFor(session), admin: (op, input) => callAdmin(session, op, input), identity, accountId };
}

export function App() {
  const [config, setConfig] = useState<ConsoleConfig | undefined>(undefined);
  const [configError, setConfigError] = useState<unknown>(undefined);
  const [ctx, setCtx] = useState<ConsoleContext | undefined>(undefined);
  const [signInError, setSignInError] = useState<unknown>(undefined);
  const [busy, setBusy] = useState(false);

  const signIn = async (credentials: Credentials, known?: ConsoleConfig) => {
    const cfg = known ?? config;
    if (cfg === undefined) return;
    setBusy(true);
    setSignInError(undefined);
    const session: Session = { credentials, region: cfg.region };
    try {
      const identity = await callAdmin<CallerIdentity>(session, 'GetCallerIdentity');
      saveSession(session);
      setCtx(contextFor(session, identity, cfg.accountId));
    } catch (err) {
      clearSession();
      setSignInError(err);
    } finally {
      setBusy(false);
    }
  };

  useEffect(() => {
    fetchConsoleConfig().then(
      (cfg) => {
        setConfig(cfg);
        const saved = loadSession();
        if (saved !== undefined) void signIn(saved.credentials, cfg);
      },
      setConfigError,
    );
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  const signOut = () => {
    clearSession();
    setCtx(undefined);
  };

  // SigV4 needs WebCrypto, which browsers give only to secure contexts: HTTPS, or loopback.
  if (!window.isSecureContext) {
    return (
      <main class="sign-in">
        <h1>keybridge console</h1>
        <div class="error" role="alert" data-testid="error">
          This page is not a secure context, so the browser withholds the cryptography that signs requests. Open the console over HTTPS (listen.tls) or
          on a loopback address (http://127.0.0.1:…/console/).
        </div>
      </main>
    );
  }
  if (configError !== undefined) return <ErrorNote error={configError} />;
  if (config === undefined) return <p class="muted page">Loading…</p>;
  if (ctx === undefined) return <SignIn onSignIn={(c) => void signIn(c)} error={signInError} busy={busy} />;
  return (
    <Console.Provider value={ctx}>
      <Shell onSignOut={signOut} />
    </Console.Provider>
  );
}

function Shell({ onSignOut }: { onSignOut: () => void }) {
  const route = useRoute();
  const current = route.view === 'key' ? 'keys' : route.view;
  return (
    <>
      <header class="top">
        <a class="brand" href="#/overview">
          keybridge
        </a>
        <nav aria-label="Main">
          {NAV.map(({ route: r, label }) => (
            <a href={hrefOf(r)} class={current === r.view ? 'active' : ''} aria-current={current === r.view ? 'page' : undefined}>
              {label}
            </a>
          ))}
        </nav>
        <Identity onSignOut={onSignOut} />
      </header>
      <main class="page">
        <View route={route} />
      </main>
    </>
  );
}

function Identity({ onSignOut }: { onSignOut: () => void }) {
  const { identity } = useConsole();
  return (
    <div class="identity">
      <span class="caller" title={identity.Arn} data-testid="caller">
        {identity.Arn}
      </span>
      <button type="button" onClick={onSignOut}>
        Sign out
      </button>
    </div>
  );
}

function View({ route }: { route: Route }) {
  switch (route.view) {
    case 'overview':
      return <Overview />;
    case 'keys':
      return <Keys />;
    case 'key':
      return <KeyDetail keyId={route.keyId} />;
    case 'stores':
      return <KeyStores />;
    case 'audit':
      return <Audit />;
  }
}
