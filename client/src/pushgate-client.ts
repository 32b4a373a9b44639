import { io, type Socket, type SocketOptions } from 'socket.io-client';
import { DedupWindow } from './dedup-window';
import { readJwtClaims } from './jwt-claims';
import { PushgateError } from './pushgate-error';
import type {
  AckResponse,
  EmitOptions,
  JoinResult,
  Offset,
  PushEvents,
  PushgateClient,
  PushgateClientOptions,
  PushMeta,
  RecoveredPayload,
  Room,
  Stream,
  StreamRecovery,
  Unsubscribe,
  WelcomePayload,
} from './types';

const PERSONAL_PREFIX = 'user:';
/** Events socket.io-client reserves for itself: listen to them on `client.socket`. */
const SOCKET_RESERVED = new Set(['connect', 'connect_error', 'disconnect', 'disconnecting', 'newListener', 'removeListener']);
/** Client → server events whose state the helper keeps: use join/leave (refresh is automatic). */
const HELPER_REQUESTS = new Set(['room:join', 'room:leave', 'auth:refresh']);
/** setTimeout's limit (2^31 - 1 ms); a longer delay would fire at once. */
const MAX_TIMER_MS = 2_147_483_647;
/** TOKEN_EXPIRED refusals in a row (no welcome between) before the helper gives up reconnecting. */
const MAX_EXPIRED_RETRIES = 3;

type AnyHandler = (...args: unknown[]) => unknown;
interface Registration {
  fn: AnyHandler;
}

/**
 * Creates a client and starts connecting (unless `socketOptions.autoConnect` is false).
 *
 * @example
 * const client = createPushgateClient({ url: 'https://push.example.com', token: () => fetchToken() });
 * client.on('order:shipped', (data, meta) => render(data));
 * client.onResync((stream) => reloadFromBackend(stream));
 */
export function createPushgateClient<E extends PushEvents = PushEvents>(options: PushgateClientOptions): PushgateClient<E> {
  return new Client(options) as unknown as PushgateClient<E>;
}

class Client {
  readonly socket: Socket;

  private readonly streamOffsets = new Map<Stream, Offset>();
  /** Rooms joined through the helper: recovered (with an offset) or re-joined after reconnects. */
  private readonly joined = new Set<Room>();
  /** Rooms whose room:leave is in flight: late messages must not bring their offset back. */
  private readonly leaving = new Set<Room>();
  private readonly handlers = new Map<string, Set<Registration>>();
  private readonly anyHandlers = new Set<Registration>();
  private readonly recoveredCbs = new Set<Registration>();
  private readonly resyncCbs = new Set<Registration>();
  private readonly errorCbs = new Set<Registration>();
  private readonly seen: DedupWindow;
  private readonly refreshBeforeMs: number;
  private readonly refresher: (() => string | Promise<string>) | undefined;

  private token: string | undefined;
  /** The token the current (or last) handshake sent: a refresh during a handshake must follow it. */
  private handshakeToken: string | undefined;
  private sub: string | undefined;
  private refreshing: Promise<string> | undefined;
  private refreshTimer: ReturnType<typeof setTimeout> | undefined;
  /** server time − local time, from `welcome`, so a wrong local clock does not skew refreshes. */
  private clockSkewMs = 0;
  private expiredRetries = 0;
  private closed = false;
  /** Set from `server:draining` until the next `welcome` (or close): requests wait for the next node. */
  private drainedNode: { until: Promise<void>; done: () => void } | undefined;

  constructor(private readonly opts: PushgateClientOptions) {
    this.seen = new DedupWindow(opts.dedupWindow ?? 2000);
    this.refreshBeforeMs = opts.refreshBeforeMs ?? 30_000;
    this.refresher = opts.refreshToken ?? (typeof opts.token === 'function' ? opts.token : undefined);
    if (typeof opts.token === 'string') this.adoptToken(opts.token);
    for (const [stream, offset] of Object.entries(opts.offsets ?? {})) {
      if (typeof offset !== 'string') continue;
      this.streamOffsets.set(stream, offset);
      // A restored room position means the room is recovered (so re-joined) on the first connection.
      if (!stream.startsWith(PERSONAL_PREFIX)) this.joined.add(stream);
    }

    const { auth: extraAuth, ...socketOptions } = opts.socketOptions ?? {};
    // The function form runs on every (re)connection attempt: each one sends the current token and
    // the current offsets, not the ones from when the client was created.
    const auth: SocketOptions['auth'] = (cb) => {
      void this.handshakeAuth(extraAuth).then(cb);
    };
    this.socket = io(opts.url, { ...socketOptions, auth });
    this.socket.onAny(this.onAnyEvent);
    this.socket.on('connect_error', (err: Error) => {
      if (err.message === 'TOKEN_EXPIRED') this.reconnectWithFreshToken();
    });
    this.socket.on('disconnect', (reason: string) => {
      // The server disconnects a socket whose token ran out (a deliberate server disconnect is
      // otherwise final for socket.io-client): come back with a fresh token.
      if (reason === 'io server disconnect' && this.tokenExpired()) this.reconnectWithFreshToken();
    });
  }

