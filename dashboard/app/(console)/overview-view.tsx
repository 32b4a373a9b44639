'use client';

import type { MetricsSample } from '@contracts/api';
import Link from 'next/link';
import { inWindow, LineChart, Sparkline } from '../../components/line-chart';
import { HealthBadge, nodeHealth } from '../../components/node-health';
import { protectionTotals, Protections, PROTECTIONS } from '../../components/protections';
import { ErrorBox, Loading, StaleNotice } from '../../components/states';
import { apiCall } from '../../lib/api';
import { useAppFilter, withApp } from '../../lib/app-filter';
import { ago, bytes, duration, ms, num, until } from '../../lib/format';
import type { AppWebhooks, ClusterNode, Overview } from '../../lib/types';
import { usePoll } from '../../lib/use-poll';

const rate = (v: number | null) => (v === null ? '–' : `${num(v)}/s`);
const latency = (v: number | null) => ms(v);
const count = (v: number | null) => num(v);

export function OverviewView() {
  const { app, multi } = useAppFilter();
  const poll = usePoll(() => apiCall<Overview>(withApp('/admin/overview', app)), 2000, [app]);
  const { data, error, loading, serverTime } = poll;
  // The answer says which app it counts (an admin key limited to one app gets that app's share unasked).
  const shownApp = data?.app ?? null;
  // The newest slot only once every sampling node is in it (no dip while one node has not sampled yet).
  // The server leaves out the newest slot until every node has sampled in it (admin.ts, clusterSeries).
  const cluster = data ? data.cluster : [];

  return (
    <>
      <div className="page-head">
        <h1>Overview</h1>
        <p className="muted">Cluster totals and the last 15 minutes, refreshed every 2 s from the numbers <code>/metrics</code> exports.</p>
        {data && (shownApp || multi) ? (
          <p className="scope-note" data-testid="scope">
            {shownApp ? (
              <>
                App <strong>{shownApp}</strong>: sockets, users and rooms of this app only. The charts are the whole cluster’s (all apps).
              </>
            ) : (
              'All apps: the whole cluster.'
            )}
          </p>
        ) : null}
      </div>
      {loading ? <Loading what="Loading the cluster overview" /> : null}
      {!data && error ? <ErrorBox error={error} onRetry={poll.reload} /> : null}
      {data ? (
        <>
          <StaleNotice error={error} />
          <Totals data={data} cluster={cluster} />
          <WebhooksLine app={app} />
          <section aria-labelledby="charts-h">
            <h2 id="charts-h">Last 15 minutes{shownApp ? ', whole cluster' : ''}</h2>
            {shownApp ? <p className="muted">No per-app history is recorded: these charts count every app, not only {shownApp}.</p> : null}
            <div className="charts">
              {/* The cluster series' users and rooms are the cluster-wide distinct counts (a user on two nodes is one): never add the nodes' up. */}
              <LineChart title="Connected" samples={cluster} now={serverTime} format={count} series={[
                { label: 'sockets', color: 'var(--c1)', pick: (s) => s.sockets, hint: 'Sockets, summed over the nodes' },
                { label: 'users', color: 'var(--c2)', pick: (s) => s.clusterUsers ?? s.users, hint: 'Distinct users in the cluster: a user connected to several nodes counts once' },
                { label: 'rooms', color: 'var(--c3)', pick: (s) => s.clusterRooms ?? s.rooms, hint: 'Distinct rooms in the cluster: a room with members on several nodes counts once' },
              ]} />
              <LineChart title="Messages per second" samples={cluster} now={serverTime} format={rate} series={[
                { label: 'pushed', color: 'var(--c1)', pick: (s) => s.pushedPerSec },
                { label: 'delivered', color: 'var(--c2)', pick: (s) => s.deliveredPerSec },
              ]} />
              <LineChart title="Push latency" samples={cluster} now={serverTime} format={latency} series={[
                { label: 'p50', color: 'var(--c1)', pick: (s) => s.pushP50Ms },
                { label: 'p99', color: 'var(--c3)', pick: (s) => s.pushP99Ms },
              ]} />
              <LineChart title="Client events and backend errors per second" samples={cluster} now={serverTime} format={rate} series={[
                { label: 'client events', color: 'var(--c2)', pick: (s) => s.clientEventsPerSec },
                { label: 'backend errors', color: 'var(--c4)', pick: (s) => s.backendErrorsPerSec },
              ]} />
            </div>
          </section>
          <section aria-labelledby="protections-h">
            <h2 id="protections-h">Protections{shownApp ? ' (all apps)' : ''}</h2>
            <p className="muted">What the nodes had to do over the last 15 minutes to protect themselves or to repair delivery: counts per 2 s, summed over the nodes{shownApp ? ', for every app' : ''}.</p>
            <Protections samples={cluster} now={serverTime} />
          </section>
          <section aria-labelledby="nodes-h">
            <h2 id="nodes-h">Nodes</h2>
            {data.nodes.length === 0 ? (
              <p className="muted">No node has reported a heartbeat yet.</p>
            ) : (
              <div className="cards">
                {data.nodes.map((n) => (
                  <NodeCard key={n.id} node={n} app={shownApp} now={serverTime} samples={data.series.find((s) => s.nodeId === n.id)?.samples ?? []} />
                ))}
              </div>
            )}
          </section>
        </>
      ) : null}
    </>
  );
}

