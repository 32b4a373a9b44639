'use client';

import { HealthBadge, nodeHealth } from '../../../components/node-health';
import { Empty, ErrorBox, Loading, StaleNotice } from '../../../components/states';
import { apiCall } from '../../../lib/api';
import { useAppFilter, withApp } from '../../../lib/app-filter';
import { ago, bytes, dateTime, duration, ms, num } from '../../../lib/format';
import type { ClusterNode } from '../../../lib/types';
import { usePoll } from '../../../lib/use-poll';
import { ScopeNote } from '../../../components/scope-note';

export function NodesView() {
  const { app, multi } = useAppFilter();
  const poll = usePoll(() => apiCall<{ nodes: ClusterNode[] }>(withApp('/admin/nodes', app)), 2000, [app]);
  const nodes = poll.data?.nodes ?? [];
  const now = poll.serverTime;
  const down = nodes.filter((n) => nodeHealth(n, now).level === 'down').length;

  return (
    <>
      <div className="page-head">
        <h1>Nodes</h1>
        <p className="muted">Every node heart-beats its status. One that stops is shown as down until the cluster forgets it.</p>
        <ScopeNote app={app} multi={multi} forApp={<>Connections and users of app <strong>{app}</strong> only; the rest is each node’s whole.</>} />
      </div>
      {poll.loading ? (
        <Loading what="Loading nodes" />
      ) : !poll.data && poll.error ? (
        <ErrorBox error={poll.error} onRetry={poll.reload} />
      ) : nodes.length === 0 ? (
        <Empty title="No nodes">No node has reported a heartbeat yet.</Empty>
      ) : (
        <>
          <StaleNotice error={poll.error} />
          <p className="summary">
            {nodes.length} node{nodes.length === 1 ? '' : 's'}
            {down ? <strong className="text-down"> · {down} down</strong> : ' · all heart-beating'}
          </p>
          <div className="cards cards-wide">
            {nodes.map((n) => {
              const health = nodeHealth(n, now);
              return (
                <article key={n.id} className={`card node-card node-${health.level}`} data-testid="node-detail">
                  <header>
                    <h2 title={n.id}>{n.id}</h2>
                    <HealthBadge health={health} />
                  </header>
                  <dl className="facts">
                    <dt>Status</dt>
                    <dd>{health.reason}</dd>
                    <dt>Version</dt>
                    <dd>{n.version}</dd>
                    <dt>Ready</dt>
                    <dd>{n.ready ? 'yes' : 'no'}</dd>
                    <dt>{app ? `Connections of ${app}` : 'Connections'}</dt>
                    <dd data-fact="connections">{num(n.connections)}</dd>
                    <dt>{app ? `Users of ${app}` : 'Users'}</dt>
                    <dd data-fact="users">{num(n.users)}</dd>
                    {!app && n.apps && multi ? (
                      <>
                        <dt>By app (sockets / users)</dt>
                        <dd data-fact="by-app">
                          {Object.keys(n.apps).length === 0 ? (
                            <span className="muted">no sockets</span>
                          ) : (
                            Object.entries(n.apps)
                              .sort(([a], [b]) => a.localeCompare(b))
                              .map(([id, c]) => (
                                <span key={id} className="chip" title={`${num(c.connections)} sockets, ${num(c.users)} users of ${id}`}>
                                  {id}: {num(c.connections)} / {num(c.users)}
                                </span>
                              ))
                          )}
                        </dd>
                      </>
                    ) : null}
                    <dt>Rooms</dt>
                    <dd>{num(n.rooms)}</dd>
                    <dt>Memory (RSS)</dt>
                    <dd>{bytes(n.memoryRss)}</dd>
                    <dt>Event-loop lag</dt>
                    <dd>{ms(n.eventLoopLagMs)}</dd>
                    <dt>Redis</dt>
                    <dd className={`redis-${n.redis}`}>{n.redis === 'none' ? 'not used (single node)' : n.redis}</dd>
                    <dt>Started</dt>
                    <dd>{dateTime(n.startedAt)}</dd>
                    <dt>Uptime</dt>
                    <dd>{health.level === 'down' ? '–' : duration(now - n.startedAt)}</dd>
                    <dt>Last heartbeat</dt>
                    <dd title={dateTime(n.lastSeen)}>{ago(n.lastSeen, now)}</dd>
                  </dl>
                </article>
              );
            })}
          </div>
        </>
      )}
    </>
  );
}