  get userId(): string | undefined {
    return this.sub;
  }

  on(event: string, handler: AnyHandler): Unsubscribe {
    if (SOCKET_RESERVED.has(event)) throw new TypeError(`"${event}" is a socket.io event: listen to it on client.socket`);
    if (event === 'recovered') throw new TypeError('"recovered" is handled by the helper: use client.onRecovered() / client.onResync()');
    let set = this.handlers.get(event);
    if (!set) this.handlers.set(event, (set = new Set()));
    return subscribe(set, handler);
  }

  onAny(handler: (event: string, data: unknown, meta: PushMeta | undefined) => unknown): Unsubscribe {
    return subscribe(this.anyHandlers, handler as AnyHandler);
  }

  onRecovered(cb: (payload: RecoveredPayload) => void): Unsubscribe {
    return subscribe(this.recoveredCbs, cb as AnyHandler);
  }

  onResync(cb: (stream: Stream, detail: StreamRecovery) => void): Unsubscribe {
    return subscribe(this.resyncCbs, cb as AnyHandler);
  }

  onError(cb: (err: Error) => void): Unsubscribe {
    return subscribe(this.errorCbs, cb as AnyHandler);
  }

  async join(room: Room): Promise<JoinResult> {
    this.leaving.delete(room);
    const since = this.streamOffsets.get(room);
    let data: JoinResult | undefined;
    try {
      data = await this.request<JoinResult>('room:join', since === undefined ? { room } : { room, since });
    } catch (err) {
      if (err instanceof PushgateError && err.code === 'FORBIDDEN') this.forgetRoom(room);
      throw err;
    }
    this.joined.add(room);
    // With `since` the server replays and then sends `recovered`, which sets the offset.
    if (data?.offset !== undefined && !this.streamOffsets.has(room)) this.streamOffsets.set(room, data.offset);
    return { room: data?.room ?? room, ...(data?.offset !== undefined ? { offset: data.offset } : {}) };
  }

  async leave(room: Room): Promise<void> {
    // Forget first: a reconnect while the leave is in flight must not recover the room.
    this.forgetRoom(room);
    this.leaving.add(room);
    try {
      await this.request('room:leave', { room });
    } finally {
      this.leaving.delete(room);
    }
  }

  async emit(event: string, data?: unknown, options: EmitOptions = {}): Promise<unknown> {
    if (HELPER_REQUESTS.has(event)) throw new PushgateError('BAD_REQUEST', `"${event}" is sent by the helper: use join(), leave() (tokens refresh on their own)`);
    if (SOCKET_RESERVED.has(event)) throw new PushgateError('BAD_REQUEST', `"${event}" is a reserved socket.io event name`);
    return data === undefined ? this.request(event, undefined, options.timeoutMs, false) : this.request(event, data, options.timeoutMs);
  }

  offsets(): Record<Stream, Offset> {
    return Object.fromEntries(this.streamOffsets);
  }

  rooms(): Room[] {
    return [...this.joined];
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.releaseRequests();
    clearTimeout(this.refreshTimer);
    this.socket.offAny(this.onAnyEvent);
    this.socket.disconnect();
  }

  // --- incoming events -------------------------------------------------------------------------

