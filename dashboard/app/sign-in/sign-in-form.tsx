'use client';

import { useEffect, useState, type FormEvent } from 'react';
import { api, ApiError, BASE_PATH } from '../../lib/api';

/** Only paths inside the dashboard: `next` comes from the URL, so it must not lead elsewhere. */
function safeNext(raw: string | null): string {
  return raw && raw.startsWith(`${BASE_PATH}/`) && !raw.startsWith('//') && !raw.includes('/sign-in') ? raw : `${BASE_PATH}/`;
}

export function SignInForm() {
  const [key, setKey] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);

  useEffect(() => {
    const params = new URLSearchParams(window.location.search);
    if (params.has('signedOut')) setNotice('You are signed out.');
    else if (params.has('next')) setNotice('Please sign in to continue.');
    // Already signed in (a second tab, say): go straight on.
    api('/admin/session', { allowUnauthorized: true })
      .then(() => window.location.replace(safeNext(params.get('next'))))
      .catch(() => undefined);
  }, []);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await api('/admin/session', { method: 'POST', body: { key: key.trim() }, allowUnauthorized: true });
      window.location.replace(safeNext(new URLSearchParams(window.location.search).get('next')));
    } catch (err) {
      const e2 = err as ApiError;
      setError(e2.status === 401 ? 'That key was not accepted: it is not an admin API key.' : e2.status === 429 ? `Too many attempts. ${e2.message}` : e2.status === 400 ? 'Enter an admin API key.' : e2.message);
      setBusy(false);
    }
  }

  return (
    <form className="sign-in-card" onSubmit={(e) => void submit(e)}>
      <h1>pushgate</h1>
      <p className="muted">Sign in with an API key that has the <code>admin</code> scope. The key is exchanged for a session cookie and not stored in the browser.</p>
      {notice && !error ? <p className="notice">{notice}</p> : null}
      <label htmlFor="key">Admin API key</label>
      <input id="key" name="key" type="password" autoComplete="current-password" spellCheck={false} required value={key} onChange={(e) => setKey(e.target.value)} autoFocus />
      {error ? (
        <p className="form-error" role="alert" data-testid="sign-in-error">
          {error}
        </p>
      ) : null}
      <button type="submit" className="btn btn-primary" disabled={busy || key.trim() === ''}>
        {busy ? 'Signing in…' : 'Sign in'}
      </button>
    </form>
  );
}
