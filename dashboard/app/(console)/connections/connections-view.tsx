'use client';

import { useEffect, useState, type FormEvent } from 'react';
import { Confirm } from '../../../components/confirm';
import { Empty, ErrorBox, Loading, StaleNotice } from '../../../components/states';
import { api, apiCall, ApiError, enc } from '../../../lib/api';
import { useAppFilter, withApp } from '../../../lib/app-filter';
import { ago, dateTime } from '../../../lib/format';
import type { AppSocket } from '../../../lib/types';
import { usePoll } from '../../../lib/use-poll';
import { ScopeNote } from '../../../components/scope-note';

type By = 'userId' | 'socketId';
interface Query {
  by: By;
  value: string;
}

/** Whom "Disconnect" closes: a user of one app (null: the default app, as the API takes it). */
interface Target {
  userId: string;
  app: string | null;
}

export function ConnectionsView() {
  const { app, multi, defaultApp } = useAppFilter();
  const [by, setBy] = useState<By>('userId');
  const [text, setText] = useState('');
  const [query, setQuery] = useState<Query | null>(null);
  const [reveal, setReveal] = useState(false);
  const [confirming, setConfirming] = useState<Target | null>(null);
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<{ ok: boolean; text: string } | null>(null);

  // Deep links from the Rooms page: ?user=<id> or ?socket=<id>.
  useEffect(() => {
    const p = new URLSearchParams(window.location.search);
    const user = p.get('user');
    const socket = p.get('socket');
    if (user) start({ by: 'userId', value: user });
    else if (socket) start({ by: 'socketId', value: socket });
  }, []);

  function start(q: Query) {
    setBy(q.by);
    setText(q.value);
    setQuery(q);
    setOutcome(null);
    // Keeps ?app= (the shell's app filter) and replaces the search.
    const url = new URL(window.location.href);
    url.searchParams.delete('user');
    url.searchParams.delete('socket');
    url.searchParams.set(q.by === 'userId' ? 'user' : 'socket', q.value);
    window.history.replaceState(null, '', url);
  }

  function submit(e: FormEvent) {
    e.preventDefault();
    if (text.trim()) start({ by, value: text.trim() });
  }

  // Live: a socket that connects after the search shows up within one refresh. Every second, not
  // every two: operators watch for a client they are connecting right now, and a refresh is one
  // cluster-wide lookup for one user or socket, which is cheap. A user id is one app's (the chosen
  // one, else the default app); a socket id is looked for in the chosen app, else in every app.
  const poll = usePoll(
    () =>
      query
        ? apiCall<{ sockets: AppSocket[] }>(withApp(`/admin/connections?${query.by}=${enc(query.value)}${reveal ? '&reveal=true' : ''}`, app))
        : Promise.resolve({ data: { sockets: [] as AppSocket[] }, serverTime: Date.now() }),
    query ? 1000 : null,
    [query?.by, query?.value, reveal, app],
  );
  const sockets = poll.data?.sockets ?? [];
  const showApp = sockets.some((s) => s.app !== undefined);
  const users = [...new Set(sockets.map((s) => JSON.stringify([s.app, s.userId])))];
  const targetUser = query?.by === 'userId' ? query.value : users.length === 1 ? sockets[0]!.userId : null;
  // The app the sockets say they belong to, so a socket found under "All apps" disconnects its own user.
  const target: Target | null = targetUser === null ? null : { userId: targetUser, app: sockets.find((s) => s.userId === targetUser)?.app ?? app };
  const whose = (t: Target) => (t.app && multi ? `${t.userId} (app ${t.app})` : t.userId);

  async function disconnect(t: Target) {
    setBusy(true);
    try {
      const r = await api<{ disconnected: number }>(withApp(`/users/${enc(t.userId)}/connections`, t.app), { method: 'DELETE' });
      setOutcome({ ok: true, text: `Disconnected ${r.disconnected} socket${r.disconnected === 1 ? '' : 's'} of ${whose(t)}.` });
      poll.reload();
    } catch (err) {
      setOutcome({ ok: false, text: `Could not disconnect ${whose(t)}: ${(err as ApiError).message}` });
    } finally {
      setBusy(false);
      setConfirming(null);
    }
  }

  return (
    <>
      <div className="page-head">
        <h1>Connections</h1>
        <p className="muted">Find a user’s sockets, or one socket, on every node.</p>
        <ScopeNote
          app={app}
          multi={multi}
          forApp={<>Users of app <strong>{app}</strong>.</>}
          forAll={<>User ids are looked up in the default app{defaultApp ? <> (<strong>{defaultApp}</strong>)</> : null}; socket ids in every app. Choose an app above to find another app’s users.</>}
        />
      </div>
      <form className="toolbar" onSubmit={submit} role="search">
        <label className="visually-hidden" htmlFor="find-by">
          Find by
        </label>
        <select id="find-by" value={by} onChange={(e) => setBy(e.target.value as By)}>
          <option value="userId">User id</option>
          <option value="socketId">Socket id</option>
        </select>
        <label className="visually-hidden" htmlFor="find-value">
          {by === 'userId' ? 'User id' : 'Socket id'}
        </label>
        <input id="find-value" name="q" placeholder={by === 'userId' ? 'e.g. user-42' : 'e.g. Gx3…'} value={text} onChange={(e) => setText(e.target.value)} spellCheck={false} autoComplete="off" />
        <button type="submit" className="btn btn-primary" disabled={!text.trim()}>
          Find
        </button>
        <label className="check">
          <input type="checkbox" checked={reveal} onChange={(e) => setReveal(e.target.checked)} /> Reveal addresses
        </label>
      </form>

      {outcome ? (
        <p className={outcome.ok ? 'notice' : 'form-error'} role="status" data-testid="outcome">
          {outcome.text}
        </p>
      ) : null}

      {!query ? (
        <Empty title="Search for a user or a socket">Enter a user id (the token’s <code>sub</code>) or a socket id. Results refresh every second.</Empty>
      ) : poll.loading ? (
        <Loading what="Looking on every node" />
      ) : !poll.data && poll.error ? (
        <ErrorBox error={poll.error} onRetry={poll.reload} />
      ) : (
        <section aria-live="polite">
          <StaleNotice error={poll.error} />
          <div className="section-head">
            <h2>
              {sockets.length} socket{sockets.length === 1 ? '' : 's'} {query.by === 'userId' ? `of ${query.value}` : `with id ${query.value}`}
            </h2>
            {target && sockets.length > 0 ? (
              <button type="button" className="btn btn-danger" onClick={() => setConfirming(target)}>
                Disconnect {target.userId} everywhere
              </button>
            ) : null}
          </div>
          {sockets.length === 0 ? (
            <Empty title="Not connected">{query.by === 'userId' ? `No node has a socket of ${query.value} right now.` : 'No node has a socket with this id.'} This list refreshes on its own.</Empty>
          ) : (
            <div className="table-wrap">
              <table className="table" data-testid="sockets">
                <thead>
                  <tr>
                    <th>Socket</th>
                    <th>User</th>
                    {showApp ? <th>App</th> : null}
                    <th>Node</th>
                    <th>Connected</th>
                    <th>Rooms</th>
                    <th>Transport</th>
                    <th>Address</th>
                  </tr>
                </thead>
                <tbody>
                  {sockets.map((s) => (
                    <tr key={s.id} data-socket-id={s.id}>
                      <td data-label="Socket">
                        <code>{s.id}</code>
                      </td>
                      <td data-label="User">{s.userId}</td>
                      {showApp ? <td data-label="App">{s.app ?? ''}</td> : null}
                      <td data-label="Node">{s.nodeId}</td>
                      <td data-label="Connected" title={dateTime(s.connectedAt)}>
                        {ago(s.connectedAt, poll.serverTime)}
                      </td>
                      <td data-label="Rooms">{s.rooms.length ? s.rooms.map((r) => <span key={r} className="chip">{r}</span>) : <span className="muted">none</span>}</td>
                      <td data-label="Transport">{s.transport}</td>
                      <td data-label="Address">
                        <code>{s.address}</code>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </section>
      )}

      <Confirm open={confirming !== null} title={`Disconnect ${confirming ? whose(confirming) : ''}?`} confirmLabel="Disconnect" busy={busy} onCancel={() => setConfirming(null)} onConfirm={() => confirming && void disconnect(confirming)}>
        <p>
          Every socket of <strong>{confirming?.userId}</strong>
          {confirming?.app && multi ? ` in app ${confirming.app}` : ''}, on every node, is closed now. Clients that reconnect on their own will come back if their token is still valid.
        </p>
      </Confirm>
    </>
  );
}