  /**
   * One listener for everything the server sends. It runs before the socket's own listeners, so
   * the helper's state (offsets, rooms) is up to date when a handler registered on `client.socket`
   * runs too.
   */
  private readonly onAnyEvent = (event: string, ...args: unknown[]): void => {
    const ack = typeof args[args.length - 1] === 'function' ? (args.pop() as (...a: unknown[]) => void) : undefined;
    if (event === 'recovered') {
      this.applyRecovered(args[0] as RecoveredPayload);
      ack?.(true);
      return;
    }
    if (event === 'welcome') this.applyWelcome(args[0] as WelcomePayload);
    if (event === 'server:draining') this.holdRequestsUntilWelcome();
    const [data, meta] = args;
    if (!isPushMeta(meta)) {
      // welcome, server:draining, presence:* … carry no meta: no de-duplication, no offset.
      settle(this.dispatch(event, [data]), ack);
      return;
    }
    if (!this.seen.add(meta.id)) {
      // A duplicate (a replay overlapping live delivery, a retried push): the receipt still counts.
      ack?.(true);
      return;
    }
    if (typeof meta.stream === 'string' && typeof meta.offset === 'string' && !this.leaving.has(meta.stream)) {
      // The last offset received wins: offsets are opaque, and replays arrive in stream order.
      this.streamOffsets.set(meta.stream, meta.offset);
    }
    settle(this.dispatch(event, [data, meta]), ack);
  };

  /**
   * A draining node answers events with SERVICE_UNAVAILABLE and then closes the transport, cutting
   * off any event still on its way: requests made from now on are sent once the client is
   * welcomed by its next node. socket.io-client buffers them meanwhile anyway once disconnected;
   * this covers the moment between the notice and the close.
   */
  private holdRequestsUntilWelcome(): void {
    if (this.drainedNode) return;
    let done!: () => void;
    const until = new Promise<void>((resolve) => (done = resolve));
    this.drainedNode = { until, done };
  }

  private releaseRequests(): void {
    const held = this.drainedNode;
    this.drainedNode = undefined;
    held?.done();
  }

  private applyWelcome(w: WelcomePayload): void {
    this.releaseRequests();
    if (!w || typeof w !== 'object') return;
    this.expiredRetries = 0;
    if (typeof w.serverTime === 'number' && Number.isFinite(w.serverTime)) this.clockSkewMs = w.serverTime - Date.now();
    if (typeof w.userId === 'string') {
      this.sub = w.userId;
      // Positions of another user's personal stream (storage shared between logins) are useless.
      for (const stream of [...this.streamOffsets.keys()]) {
        if (stream.startsWith(PERSONAL_PREFIX) && stream !== PERSONAL_PREFIX + w.userId) this.streamOffsets.delete(stream);
      }
    }
    // Only streams without a position adopt the server's: the ones being recovered wait for
    // `recovered`, and a replay may already have moved them past the welcome's offset.
    for (const [stream, offset] of Object.entries(w.offsets ?? {})) {
      if (typeof offset === 'string' && !this.streamOffsets.has(stream)) this.streamOffsets.set(stream, offset);
    }
    if (this.token !== undefined && this.token !== this.handshakeToken) {
      // The token was refreshed while this handshake was under way with the older one.
      void this.sendRefresh(this.token);
    }
    this.scheduleRefresh();
    // Rooms with an offset were in `recover` and the server re-joined them; the others (history
    // off, or no message yet) must be joined again explicitly.
    for (const room of this.joined) {
      if (!this.streamOffsets.has(room)) this.rejoin(room);
    }
  }

  private applyRecovered(payload: RecoveredPayload): void {
    const streams = payload && typeof payload === 'object' && payload.streams && typeof payload.streams === 'object' ? payload.streams : {};
    const resync: [Stream, StreamRecovery][] = [];
    for (const [stream, r] of Object.entries(streams)) {
      if (!r || typeof r !== 'object' || this.leaving.has(stream)) continue;
      if (r.error?.code === 'FORBIDDEN') {
        this.forgetRoom(stream);
      } else if (typeof r.offset === 'string') {
        this.streamOffsets.set(stream, r.offset);
      } else if (!r.recovered) {
        // No position to continue from: drop the stale one so it is not sent again. Without a
        // position the server may not have re-joined the room either (history off, or an offset it
        // refused): join it again; joining twice is harmless.
        this.streamOffsets.delete(stream);
        if (this.joined.has(stream)) this.rejoin(stream);
      }
      if (!r.recovered) resync.push([stream, r]);
    }
    for (const [stream, r] of resync) this.notify(this.resyncCbs, [stream, r]);
    this.notify(this.recoveredCbs, [payload]);
  }