function Totals({ data, cluster }: { data: Overview; cluster: MetricsSample[] }) {
  const last: MetricsSample | undefined = cluster[cluster.length - 1];
  // With an app chosen, sockets, users and rooms count that app; the rates come from the cluster's samples.
  const app = data.app ?? null;
  // Users and rooms come from presence, counted once cluster-wide (a user on two nodes is one user), never summed over the nodes.
  const tiles: [string, string, string?, ('app' | 'cluster')?][] = [
    ['Sockets', num(data.totals.connections), undefined, 'app'],
    ['Users', num(data.totals.users), 'distinct users: one on several nodes counts once', 'app'],
    ['Rooms', num(data.totals.rooms), 'distinct rooms: one with members on several nodes counts once', 'app'],
    ['Nodes', num(data.totals.nodes)],
    ['Pushed', rate(last?.pushedPerSec ?? null), undefined, 'cluster'],
    ['Delivered', rate(last?.deliveredPerSec ?? null), undefined, 'cluster'],
    ['Push p50', ms(last?.pushP50Ms ?? null), 'slowest node; – when nothing was pushed', 'cluster'],
    ['Push p99', ms(last?.pushP99Ms ?? null), 'slowest node; – when nothing was pushed', 'cluster'],
    ['Client events', rate(last?.clientEventsPerSec ?? null), undefined, 'cluster'],
    ['Backend errors', rate(last?.backendErrorsPerSec ?? null), undefined, 'cluster'],
  ];
  return (
    <section aria-label={app ? `Totals of app ${app}` : 'Cluster totals'} className="tiles" data-testid="totals" data-app={app ?? undefined}>
      {tiles.map(([label, value, hint, scope]) => (
        <div key={label} className="tile" title={app && scope ? [hint, scope === 'app' ? `app ${app} only` : 'whole cluster, all apps'].filter(Boolean).join('; ') : hint} data-tile={label}>
          <span className="tile-label">
            {label}
            {app && scope === 'cluster' ? <span className="muted"> · all apps</span> : null}
          </span>
          <span className="tile-value">{value}</span>
        </div>
      ))}
    </section>
  );
}

/**
 * One line on the apps' webhooks, only when some app has them: pending events, failures, losses,
 * and the earliest retry while backing off. Details on the Webhooks page.
 */
function WebhooksLine({ app }: { app: string | null }) {
  const poll = usePoll(() => apiCall<{ apps: AppWebhooks[] }>(withApp('/admin/webhooks', app)), 2000, [app]);
  const apps = poll.data?.apps ?? [];
  // Secondary: an answer that fails (or lists no app) leaves the overview as it was.
  if (apps.length === 0) return null;
  const pending = apps.reduce((n, a) => n + a.depth, 0);
  const failed = apps.reduce((n, a) => n + a.failedAttempts, 0);
  const dropped = apps.reduce((n, a) => n + a.dropped, 0);
  const noSender = apps.filter((a) => a.sender === null).length;
  const retries = apps.map((a) => a.retryAt).filter((t): t is number => t !== null);
  return (
    <p className="summary" data-testid="webhooks-line">
      Webhooks{apps.length > 1 ? ` of ${apps.length} apps` : ''}: <span data-fact="pending">{num(pending)} pending</span> ·{' '}
      <span data-fact="failed" className={failed > 0 ? 'text-warn' : undefined}>
        {num(failed)} failed attempt{failed === 1 ? '' : 's'}
      </span>
      {dropped > 0 ? <strong className="text-down"> · {num(dropped)} dropped</strong> : null}
      {noSender > 0 ? <strong className="text-down"> · {noSender === 1 && apps.length === 1 ? 'no sender' : `${noSender} without a sender`}</strong> : null}
      {retries.length > 0 ? <span className="text-warn"> · retrying {until(Math.min(...retries), poll.serverTime)}</span> : null}
      {' · '}
      <Link href={withApp('/webhooks/', app)}>Details</Link>
    </p>
  );
}

function NodeCard({ node, app, now, samples }: { node: ClusterNode; app: string | null; now: number; samples: MetricsSample[] }) {
  const health = nodeHealth(node, now);
  const protections = protectionTotals(inWindow(samples, now));
  const protectionCount = PROTECTIONS.reduce((n, p) => n + protections[p.key], 0);
  return (
    <article className={`card node-card node-${health.level}`} data-testid="node-card">
      <header>
        <h3 title={node.id}>{node.id}</h3>
        <HealthBadge health={health} />
      </header>
      <dl className="facts">
        <dt>{app ? `Connections of ${app}` : 'Connections'}</dt>
        <dd>{num(node.connections)}</dd>
        <dt>{app ? 'Rooms, all apps' : 'Rooms'}</dt>
        <dd>{num(node.rooms)}</dd>
        <dt>Memory (RSS)</dt>
        <dd>{bytes(node.memoryRss)}</dd>
        <dt>Event-loop lag</dt>
        <dd>{ms(node.eventLoopLagMs)}</dd>
        <dt>Redis</dt>
        <dd className={`redis-${node.redis}`}>{node.redis === 'none' ? 'not used' : node.redis}</dd>
        <dt>Uptime</dt>
        <dd>{health.level === 'down' ? '–' : duration(now - node.startedAt)}</dd>
        <dt>Last heartbeat</dt>
        <dd>{ago(node.lastSeen, now)}</dd>
        <dt>Protections, 15 min</dt>
        <dd data-fact="protections" className={protectionCount > 0 ? 'text-warn' : undefined} title={PROTECTIONS.map((p) => `${p.label}: ${num(protections[p.key])}`).join('\n')}>
          {num(protectionCount)}
        </dd>
      </dl>
      <Sparkline values={samples.slice(-90).map((s) => s.sockets)} label={`Sockets on ${node.id}, last 3 minutes${app ? ', all apps' : ''}`} />
    </article>
  );
}
