'use client';

import Link from 'next/link';
import { usePathname } from 'next/navigation';
import { useEffect, useState, type ReactNode } from 'react';
import { api, ApiError, BASE_PATH } from '../lib/api';
import { Loading } from './states';

const NAV = [
  { href: '/', label: 'Overview' },
  { href: '/connections/', label: 'Connections' },
  { href: '/rooms/', label: 'Rooms' },
  { href: '/logs/', label: 'Logs' },
  { href: '/nodes/', label: 'Nodes' },
];

const strip = (p: string) => (p.length > 1 ? p.replace(/\/$/, '') : p);

/**
 * Every page but sign-in sits in this frame. The pages are static files anyone can fetch; what
 * they show comes only from API calls that need the session, and a missing or expired session
 * sends the browser to sign-in before anything else renders.
 */
export function Shell({ children }: { children: ReactNode }) {
  const pathname = strip(usePathname() ?? '/');
  const [session, setSession] = useState<{ keyName: string; expiresAt: number } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [menuOpen, setMenuOpen] = useState(false);

  useEffect(() => {
    api<{ keyName: string; expiresAt: number }>('/admin/session')
      .then(setSession)
      .catch((err: ApiError) => {
        if (err.status !== 401) setError(err.message);
      });
  }, []);

  useEffect(() => setMenuOpen(false), [pathname]);

  async function signOut() {
    try {
      await api('/admin/session', { method: 'DELETE', allowUnauthorized: true });
    } finally {
      window.location.replace(`${BASE_PATH}/sign-in/?signedOut=1`);
    }
  }

  return (
    <div className="shell">
      <header className="topbar">
        <Link href="/" className="brand">
          pushgate
        </Link>
        <button type="button" className="menu-toggle" aria-expanded={menuOpen} aria-controls="main-nav" onClick={() => setMenuOpen((o) => !o)}>
          Menu
        </button>
        <nav id="main-nav" className={menuOpen ? 'nav open' : 'nav'} aria-label="Main">
          {NAV.map((n) => (
            <Link key={n.href} href={n.href} className={strip(n.href) === pathname ? 'active' : undefined} aria-current={strip(n.href) === pathname ? 'page' : undefined}>
              {n.label}
            </Link>
          ))}
        </nav>
        <div className="session">
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
      <main className="content">{session ? children : error ? <div className="state state-error" role="alert">Cannot check your session: {error}</div> : <Loading what="Checking your session" />}</main>
    </div>
  );
}