  /** Runs the event's handlers, then the onAny ones; answers the promises async handlers returned. */
  private dispatch(event: string, args: [unknown] | [unknown, PushMeta]): Promise<unknown>[] {
    const pending: Promise<unknown>[] = [];
    const run = (fn: AnyHandler, callArgs: unknown[]) => {
      try {
        const result = fn(...callArgs);
        if (isThenable(result)) pending.push(Promise.resolve(result).catch((err: unknown) => this.report(err)));
      } catch (err) {
        this.report(err);
      }
    };
    for (const reg of [...(this.handlers.get(event) ?? [])]) run(reg.fn, args);
    for (const reg of [...this.anyHandlers]) run(reg.fn, [event, args[0], args[1]]);
    return pending;
  }

  private notify(set: Set<Registration>, args: unknown[]): void {
    for (const reg of [...set]) {
      try {
        reg.fn(...args);
      } catch (err) {
        this.report(err);
      }
    }
  }

  /** Errors nobody awaits: onError listeners, else the console (never thrown into socket.io). */
  private report(err: unknown): void {
    const error = err instanceof Error ? err : new Error(String(err));
    if (this.errorCbs.size === 0) {
      console.error('[pushgate]', error);
      return;
    }
    for (const reg of [...this.errorCbs]) {
      try {
        reg.fn(error);
      } catch {
        /* an error listener that throws has nowhere left to report to */
      }
    }
  }

  // --- rooms -----------------------------------------------------------------------------------

  private rejoin(room: Room): void {
    this.request<JoinResult>('room:join', { room }).then(
      (data) => {
        if (data?.offset !== undefined && this.joined.has(room) && !this.streamOffsets.has(room)) this.streamOffsets.set(room, data.offset);
      },
      (err: unknown) => {
        if (err instanceof PushgateError && err.code === 'DISCONNECTED') return; // the next welcome tries again
        if (err instanceof PushgateError && err.code === 'FORBIDDEN') this.forgetRoom(room);
        this.report(err instanceof PushgateError ? new PushgateError(err.code, `could not re-join "${room}": ${err.message}`, err.details) : err);
      },
    );
  }

  private forgetRoom(room: Room): void {
    this.joined.delete(room);
    this.streamOffsets.delete(room);
  }

  // --- requests --------------------------------------------------------------------------------

