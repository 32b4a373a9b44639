'use client';

import type { PushResult, RoomDetail, RoomSummary } from '@contracts/api';
import Link from 'next/link';
import { useState, type FormEvent } from 'react';
import { Empty, ErrorBox, Loading, StaleNotice } from '../../../components/states';
import { api, apiCall, ApiError, enc } from '../../../lib/api';
import { useAppFilter, withApp } from '../../../lib/app-filter';
import { num } from '../../../lib/format';
import { usePoll } from '../../../lib/use-poll';
import { ScopeNote } from '../../../components/scope-note';

const PAGE = 25;

/** Room names are one app's: the chosen app's rooms, else the default app's. A new app starts afresh (no cursor, no room picked). */
export function RoomsView() {
  const { app } = useAppFilter();
  return <AppRooms key={app ?? ''} app={app} />;
}

function AppRooms({ app }: { app: string | null }) {
  const { multi, defaultApp } = useAppFilter();
  const [prefixText, setPrefixText] = useState('');
  const [prefix, setPrefix] = useState('');
  // Cursors of the pages before the current one, so "Previous" can go back.
  const [cursors, setCursors] = useState<(string | undefined)[]>([]);
  const [cursor, setCursor] = useState<string | undefined>(undefined);
  const [selected, setSelected] = useState<string | null>(null);

  const list = usePoll(
    () => apiCall<{ rooms: RoomSummary[]; cursor: string | null }>(withApp(`/rooms?limit=${PAGE}${prefix ? `&prefix=${enc(prefix)}` : ''}${cursor ? `&cursor=${enc(cursor)}` : ''}`, app)),
    5000,
    [prefix, cursor, app],
  );

  function filter(e: FormEvent) {
    e.preventDefault();
    setPrefix(prefixText.trim());
    setCursor(undefined);
    setCursors([]);
  }

  const rooms = list.data?.rooms ?? [];
  const nextCursor = list.data?.cursor ?? null;

  return (
    <>
      <div className="page-head">
        <h1>Rooms</h1>
        <p className="muted">Rooms with at least one member, cluster-wide. Personal <code>user:</code> rooms are not listed.</p>
        <ScopeNote
          app={app}
          multi={multi}
          forApp={<>Rooms of app <strong>{app}</strong>.</>}
          forAll={<>Rooms of the default app{defaultApp ? <> (<strong>{defaultApp}</strong>)</> : null}: each app has its own rooms. Choose an app above to see another app’s.</>}
        />
      </div>
      <form className="toolbar" onSubmit={filter} role="search">
        <label className="visually-hidden" htmlFor="prefix">
          Room name prefix
        </label>
        <input id="prefix" placeholder="Filter by prefix, e.g. chat:" value={prefixText} onChange={(e) => setPrefixText(e.target.value)} spellCheck={false} autoComplete="off" />
        <button type="submit" className="btn">
          Filter
        </button>
        {prefix ? (
          <button
            type="button"
            className="btn btn-quiet"
            onClick={() => {
              setPrefixText('');
              setPrefix('');
              setCursor(undefined);
              setCursors([]);
            }}
          >
            Clear
          </button>
        ) : null}
      </form>

      <div className="split">
        <section className="split-main" aria-label="Room list">
          {list.loading ? (
            <Loading what="Loading rooms" />
          ) : !list.data && list.error ? (
            <ErrorBox error={list.error} onRetry={list.reload} />
          ) : (
            <>
              <StaleNotice error={list.error} />
              {rooms.length === 0 ? (
                <Empty title={prefix ? `No room starts with “${prefix}”` : 'No rooms yet'}>Rooms appear here as soon as a socket joins one.</Empty>
              ) : (
                <div className="table-wrap">
                  <table className="table table-click" data-testid="rooms">
                    <thead>
                      <tr>
                        <th>Room</th>
                        <th className="num">Sockets</th>
                        <th className="num">Users</th>
                      </tr>
                    </thead>
                    <tbody>
                      {rooms.map((r) => (
                        <tr key={r.room} className={selected === r.room ? 'selected' : undefined}>
                          <td data-label="Room">
                            <button type="button" className="link" onClick={() => setSelected(r.room)} aria-pressed={selected === r.room}>
                              {r.room}
                            </button>
                          </td>
                          <td data-label="Sockets" className="num">
                            {num(r.sockets)}
                          </td>
                          <td data-label="Users" className="num">
                            {num(r.users)}
                          </td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </div>
              )}
              <div className="pager">
                <button
                  type="button"
                  className="btn btn-small"
                  disabled={cursors.length === 0}
                  onClick={() => {
                    setCursor(cursors[cursors.length - 1]);
                    setCursors(cursors.slice(0, -1));
                  }}
                >
                  ← Previous
                </button>
                <span className="muted">Page {cursors.length + 1}</span>
                <button
                  type="button"
                  className="btn btn-small"
                  disabled={!nextCursor}
                  onClick={() => {
                    setCursors([...cursors, cursor]);
                    setCursor(nextCursor ?? undefined);
                  }}
                >
                  Next →
                </button>
              </div>
            </>
          )}
        </section>
        <section className="split-side" aria-label="Room details">
          {selected ? <RoomPanel room={selected} app={app} onClose={() => setSelected(null)} /> : <Empty title="Pick a room">Its members and a test broadcast form show here.</Empty>}
        </section>
      </div>
    </>
  );
}

function RoomPanel({ room, app, onClose }: { room: string; app: string | null; onClose: () => void }) {
  const detail = usePoll(async () => {
    try {
      return await apiCall<RoomDetail>(withApp(`/rooms/${enc(room)}`, app));
    } catch (err) {
      // 404 is an answer here: everyone left the room.
      if (err instanceof ApiError && err.status === 404) return { data: null, serverTime: Date.now() };
      throw err;
    }
  }, 3000, [room, app]);

  return (
    <div className="card room-panel" data-testid="room-panel">
      <header>
        <h2 title={room}>{room}</h2>
        <button type="button" className="btn btn-quiet btn-small" onClick={onClose} aria-label="Close room details">
          ✕
        </button>
      </header>
      {detail.loading ? (
        <Loading what="Loading members" />
      ) : !detail.data && detail.error ? (
        <ErrorBox error={detail.error} onRetry={detail.reload} />
      ) : !detail.data ? (
        <Empty title="Nobody is in this room now" />
      ) : (
        <>
          <StaleNotice error={detail.error} />
          <p className="muted">
            {num(detail.data.sockets)} socket{detail.data.sockets === 1 ? '' : 's'}, {num(detail.data.users.length)} user{detail.data.users.length === 1 ? '' : 's'}
          </p>
          <ul className="members">
            {detail.data.users.map((u) => (
              <li key={u.userId}>
                <Link href={withApp(`/connections/?user=${enc(u.userId)}`, app)} prefetch={false}>{u.userId}</Link>
                <span className="muted">
                  {u.sockets} socket{u.sockets === 1 ? '' : 's'}
                </span>
              </li>
            ))}
          </ul>
        </>
      )}
      <Broadcast room={room} app={app} key={room} />
    </div>
  );
}

function Broadcast({ room, app }: { room: string; app: string | null }) {
  const [event, setEvent] = useState('dashboard:test');
  const [payload, setPayload] = useState('{\n  "text": "Hello from the dashboard"\n}');
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<{ ok: true; r: PushResult } | { ok: false; message: string } | null>(null);

  async function send(e: FormEvent) {
    e.preventDefault();
    let data: unknown;
    try {
      data = payload.trim() === '' ? null : JSON.parse(payload);
    } catch {
      setResult({ ok: false, message: 'The data is not valid JSON.' });
      return;
    }
    setBusy(true);
    setResult(null);
    try {
      const r = await api<PushResult>(withApp(`/rooms/${enc(room)}/broadcast`, app), { method: 'POST', body: { event: event.trim(), data } });
      setResult({ ok: true, r });
    } catch (err) {
      setResult({ ok: false, message: (err as ApiError).message });
    } finally {
      setBusy(false);
    }
  }

  return (
    <form className="broadcast" onSubmit={(e) => void send(e)}>
      <h3>Send a test broadcast</h3>
      <label htmlFor="bc-event">Event</label>
      <input id="bc-event" value={event} onChange={(e) => setEvent(e.target.value)} spellCheck={false} required />
      <label htmlFor="bc-data">Data (JSON)</label>
      <textarea id="bc-data" rows={4} value={payload} onChange={(e) => setPayload(e.target.value)} spellCheck={false} />
      <button type="submit" className="btn btn-primary" disabled={busy || !event.trim()}>
        {busy ? 'Sending…' : `Send to ${room}`}
      </button>
      {result ? (
        result.ok ? (
          <p className="notice" role="status" data-testid="broadcast-result">
            Sent to <strong data-testid="recipients">{result.r.recipients}</strong> recipient{result.r.recipients === 1 ? '' : 's'} · message id <code>{result.r.id}</code>
          </p>
        ) : (
          <p className="form-error" role="alert">
            {result.message}
          </p>
        )
      ) : null}
    </form>
  );
}
