'use client';

import Link from 'next/link';
import { usePathname, useSearchParams } from 'next/navigation';
import { Suspense, useCallback, useEffect, useMemo, useState, type ReactNode } from 'react';
import { api, ApiError, BASE_PATH } from '../lib/api';
import { AppFilterContext, withApp, type AppFilter } from '../lib/app-filter';
import type { AppInfo } from '../lib/types';
import { Loading } from './states';

const NAV = [
  { href: '/', label: 'Overview' },
  { href: '/connections/', label: 'Connections' },
  { href: '/rooms/', label: 'Rooms' },
  { href: '/webhooks/', label: 'Webhooks' },
  { href: '/logs/', label: 'Logs' },
  { href: '/nodes/', label: 'Nodes' },
];

const strip = (p: string) => (p.length > 1 ? p.replace(/\/$/, '') : p);

/**
 * Every page but sign-in sits in this frame. The pages are static files anyone can fetch; what
 * they show comes only from API calls that need the session, and a missing or expired session
 * sends the browser to sign-in before anything else renders.
 *
 * The app filter lives in the URL (`?app=<id>`): read here through useSearchParams, which a static
 * export can only render in the browser, hence the Suspense boundary (the exported HTML holds the
 * frame without it, the browser then renders the real one).
 */
export function Shell({ children }: { children: ReactNode }) {
  return (
    <Suspense fallback={<Frame appParam={null}>{children}</Frame>}>
      <FrameWithAppParam>{children}</FrameWithAppParam>
    </Suspense>
  );
}

function FrameWithAppParam({ children }: { children: ReactNode }) {
  const appParam = useSearchParams()?.get('app') ?? null;
  return <Frame appParam={appParam}>{children}</Frame>;
}

function Frame({ appParam, children }: { appParam: string | null; children: ReactNode }) {
  const pathname = strip(usePathname() ?? '/');
  const [session, setSession] = useState<{ keyName: string; expiresAt: number } | null>(null);
  const [error, setError] = useState<string | null>(null);
  // null until /admin/apps answers; [] when it fails (the console then works without a filter).
  const [apps, setApps] = useState<AppInfo[] | null>(null);
  const [menuOpen, setMenuOpen] = useState(false);

  useEffect(() => {
    api<{ keyName: string; expiresAt: number }>('/admin/session')
      .then(setSession)
      .catch((err: ApiError) => {
        if (err.status !== 401) setError(err.message);
      });
    api<{ apps: AppInfo[] }>('/admin/apps')
      .then((r) => setApps(Array.isArray(r.apps) ? r.apps : []))
      .catch(() => setApps([]));
  }, []);

  useEffect(() => setMenuOpen(false), [pathname]);

  // A pushState that Next's router follows: useSearchParams (above) sees the new ?app=, pages re-query, Back restores.
  const select = useCallback((id: string | null) => {
    const url = new URL(window.location.href);
    if (id) url.searchParams.set('app', id);
    else url.searchParams.delete('app');
    window.history.pushState(null, '', url);
  }, []);

  const filter = useMemo<AppFilter>(() => {
    const list = apps ?? [];
    const multi = list.length > 1;
    const app = multi && appParam !== null && list.some((a) => a.id === appParam) ? appParam : null;
    return { apps: list, multi, app, defaultApp: multi ? (list.find((a) => a.default)?.id ?? list[0]!.id) : null, select };
  }, [apps, appParam, select]);
  const unknownApp = filter.multi && appParam !== null && filter.app === null ? appParam : null;

  async function signOut() {
    try {
      await api('/admin/session', { method: 'DELETE', allowUnauthorized: true });
    } finally {
      window.location.replace(`${BASE_PATH}/sign-in/?signedOut=1`);
    }
  }

  return (
    <AppFilterContext.Provider value={filter}>
      <div className="shell">
        <header className="topbar">
          <Link href={withApp('/', filter.app)} className="brand">
            pushgate
          </Link>
          <button type="button" className="menu-toggle" aria-expanded={menuOpen} aria-controls="main-nav" onClick={() => setMenuOpen((o) => !o)}>
            Menu
          </button>
          <nav id="main-nav" className={menuOpen ? 'nav open' : 'nav'} aria-label="Main">
            {NAV.map((n) => (
              <Link key={n.href} href={withApp(n.href, filter.app)} className={strip(n.href) === pathname ? 'active' : undefined} aria-current={strip(n.href) === pathname ? 'page' : undefined}>
                {n.label}
              </Link>
            ))}
          </nav>
          <div className="session">
            {filter.multi ? (
              <span className="app-picker">
                <label htmlFor="app-filter">App</label>
                <select id="app-filter" value={filter.app ?? ''} onChange={(e) => filter.select(e.target.value || null)}>
                  <option value="">All apps</option>
                  {filter.apps.map((a) => (
                    <option key={a.id} value={a.id}>
                      {a.id}
                      {a.default ? ' (default)' : ''}
                      {a.enabled ? '' : ' (disabled)'}
                    </option>
                  ))}
                </select>
              </span>
            ) : null}
            {session ? (
              <span className="key-name" title={`Session ends ${new Date(session.expiresAt).toLocaleString()}`}>
                {session.keyName}
              </span>
            ) : null}
            <button type="button" className="btn btn-small" onClick={() => void signOut()}>
              Sign out
            </button>
          </div>
        </header>
        <main className="content">
          {error ? (
            <div className="state state-error" role="alert">
              Cannot check your session: {error}
            </div>
          ) : session && apps ? (
            <>
              {unknownApp ? (
                <p className="stale" role="status">
                  This cluster hosts no app “{unknownApp}”: showing all apps.
                </p>
              ) : null}
              {children}
            </>
          ) : (
            <Loading what="Checking your session" />
          )}
        </main>
      </div>
    </AppFilterContext.Provider>
  );
}