  /** Emits with an acknowledgement; `{ ok: false }` and transport failures become PushgateErrors. */
  private async request<T = unknown>(event: string, payload: unknown, timeoutMs?: number, withPayload = true): Promise<T | undefined> {
    // A closed socket would buffer the packet forever.
    if (this.closed) throw new PushgateError('DISCONNECTED', 'the client is closed');
    if (this.drainedNode) {
      const started = Date.now();
      const held = this.drainedNode.until;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const waited = timeoutMs === undefined ? held : Promise.race([held, new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), timeoutMs)))]);
      const outcome = await waited;
      clearTimeout(timer);
      if (outcome === 'timeout') throw new PushgateError('TIMEOUT', `no next node within ${timeoutMs} ms after the node drained`);
      if (this.closed) throw new PushgateError('DISCONNECTED', 'the client is closed');
      if (timeoutMs !== undefined) timeoutMs = Math.max(1, timeoutMs - (Date.now() - started));
    }
    const target = timeoutMs !== undefined ? this.socket.timeout(timeoutMs) : this.socket;
    let res: unknown;
    try {
      res = withPayload ? await target.emitWithAck(event, payload) : await target.emitWithAck(event);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      throw new PushgateError(/timed out/.test(message) ? 'TIMEOUT' : 'DISCONNECTED', message);
    }
    if (!res || typeof res !== 'object' || !('ok' in res)) return res as T;
    const ack = res as AckResponse<T>;
    if (ack.ok === false) throw new PushgateError(ack.error?.code ?? 'INTERNAL_ERROR', ack.error?.message ?? 'request refused', ack.error?.details);
    return ack.data;
  }

  // --- tokens ----------------------------------------------------------------------------------

  private async handshakeAuth(extra: SocketOptions['auth'] | undefined): Promise<Record<string, unknown>> {
    let token = this.token;
    try {
      if (token === undefined && typeof this.opts.token === 'function') token = await this.refresh(this.opts.token);
      else if (token !== undefined && this.tokenExpired() && this.refresher) token = await this.refresh();
    } catch (err) {
      // Connect anyway: the server's refusal (UNAUTHORIZED / TOKEN_EXPIRED) reaches connect_error.
      this.report(err);
    }
    this.handshakeToken = token;
    const recover: Record<Stream, Offset> = {};
    for (const [stream, offset] of this.streamOffsets) {
      if (stream.startsWith(PERSONAL_PREFIX) && this.sub !== undefined && stream !== PERSONAL_PREFIX + this.sub) continue;
      recover[stream] = offset;
    }
    const base = extra && typeof extra === 'object' ? extra : {};
    return { ...base, token, ...(Object.keys(recover).length > 0 ? { recover } : {}) };
  }

  /** Fetches a new token; concurrent callers share one call. */
  private refresh(source = this.refresher): Promise<string> {
    if (!source) return Promise.reject(new PushgateError('TOKEN_EXPIRED', 'the token expired and no refreshToken was given'));
    if (!this.refreshing) {
      this.refreshing = Promise.resolve()
        .then(source)
        .then((token) => {
          if (typeof token !== 'string' || token === '') throw new PushgateError('UNAUTHORIZED', 'refreshToken returned no token');
          this.adoptToken(token);
          return token;
        })
        .finally(() => {
          this.refreshing = undefined;
        });
    }
    return this.refreshing;
  }

  private adoptToken(token: string): void {
    this.token = token;
    this.sub ??= readJwtClaims(token).sub;
    this.scheduleRefresh();
  }

  /** Swaps the token on the live connection (auth:refresh), without reconnecting. */
  private async sendRefresh(token: string): Promise<void> {
    if (!this.socket.connected) return; // the next handshake sends it
    try {
      await this.request('auth:refresh', { token });
    } catch (err) {
      if (err instanceof PushgateError && err.code === 'DISCONNECTED') return;
      this.report(err);
    }
  }

  /**
   * `refreshBeforeMs` before `exp`; a token that lives shorter than that is refreshed at half its
   * remaining lifetime (refreshing "now" would loop on short-lived tokens).
   */
  private scheduleRefresh(): void {
    clearTimeout(this.refreshTimer);
    this.refreshTimer = undefined;
    if (this.closed || !this.refresher || this.token === undefined) return;
    const exp = readJwtClaims(this.token).exp;
    if (exp === undefined) return;
    const remaining = exp * 1000 - this.now();
    if (remaining <= 0) return; // expired: the next handshake refreshes first
    const delay = remaining > this.refreshBeforeMs ? remaining - this.refreshBeforeMs : remaining / 2;
    const fire = delay > MAX_TIMER_MS ? () => this.scheduleRefresh() : () => void this.refreshNow();
    this.refreshTimer = setTimeout(fire, Math.min(delay, MAX_TIMER_MS));
    // Node: a pending refresh alone must not keep the process alive.
    (this.refreshTimer as { unref?: () => void }).unref?.();
  }

  private async refreshNow(): Promise<void> {
    try {
      const token = await this.refresh();
      await this.sendRefresh(token);
    } catch (err) {
      this.report(err);
    }
  }

  private reconnectWithFreshToken(): void {
    if (this.closed) return;
    if (!this.refresher) {
      this.report(new PushgateError('TOKEN_EXPIRED', 'the token expired and no refreshToken was given'));
      return;
    }
    if (++this.expiredRetries > MAX_EXPIRED_RETRIES) {
      this.report(new PushgateError('TOKEN_EXPIRED', `refused as expired ${MAX_EXPIRED_RETRIES} times in a row: giving up (check refreshToken and the clocks)`));
      return;
    }
    this.refresh().then(
      () => {
        if (!this.closed && !this.socket.connected && !this.socket.active) this.socket.connect();
      },
      (err: unknown) => this.report(err),
    );
  }

  private tokenExpired(): boolean {
    if (this.token === undefined) return false;
    const exp = readJwtClaims(this.token).exp;
    return exp !== undefined && exp * 1000 <= this.now() + 1000;
  }

  private now(): number {
    return Date.now() + this.clockSkewMs;
  }
}

function subscribe(set: Set<Registration>, fn: AnyHandler): Unsubscribe {
  const reg: Registration = { fn };
  set.add(reg);
  return () => {
    set.delete(reg);
  };
}

function isPushMeta(v: unknown): v is PushMeta {
  return typeof v === 'object' && v !== null && typeof (v as PushMeta).id === 'string';
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return typeof v === 'object' && v !== null && typeof (v as PromiseLike<unknown>).then === 'function';
}

/** Sends the receipt once every handler has run (async ones settled). */
function settle(pending: Promise<unknown>[], ack: ((...a: unknown[]) => void) | undefined): void {
  if (!ack) return;
  if (pending.length === 0) ack(true);
  else void Promise.allSettled(pending).then(() => ack(true));
}
