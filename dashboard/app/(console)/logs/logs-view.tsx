'use client';

import { useState } from 'react';
import { Empty, ErrorBox, Loading, StaleNotice } from '../../../components/states';
import { apiCall } from '../../../lib/api';
import { dateTime } from '../../../lib/format';
import type { LogLine } from '../../../lib/types';
import { usePoll } from '../../../lib/use-poll';

// Access lines (level http) and debug lines drown everything else, so the page opens at info.
const LEVELS = [
  { value: 'error', label: 'Errors only' },
  { value: 'warn', label: 'Warnings and worse' },
  { value: 'info', label: 'Info and worse' },
  { value: 'http', label: 'Info + HTTP access' },
  { value: '', label: 'Everything (debug)' },
];

function metaText(meta: Record<string, unknown>): string {
  const keys = Object.keys(meta);
  if (keys.length === 0) return '';
  const s = JSON.stringify(meta);
  return s.length > 400 ? `${s.slice(0, 400)}…` : s;
}

export function LogsView() {
  const [level, setLevel] = useState('info');
  const [limit, setLimit] = useState(200);
  const [live, setLive] = useState(true);
  const poll = usePoll(() => apiCall<{ lines: LogLine[] }>(`/admin/logs?limit=${limit}${level ? `&level=${level}` : ''}`), live ? 2000 : null, [level, limit]);
  const lines = poll.data?.lines ?? [];

  return (
    <>
      <div className="page-head">
        <h1>Logs</h1>
        <p className="muted">Recent lines from every node, newest first. Tokens and keys are redacted before they are kept.</p>
      </div>
      <div className="toolbar">
        <label className="visually-hidden" htmlFor="level">
          Level
        </label>
        <select id="level" value={level} onChange={(e) => setLevel(e.target.value)}>
          {LEVELS.map((l) => (
            <option key={l.value} value={l.value}>
              {l.label}
            </option>
          ))}
        </select>
        <label className="visually-hidden" htmlFor="limit">
          Lines
        </label>
        <select id="limit" value={limit} onChange={(e) => setLimit(Number(e.target.value))}>
          {[100, 200, 500, 1000].map((n) => (
            <option key={n} value={n}>
              {n} lines
            </option>
          ))}
        </select>
        <label className="check">
          <input type="checkbox" checked={live} onChange={(e) => setLive(e.target.checked)} /> Live tail
        </label>
        {!live ? (
          <button type="button" className="btn btn-small" onClick={poll.reload}>
            Refresh
          </button>
        ) : (
          <span className="live-dot" aria-label="Refreshing every 2 seconds" />
        )}
      </div>
      {poll.loading ? (
        <Loading what="Collecting logs from every node" />
      ) : !poll.data && poll.error ? (
        <ErrorBox error={poll.error} onRetry={poll.reload} />
      ) : (
        <>
          <StaleNotice error={poll.error} />
          {lines.length === 0 ? (
            <Empty title="No log lines">{level ? 'Nothing at this level yet. Try a lower level.' : 'The nodes have not logged anything yet.'}</Empty>
          ) : (
            <ol className="logs" data-testid="logs">
              {lines.map((l, i) => (
                <li key={`${l.ts}-${l.nodeId}-${i}`} className={`log log-${l.level}`}>
                  <time dateTime={l.ts}>{dateTime(l.ts)}</time>
                  <span className={`level level-${l.level}`}>{l.level}</span>
                  <span className="log-node">{l.nodeId}</span>
                  <span className="log-msg">
                    {l.message}
                    {metaText(l.meta) ? <code className="log-meta">{metaText(l.meta)}</code> : null}
                  </span>
                </li>
              ))}
            </ol>
          )}
        </>
      )}
    </>
  );
}
