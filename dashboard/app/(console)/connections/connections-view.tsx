'use client';

import type { LiveSocket } from '@contracts/socket-events';
import { useEffect, useState, type FormEvent } from 'react';
import { Confirm } from '../../../components/confirm';
import { Empty, ErrorBox, Loading, StaleNotice } from '../../../components/states';
import { api, apiCall, ApiError, enc } from '../../../lib/api';
import { ago, dateTime } from '../../../lib/format';
import { usePoll } from '../../../lib/use-poll';

type By = 'userId' | 'socketId';
interface Query {
  by: By;
  value: string;
}

export function ConnectionsView() {
  const [by, setBy] = useState<By>('userId');
  const [text, setText] = useState('');
  const [query, setQuery] = useState<Query | null>(null);
  const [reveal, setReveal] = useState(false);
  const [confirming, setConfirming] = useState<string | null>(null);
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
    const url = new URL(window.location.href);
    url.search = `?${q.by === 'userId' ? 'user' : 'socket'}=${enc(q.value)}`;
    window.history.replaceState(null, '', url);
  }

  function submit(e: FormEvent) {
    e.preventDefault();
    if (text.trim()) start({ by, value: text.trim() });
  }

  // Live: a socket that connects after the search shows up within one refresh. Every second, not
  // every two: operators watch for a client they are connecting right now, and a refresh is one
  // cluster-wide lookup for one user or socket, which is cheap.
  const poll = usePoll(
    () => (query ? apiCall<{ sockets: LiveSocket[] }>(`/admin/connections?${query.by}=${enc(query.value)}${reveal ? '&reveal=true' : ''}`) : Promise.resolve({ data: { sockets: [] }, serverTime: Date.now() })),
    query ? 1000 : null,
    [query?.by, query?.value, reveal],
  );
  const sockets = poll.data?.sockets ?? [];
  const users = [...new Set(sockets.map((s) => s.userId))];
  const target = query?.by === 'userId' ? query.value : users.length === 1 ? users[0]! : null;

  async function disconnect(userId: string) {
    setBusy(true);
    try {
      const r = await api<{ disconnected: number }>(`/users/${enc(userId)}/connections`, { method: 'DELETE' });
      setOutcome({ ok: true, text: `Disconnected ${r.disconnected} socket${r.disconnected === 1 ? '' : 's'} of ${userId}.` });
      poll.reload();
    } catch (err) {
      setOutcome({ ok: false, text: `Could not disconnect ${userId}: ${(err as ApiError).message}` });
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
                Disconnect {target} everywhere
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

      <Confirm open={confirming !== null} title={`Disconnect ${confirming ?? ''}?`} confirmLabel="Disconnect" busy={busy} onCancel={() => setConfirming(null)} onConfirm={() => confirming && void disconnect(confirming)}>
        <p>
          Every socket of <strong>{confirming}</strong>, on every node, is closed now. Clients that reconnect on their own will come back if their token is still valid.
        </p>
      </Confirm>
    </>
  );
}
