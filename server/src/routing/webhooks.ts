import { createHmac, createHash, randomUUID } from 'node:crypto';
import type { AppDirectory } from '../config/app-directory';
import type { AppConfig, Config } from '../config/config';
import { appOfName, externalName, type AppId } from '../contracts/app-scope';
import type { Outbox, QueuedEvent, QueuedKind, WebhookPolicy, WebhookStore } from '../cluster/webhook-store';
import type { Clock } from '../lib/clock';
import type { Logger } from '../lib/logger';
import type { Metrics } from '../metrics/metrics';
import { roomAllowed } from '../realtime/token-verifier';

/** Events one request carries at most. */
const MAX_BATCH = 100;
/** Events read per pass. */
const READ_PER_PASS = 500;
/** A sender that stops renewing loses the lease after this; another node takes over. */
const LEASE_MS = 5000;
/** How often a node without the lease checks whether it can take it. */
const IDLE_CHECK_MS = 1000;
const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 30_000;
/** Errors kept per app for the dashboard. */
const LAST_ERRORS = 10;

/** The transitions an app's webhooks ask for, on qualified names. */
export function webhookPolicy(apps: AppDirectory): WebhookPolicy {
  const appOf = (name: string) => apps.of(appOfName(name) ?? apps.default.id);
  return {
    appOf: (name) => appOf(name).id,
    room(room) {
      const w = appOf(room).webhooks;
      if (!w || !roomAllowed(w.rooms, externalName(room))) return null;
      const occupancy = w.events.has('channel_occupied') || w.events.has('channel_vacated');
      const members = w.events.has('member_added') || w.events.has('member_removed');
      return occupancy || members ? { occupancy, members } : null;
    },
    user(userId) {
      const w = appOf(userId).webhooks;
      return !!w && (w.events.has('user_online') || w.events.has('user_offline'));
    },
  };
}

/** Whether a client event of a socket of `app` is reported as client_event. */
export function wantsClientEvent(app: AppConfig, event: string): boolean {
  const w = app.webhooks;
  return !!w && w.events.has('client_event') && roomAllowed(w.clientEvents, event);
}

/** The pairs that cancel: a leaving event and the coming one that undoes it. */
const UNDOES: Partial<Record<QueuedKind, QueuedKind>> = { user_offline: 'user_online', member_removed: 'member_added', channel_vacated: 'channel_occupied' };

/** What the dashboard shows of an app's webhooks on one node. */
export interface WebhookStatus {
  app: AppId;
  nodeId: string;
  /** This node sends the app's webhooks now. */
  sending: boolean;
  /** Pending events seen in the last pass (the sender's view; 0 elsewhere). */
  depth: number;
  sent: number;
  failedAttempts: number;
  dropped: number;
  /** Next attempt after a failure, ms since the epoch; null when not backing off. */
  retryAt: number | null;
  lastErrors: { at: number; message: string }[];
}

/**
 * Sends one app's webhooks: the node holding the app's lease reads the pending events (oldest
 * first in each room's and user's outbox), holds back each leaving event for WEBHOOK_LEAVE_GRACE_MS
 * (a user or room that comes back within it cancels both events, so reconnects do not flap),
 * posts them in Pusher's webhook format, signed as Pusher signs and as pushgate signs its
 * forwarded events, and deletes them once every URL answered 2xx. A failure keeps them, retried
 * with backoff; a node that dies while sending loses its lease and another one sends the rest.
 * Delivery is at least once: a receiver deduplicates by `id`.
 */
export class WebhookSender {
  private readonly holder = `${randomUUID()}`;
  private timer: NodeJS.Timeout | null = null;
  /** The pass under way (what it resolves to: when to run the next one). */
  private current: Promise<number> | null = null;
  private stopped = false;
  private sending = false;
  private depth = 0;
  private sent = 0;
  private failedAttempts = 0;
  private droppedCount = 0;
  private backoffMs = 0;
  private retryAt = 0;
  private readonly lastErrors: { at: number; message: string }[] = [];
  /** Shutting down a single node: leaving events go without their grace. */
  private draining = false;

  constructor(
    private readonly app: AppConfig,
    private readonly deps: {
      store: WebhookStore;
      nodeId: string;
      delivery: Config['webhookDelivery'];
      /** BACKEND_SECRET: signs X-Pushgate-Signature (else the app's secret). */
      backendSecret: string | null;
      metrics: Metrics;
      logger: Logger;
      clock: Clock;
    },
  ) {}

  start(): void {
    this.schedule(0);
  }

  /**
   * A single node shutting down: sends what is pending (leaving events without their grace: no
   * one can come back to this node) until nothing is left or `deadline`.
   */
  async flush(deadline: number): Promise<void> {
    this.draining = true;
    if (this.timer) clearTimeout(this.timer);
    while (this.deps.clock.now() < deadline && !this.stopped) {
      await this.current;
      const next = await this.runOnce();
      if (this.depth === 0) break;
      await new Promise((r) => setTimeout(r, Math.max(0, Math.min(next, deadline - this.deps.clock.now()))));
    }
    await this.stop();
  }

