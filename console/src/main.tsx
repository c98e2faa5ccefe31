/** The console's shell: sign-in, the navigation, the page the hash names, the live link. */
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError, api, storedToken, storeToken, whenUnauthenticated } from './api.js';
import { followEvents, type LinkState } from './events.js';
import { Dashboard } from './pages/dashboard.js';
import { ImagePage } from './pages/image.js';
import { Images } from './pages/images.js';
import { Peers } from './pages/peers.js';
import { Sites } from './pages/sites.js';
import { Transfers } from './pages/transfers.js';
import { NO_RATES, nextRates } from './rate-history.js';
import type { Activity, Whoami } from './types.js';
import { ErrorNote } from './widgets.js';

function useHash(): string {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const on = () => setHash(location.hash);
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return hash;
}

function SignIn({ onIn, error }: { onIn(w: Whoami): void; error: unknown }) {
  const [token, setToken] = useState('');
  const [failure, setFailure] = useState<unknown>(error);
  const submit = async (e: Event) => {
    e.preventDefault();
    try {
      const who = await api<Whoami>('GET', '/api/v1/whoami', undefined, token.trim());
      storeToken(token.trim());
      onIn(who);
    } catch (err) {
      setFailure(err);
    }
  };
  return (
    <form id="sign-in" class="sign-in" onSubmit={submit}>
      <h1>Ingot</h1>
      <label>
        Token
        <input
          type="password"
          id="token"
          autoComplete="off"
          value={token}
          onInput={(e) => setToken((e.target as HTMLInputElement).value)}
        />
      </label>
      <button type="submit" id="sign-in-button">
        Sign in
      </button>
      <p class="muted">
        A token from <code>ingot token create NAME --role reader</code>, or <code>$INGOT_HOME/token</code>. It
        is kept in this tab only.
      </p>
      <ErrorNote error={failure} />
    </form>
  );
}

function App() {
  const [who, setWho] = useState<Whoami | undefined>(undefined);
  const [checking, setChecking] = useState(storedToken() !== null);
  const [signInError, setSignInError] = useState<unknown>(undefined);
  const [activity, setActivity] = useState<Activity | undefined>(undefined);
  const [link, setLink] = useState<LinkState>('closed');
  // Kept here, not in a page, so the plot goes on while the user looks elsewhere.
  const [rates, setRates] = useState(NO_RATES);
  const hash = useHash();

  const signOut = (why?: unknown) => {
    storeToken(null);
    setWho(undefined);
    setSignInError(why);
  };
  useEffect(() => {
    whenUnauthenticated(() =>
      signOut(new ApiError(401, 'UNAUTHENTICATED', 'the token no longer holds', 'sign in again')),
    );
    if (!storedToken()) return;
    api<Whoami>('GET', '/api/v1/whoami')
      .then(setWho, signOut)
      .finally(() => setChecking(false));
  }, []);
  useEffect(() => {
    if (!who) return;
    const abort = new AbortController();
    const activity = (a: Activity) => {
      setActivity(a);
      setRates((r) => nextRates(r, a, Date.now()));
    };
    followEvents({ activity, state: setLink, unauthenticated: () => signOut() }, abort.signal);
    return () => abort.abort();
  }, [who]);

  if (checking) return <p class="muted">…</p>;
  if (!who) return <SignIn onIn={setWho} error={signInError} />;
  const [, page = '', arg] = hash.split('/');
  const body =
    page === 'images' && arg ? (
      <ImagePage name={decodeURIComponent(arg)} role={who.role} />
    ) : page === 'images' ? (
      <Images role={who.role} />
    ) : page === 'transfers' ? (
      <Transfers activity={activity} rates={rates.points} />
    ) : page === 'peers' ? (
      <Peers role={who.role} />
    ) : page === 'sites' ? (
      <Sites role={who.role} activity={activity} />
    ) : (
      <Dashboard activity={activity} rates={rates.points} />
    );
  const nav = (href: string, name: string, label: string) => (
    <a href={href} class={page === name ? 'current' : ''}>
      {label}
    </a>
  );
  return (
    <>
      <header>
        <strong>Ingot</strong> <span class="muted">{who.server}</span>
        <nav>
          {nav('#/', '', 'Dashboard')}
          {nav('#/images', 'images', 'Images')}
          {nav('#/transfers', 'transfers', 'Transfers and jobs')}
          {nav('#/peers', 'peers', 'Peers')}
          {nav('#/sites', 'sites', 'Sites')}
        </nav>
        <span class={`link link-${link}`} id="link-state">
          {link}
        </span>
        <span id="whoami">
          {who.name} ({who.role})
        </span>
        <button type="button" id="sign-out" onClick={() => signOut()}>
          Sign out
        </button>
      </header>
      <main>{body}</main>
    </>
  );
}

const root = document.getElementById('app');
if (root) render(<App />, root);
