/*
 * A browser-like Socket.IO client that counts: it keeps its last offset per stream and sends them as
 * `auth.recover` on every reconnection (contract §6), records each numbered delivery (`data.n`) per
 * event, the push→receive latency of deliveries carrying `data.t`, and when it lost and regained its
 * connection and on which node. Used by the runner (the unaffected probe) and by the client worker.
 */
import { createSecretKey } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { io } from 'socket.io-client';
import { now } from './common.mjs';

let signingKey = null;
export function makeToken(secret, sub, rooms = [], ttlS = 3600) {
  signingKey ??= createSecretKey(Buffer.from(secret));
  return jwt.sign({ sub, rooms }, signingKey, { algorithm: 'HS256', expiresIn: ttlS });
}

export class TrackedClient {
  /**
   * @param opts { secret, userId, rooms (token patterns), recover (default true), localAddress,
   *   reconnection (default true), latencyEvents (events whose `data.t` is timed; default all) }
   */
  constructor(url, opts) {
    const token = makeToken(opts.secret, opts.userId, opts.rooms ?? []);
    this.userId = opts.userId;
    this.offsets = {};
    this.got = new Map();
    this.latency = [];
    this.welcomes = [];
    this.disconnects = [];
    this.recovered = [];
    this.draining = [];
    this.connectErrors = [];
    const recover = opts.recover ?? true;
    this.socket = io(url, {
      forceNew: true,
      transports: ['websocket'],
      reconnection: opts.reconnection ?? true,
      reconnectionDelay: 100,
      reconnectionDelayMax: 1000,
      randomizationFactor: 0.5,
      timeout: 10000,
      ...(opts.localAddress ? { localAddress: opts.localAddress } : {}),
      auth: (cb) => cb(recover && Object.keys(this.offsets).length > 0 ? { token, recover: { ...this.offsets } } : { token }),
    });
    this.socket.on('welcome', (w) => {
      this.welcomes.push({ at: now(), nodeId: w.nodeId });
      for (const [s, o] of Object.entries(w.offsets ?? {})) this.offsets[s] ??= o;
    });
    this.socket.on('recovered', (r) => {
      this.recovered.push({ at: now(), ...r });
      for (const [s, v] of Object.entries(r.streams ?? {})) if (v.offset) this.offsets[s] = v.offset;
    });
    this.socket.on('server:draining', () => this.draining.push(now()));
    this.socket.on('disconnect', (reason) => this.disconnects.push({ at: now(), reason }));
    this.socket.on('connect_error', (err) => this.connectErrors.push({ at: now(), code: err.data?.code ?? err.message }));
    const timed = opts.latencyEvents ? new Set(opts.latencyEvents) : null;
    this.socket.onAny((event, data, meta) => {
      const t = now();
      if (meta?.stream && meta.offset) this.offsets[meta.stream] = meta.offset;
      const n = data?.n;
      if (typeof n !== 'number') return;
      let list = this.got.get(event);
      if (!list) this.got.set(event, (list = []));
      list.push(n);
      if (typeof data.t === 'number' && (!timed || timed.has(event))) this.latency.push([t, t - data.t, event]);
    });
  }

  get nodeId() {
    return this.welcomes[this.welcomes.length - 1]?.nodeId ?? null;
  }

  /** Resolves true on the first welcome, false on a refused handshake or after `ms`. */
  ready(ms = 15000) {
    if (this.welcomes.length) return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => finish(false), ms);
      const finish = (ok) => {
        clearTimeout(t);
        this.socket.off('welcome', onOk);
        this.socket.off('connect_error', onErr);
        resolve(ok);
      };
      const onOk = () => finish(true);
      const onErr = () => {
        if (!this.socket.active) finish(false);
      };
      this.socket.on('welcome', onOk);
      this.socket.on('connect_error', onErr);
    });
  }

  async join(room) {
    const ack = await this.socket.timeout(10000).emitWithAck('room:join', { room });
    if (!ack?.ok) throw new Error(`room:join ${room} refused: ${JSON.stringify(ack?.error)}`);
    if (ack.data?.offset) this.offsets[room] ??= ack.data.offset;
  }

  /** Emits with an acknowledgement; resolves `{ at, ms, code }` where code is 'ok', the error code, or 'timeout' / 'disconnected'. */
  async emit(event, data, timeoutMs = 15000) {
    const at = now();
    try {
      const ack = await this.socket.timeout(timeoutMs).emitWithAck(event, data);
      return { at, ms: now() - at, code: ack?.ok ? 'ok' : (ack?.error?.code ?? 'bad ack') };
    } catch (err) {
      return { at, ms: now() - at, code: /disconnected/.test(err.message) ? 'disconnected' : 'timeout' };
    }
  }

  /** The TCP socket under the WebSocket transport (engine.io-client → ws → net.Socket). */
  tcp() {
    return this.socket.io.engine?.transport?.ws?._socket ?? null;
  }

  /** Deliveries of `event` among `sent` (the numbers whose push was answered 2xx): received, missing, delivered twice, out of order. */
  tally(event, sent) {
    const wanted = new Set(sent);
    const seen = new Set();
    const duplicates = [];
    let outOfOrder = 0;
    let highest = 0;
    for (const n of this.got.get(event) ?? []) {
      if (!wanted.has(n)) continue;
      if (seen.has(n)) {
        duplicates.push(n);
        continue;
      }
      seen.add(n);
      if (n < highest) outOfOrder += 1;
      highest = Math.max(highest, n);
    }
    const missing = sent.filter((n) => !seen.has(n));
    return { received: seen.size, lost: missing.length, duplicated: duplicates.length, outOfOrder, missing, duplicates };
  }

  close() {
    this.socket.disconnect();
  }
}