  /** Stops sending and gives the lease up, so another node takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.sending) await this.deps.store.release(this.app.id, this.holder).catch(() => undefined);
    this.sending = false;
  }

  /** An outbox overflowed: its oldest events were dropped. */
  dropped(n: number): void {
    this.droppedCount += n;
    this.deps.metrics.markWebhookDropped(this.app.id, n);
    this.deps.logger.warn('webhook queue full: dropped the oldest pending events of a room or user (WEBHOOK_QUEUE_MAX)', { app: this.app.id, dropped: n, queueMax: this.deps.delivery.queueMax });
  }

  status(): WebhookStatus {
    return { app: this.app.id, nodeId: this.deps.nodeId, sending: this.sending, depth: this.sending ? this.depth : 0, sent: this.sent, failedAttempts: this.failedAttempts, dropped: this.droppedCount, retryAt: this.retryAt > this.deps.clock.now() ? this.retryAt : null, lastErrors: [...this.lastErrors] };
  }

  private schedule(ms: number): void {
    // A flushing sender runs its own passes.
    if (this.stopped || this.draining) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.pass(), ms);
    this.timer.unref();
  }

  private async pass(): Promise<void> {
    if (this.current || this.stopped) return;
    this.schedule(await this.runOnce());
  }

  /** Runs one pass (never two at once). @returns when to run the next one. */
  private runOnce(): Promise<number> {
    this.current = this.work()
      .catch((err: Error) => {
        this.deps.logger.debug('webhook pass failed', { app: this.app.id, error: err.message });
        return IDLE_CHECK_MS;
      })
      .finally(() => (this.current = null));
    return this.current;
  }

  /** One pass. @returns when to run the next one. */
  private async work(): Promise<number> {
    const { store, clock, delivery } = this.deps;
    this.sending = await store.lease(this.app.id, this.holder, LEASE_MS);
    this.deps.metrics.setWebhookDepth(this.app.id, this.sending ? this.depth : 0);
    if (!this.sending) return IDLE_CHECK_MS;
    const tick = Math.max(50, delivery.batchMs);
    const now = clock.now();
    // Backing off: the passes until the retry only keep the lease (another sender would start its own backoff afresh).
    if (now < this.retryAt) return Math.min(LEASE_MS / 3, this.retryAt - now);
    const outboxes = await store.pending(this.app.id, READ_PER_PASS);
    this.depth = outboxes.reduce((n, o) => n + o.events.length, 0);
    this.deps.metrics.setWebhookDepth(this.app.id, this.depth);
    const ready: { outbox: string; ev: QueuedEvent }[] = [];
    let waiting = false;
    const wanted = this.app.webhooks!.events;
    for (const o of outboxes) {
      const { send, cancelled, held } = this.sortOut(o, now);
      if (cancelled.length > 0) {
        await store.done(this.app.id, o.key, cancelled);
        this.deps.metrics.markWebhookCancelled(this.app.id, cancelled.length);
      }
      waiting ||= held;
      // Both halves of a pair are queued (a quick return must be able to cancel a leave); only the asked-for kinds go out.
      const unwanted = send.filter((ev) => !wanted.has(ev.kind)).map((ev) => ev.entry);
      if (unwanted.length > 0) await store.done(this.app.id, o.key, unwanted);
      for (const ev of send) if (wanted.has(ev.kind)) ready.push({ outbox: o.key, ev });
    }
    if (ready.length === 0) return waiting ? tick : Math.min(IDLE_CHECK_MS, tick * 4);
    // The oldest ready event waits WEBHOOK_BATCH_MS after it happened, so the ones close behind it share its request.
    const oldest = Math.min(...ready.map((r) => r.ev.timeMs));
    if (!this.draining && now - oldest < delivery.batchMs && ready.length < MAX_BATCH) return delivery.batchMs - (now - oldest);
    const batch = ready.slice(0, MAX_BATCH);
    // A slow receiver must not cost the lease: another node would send the same events meanwhile.
    const renew = setInterval(() => void store.lease(this.app.id, this.holder, LEASE_MS).catch(() => undefined), LEASE_MS / 3);
    renew.unref();
    let ok: boolean;
    try {
      ok = await this.post(batch.map((r) => r.ev));
    } finally {
      clearInterval(renew);
    }
    if (!ok) return Math.min(LEASE_MS / 3, this.retryAt - clock.now());
    const byOutbox = new Map<string, string[]>();
    for (const r of batch) byOutbox.set(r.outbox, [...(byOutbox.get(r.outbox) ?? []), r.ev.entry]);
    await Promise.all([...byOutbox].map(([key, entries]) => store.done(this.app.id, key, entries)));
    this.sent += batch.length;
    const at = clock.now();
    this.deps.metrics.markWebhooksSent(this.app.id, batch.map((r) => Math.max(0, at - r.ev.timeMs) / 1000));
    return ready.length > batch.length || this.depth >= READ_PER_PASS ? 0 : tick;
  }

  /**
   * An outbox's events in order: those ready to go, pairs that cancel (a leaving event and, later,
   * the coming event that undoes it within the grace), and whether a leaving event still waits
   * (everything after it waits too, so order holds).
   */
  private sortOut(o: Outbox, now: number): { send: QueuedEvent[]; cancelled: string[]; held: boolean } {
    const send: QueuedEvent[] = [];
    const cancelled = new Set<string>();
    const grace = this.draining ? 0 : this.deps.delivery.leaveGraceMs;
    for (let i = 0; i < o.events.length; i += 1) {
      const ev = o.events[i]!;
      if (cancelled.has(ev.entry)) continue;
      const undo = UNDOES[ev.kind];
      if (undo && ev.grace && grace > 0) {
        const back = o.events.find((e, j) => j > i && !cancelled.has(e.entry) && e.kind === undo && e.channel === ev.channel && e.userId === ev.userId);
        if (back && back.timeMs - ev.timeMs <= grace) {
          cancelled.add(ev.entry).add(back.entry);
          continue;
        }
        if (!back && now - ev.timeMs < grace) return { send, cancelled: [...cancelled], held: true };
      }
      send.push(ev);
    }
    return { send, cancelled: [...cancelled], held: false };
  }

  /** Posts one batch to every URL. @returns true when all answered 2xx. */
  private async post(events: QueuedEvent[]): Promise<boolean> {
    const { clock, delivery } = this.deps;
    const body = JSON.stringify({ time_ms: clock.now(), events: events.map((e) => this.format(e)) });
    const headers = this.sign(body);
    const results = await Promise.all(
      this.app.webhooks!.urls.map(async (url) => {
        try {
          const res = await fetch(url, { method: 'POST', headers, body, signal: AbortSignal.timeout(delivery.timeoutMs) });
          await res.arrayBuffer().catch(() => undefined);
          return res.ok ? null : `${url}: HTTP ${res.status}`;
        } catch (err) {
          return `${url}: ${(err as Error).name === 'TimeoutError' ? `no answer within ${delivery.timeoutMs} ms` : (err as Error).message}`;
        }
      }),
    );
    const failed = results.filter((r): r is string => r !== null);
    if (failed.length === 0) {
      this.backoffMs = 0;
      this.retryAt = 0;
      return true;
    }
    this.failedAttempts += 1;
    this.backoffMs = this.backoffMs === 0 ? BACKOFF_FIRST_MS : Math.min(BACKOFF_MAX_MS, this.backoffMs * 2);
    this.retryAt = clock.now() + this.backoffMs;
    const message = failed.join('; ');
    this.lastErrors.unshift({ at: clock.now(), message });
    this.lastErrors.length = Math.min(this.lastErrors.length, LAST_ERRORS);
    this.deps.metrics.markWebhookFailure(this.app.id);
    this.deps.logger.warn('webhook delivery failed; retrying with backoff', { app: this.app.id, events: events.length, error: message, retryInMs: this.backoffMs });
    return false;
  }

  /** Pusher's event shape (names as the app knows them) plus `id` (stable across retries) and `time_ms`. */
  private format(e: QueuedEvent): Record<string, unknown> {
    const out: Record<string, unknown> = { name: e.kind };
    if (e.channel !== undefined) out.channel = externalName(e.channel);
    if (e.userId !== undefined) out.user_id = externalName(e.userId);
    if (e.kind === 'client_event') {
      out.event = e.event;
      // Pusher's client_event carries data as a string, as its libraries expect.
      out.data = typeof e.data === 'string' ? e.data : JSON.stringify(e.data ?? null);
      out.socket_id = e.socketId;
    }
    out.id = createHash('sha256').update(`${this.app.id}\n${e.channel ?? ''}\n${e.userId ?? ''}\n${e.entry}`).digest('base64url').slice(0, 22);
    out.time_ms = e.timeMs;
    return out;
  }

  private sign(body: string): Record<string, string> {
    const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'pushgate-webhooks' };
    if (this.app.key && this.app.secret) {
      headers['x-pusher-key'] = this.app.key;
      headers['x-pusher-signature'] = createHmac('sha256', this.app.secret).update(body).digest('hex');
    }
    const secret = this.deps.backendSecret ?? this.app.secret;
    if (secret) {
      const ts = String(Math.floor(this.deps.clock.now() / 1000));
      headers['x-pushgate-timestamp'] = ts;
      headers['x-pushgate-signature'] = `sha256=${createHmac('sha256', secret).update(`${ts}.${body}`).digest('hex')}`;
    }
    return headers;
  }
}
