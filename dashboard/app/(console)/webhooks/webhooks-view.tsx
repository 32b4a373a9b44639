'use client';

import { Empty, ErrorBox, Loading, StaleNotice } from '../../../components/states';
import { apiCall } from '../../../lib/api';
import { useAppFilter, withApp } from '../../../lib/app-filter';
import { ago, dateTime, num, until } from '../../../lib/format';
import type { AppWebhooks } from '../../../lib/types';
import { usePoll } from '../../../lib/use-poll';
import { ScopeNote } from '../../../components/scope-note';

type State = { level: 'up' | 'degraded' | 'down'; label: string; reason: string };

function senderState(w: AppWebhooks): State {
  if (w.sender === null) return { level: 'down', label: 'no sender', reason: 'No node holds this app’s lease: its events wait in the queue until one takes it.' };
  if (w.retryAt !== null) return { level: 'degraded', label: 'backing off', reason: 'The last delivery failed; the sender retries with backoff.' };
  return { level: 'up', label: 'sending', reason: `Sent by ${w.sender}.` };
}

export function WebhooksView() {
  const { app, multi, apps: hosted } = useAppFilter();
  const poll = usePoll(() => apiCall<{ apps: AppWebhooks[] }>(withApp('/admin/webhooks', app)), 2000, [app]);
  // Sorted: the order the nodes answer in is not stable from one poll to the next.
  const apps = [...(poll.data?.apps ?? [])].sort((a, b) => a.app.localeCompare(b.app));
  const now = poll.serverTime;
  const pending = apps.reduce((n, a) => n + a.depth, 0);
  const failed = apps.reduce((n, a) => n + a.failedAttempts, 0);
  const backingOff = apps.filter((a) => a.retryAt !== null).length;
  const withoutWebhooks = !app && multi && poll.data ? hosted.filter((h) => !apps.some((a) => a.app === h.id)).map((h) => h.id) : [];

  return (
    <>
      <div className="page-head">
        <h1>Webhooks</h1>
        <p className="muted">
          Each app’s webhooks are sent by one node, the holder of the app’s lease. Its queue and retries are that node’s view; the counters add up every node since it started.
        </p>
        <ScopeNote app={app} multi={multi} forApp={<>App <strong>{app}</strong> only.</>} />
      </div>
      {poll.loading ? (
        <Loading what="Asking every node about webhooks" />
      ) : !poll.data && poll.error ? (
        <ErrorBox error={poll.error} onRetry={poll.reload} />
      ) : apps.length === 0 ? (
        <>
          <StaleNotice error={poll.error} />
          <Empty title={app ? `App ${app} sends no webhooks` : 'No app sends webhooks'}>
            {app ? (
              <>
                <code>WEBHOOK_URL</code> is not set, and the app has no <code>webhooks</code> of its own in <code>APPS</code>.
              </>
            ) : (
              <>
                <code>WEBHOOK_URL</code> is not set{multi ? <>, and no app has <code>webhooks</code> of its own in <code>APPS</code></> : null}.
              </>
            )}{' '}
            See the section “Webhooks” in the README to turn them on.
          </Empty>
        </>
      ) : (
        <>
          <StaleNotice error={poll.error} />
          <p className="summary" data-testid="webhooks-summary">
            {apps.length} app{apps.length === 1 ? '' : 's'} with webhooks · {num(pending)} pending · {num(failed)} failed attempt{failed === 1 ? '' : 's'}
            {backingOff ? <strong className="text-warn"> · {backingOff} backing off</strong> : null}
          </p>
          {withoutWebhooks.length > 0 ? <p className="muted">Without webhooks: {withoutWebhooks.join(', ')}.</p> : null}
          <div className="wh-list" data-testid="webhooks">
            {apps.map((w) => (
              <AppCard key={w.app} w={w} now={now} />
            ))}
          </div>
        </>
      )}
    </>
  );
}

function AppCard({ w, now }: { w: AppWebhooks; now: number }) {
  const state = senderState(w);
  return (
    <article className={`card wh-card wh-${state.level}`} data-testid="webhook-app" data-app={w.app} aria-label={`Webhooks of ${w.app}`}>
      <header>
        <h2 title={w.app}>{w.app}</h2>
        <span className={`badge badge-${state.level}`} title={state.reason}>
          {state.label}
        </span>
      </header>
      <div className="wh-body">
        <dl className="facts">
          <dt>Sender</dt>
          <dd data-fact="sender">{w.sender ?? <span className="text-down">none: no node holds the lease</span>}</dd>
          <dt title="Pending events the sender saw in its last pass">Queue depth</dt>
          <dd data-fact="depth" title={w.sender ? undefined : 'Unknown: no node reads the queue'}>
            {w.sender ? num(w.depth) : '–'}
          </dd>
          <dt>Sent</dt>
          <dd data-fact="sent">{num(w.sent)}</dd>
          <dt title="Requests that did not get a 2xx from every URL (each is retried)">Failed attempts</dt>
          <dd data-fact="failed" className={w.failedAttempts > 0 ? 'text-warn' : undefined}>
            {num(w.failedAttempts)}
          </dd>
          <dt title="Events lost when a room’s or user’s queue was full (WEBHOOK_QUEUE_MAX)">Dropped</dt>
          <dd data-fact="dropped" className={w.dropped > 0 ? 'fact-alert' : undefined} title={w.dropped > 0 ? 'Queues overflowed (WEBHOOK_QUEUE_MAX): the oldest pending events were lost' : undefined}>
            {num(w.dropped)}
          </dd>
          {w.retryAt !== null ? (
            <>
              <dt>Next retry</dt>
              <dd data-fact="retry" className="text-warn" title={dateTime(w.retryAt)}>
                {until(w.retryAt, now)}
              </dd>
            </>
          ) : null}
        </dl>
        <section className="wh-errors" aria-label={`Last errors of ${w.app}`}>
          <h3>Last errors</h3>
          {w.lastErrors.length === 0 ? (
            <p className="muted">No failed delivery since the nodes started.</p>
          ) : (
            <ol data-testid="webhook-errors">
              {w.lastErrors.map((e, i) => (
                <li key={`${e.at}-${e.nodeId}-${i}`}>
                  <time dateTime={new Date(e.at).toISOString()}>
                    {dateTime(e.at)}
                    <span className="wh-ago">{ago(e.at, now)}</span>
                  </time>
                  <span className="wh-node" title={e.nodeId}>
                    {e.nodeId}
                  </span>
                  <span className="wh-msg">{e.message}</span>
                </li>
              ))}
            </ol>
          )}
        </section>
      </div>
    </article>
  );
}
