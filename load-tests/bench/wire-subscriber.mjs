/*
 * A lightweight subscriber process: the same IPC commands and replies as client-worker.mjs
 * (connect, close, reset, wait, stats), but each connection is a raw TCP socket (node:net) that
 * does the HTTP/1.1 WebSocket upgrade itself and parses the server's frames with a few lines of
 * code, so one subscriber core can take more deliveries per second than the fastest server sends.
 *
 * protocol 'socket.io' (pushgate, bare Socket.IO): GET /socket.io/?EIO=4&transport=websocket,
 *   `0{…}` open → `40{auth}` → `40{"sid":…}` → (with a room) `421["room:join",{"room":…}]` and
 *   wait for `431[{"ok":true…}]`. Engine.IO pings (`2`) are answered (`3`); `42["bench",…]` events
 *   are counted, every other event (pushgate's welcome) is ignored.
 * protocol 'ws' (raw ws server, Nchan): GET <path>; every text message counts.
 *
 * Per message: a few byte comparisons and a counter. Latency (when asked) is now − the `"t":`
 * number found by byte search in the payload; `now` is read once per TCP read, not per message.
 * Reads go into one shared buffer (net's `onread`): no Buffer or stream machinery per read; only
 * a frame split across reads is copied. Exits when the IPC channel closes.
 */
import { createHash, randomBytes, randomFillSync } from 'node:crypto';
import net from 'node:net';
import { now, serveSubscriberGroups } from './subscriber-groups.mjs';

/** One read buffer for every socket: onread callbacks run synchronously, one read at a time. */
const READ_BUF = Buffer.allocUnsafe(256 * 1024);
const HEADER_END = Buffer.from('\r\n\r\n');
const T_FIELD = Buffer.from('"t":');
const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
/** A masked client frame (RFC 6455 §5.3). */
const maskKey = Buffer.alloc(4);
function clientFrame(opcode, payload) {
  const len = payload.length;
  const h = len < 126 ? 2 : len < 65536 ? 4 : 10;
  const out = Buffer.allocUnsafe(h + 4 + len);
  out[0] = 0x80 | opcode;
  if (h === 2) out[1] = 0x80 | len;
  else if (h === 4) {
    out[1] = 0x80 | 126;
    out.writeUInt16BE(len, 2);
  } else {
    out[1] = 0x80 | 127;
    out.writeUInt32BE(Math.floor(len / 2 ** 32), 2);
    out.writeUInt32BE(len >>> 0, 6);
  }
  randomFillSync(maskKey);
  maskKey.copy(out, h);
  for (let i = 0; i < len; i++) out[h + 4 + i] = payload[i] ^ maskKey[i & 3];
  return out;
}
const textFrame = (s) => clientFrame(0x1, Buffer.from(s));
const PONG = textFrame('3');

/** `"t":<number>` inside data[p, q) → the number, or NaN. */
function readT(data, p, q) {
  const at = data.indexOf(T_FIELD, p);
  if (at < 0 || at >= q) return NaN;
  let k = at + 4;
  let v = 0;
  let c = data[k];
  while (c >= 0x30 && c <= 0x39) {
    v = v * 10 + (c - 0x30);
    c = data[++k];
  }
  if (c === 0x2e) {
    let f = 0;
    let d = 1;
    c = data[++k];
    while (c >= 0x30 && c <= 0x39) {
      f = f * 10 + (c - 0x30);
      d *= 10;
      c = data[++k];
    }
    v += f / d;
  }
  return k > at + 4 ? v : NaN;
}

class Conn {
  constructor(g, sio, handshake) {
    this.g = g;
    this.sio = sio;
    this.handshake = handshake; // { auth, room, done(ok, why), key } until ready, then null
    this.sock = null;
    this.pending = null;
    this.upgraded = false;
    this.fragBench = false;
    this.closed = false;
  }

  /** One TCP read: data[0, n) of the shared buffer (or of a concatenation with a pending tail). */
  feed(buf, n) {
    let data = buf;
    let end = n;
    if (this.pending) {
      data = Buffer.concat([this.pending, buf.subarray(0, n)]);
      end = data.length;
      this.pending = null;
    }
    let i = 0;
    if (!this.upgraded) {
      const at = data.indexOf(HEADER_END);
      if (at < 0 || at >= end) {
        this.pending = Buffer.from(data.subarray(0, end));
        return;
      }
      const head = data.toString('latin1', 0, at);
      if (!head.startsWith('HTTP/1.1 101')) return this.fail(`upgrade refused: ${head.split('\r\n')[0]}`);
      const accept = /\r\nsec-websocket-accept:\s*(\S+)/i.exec(head)?.[1];
      if (accept !== createHash('sha1').update(this.handshake.key + WS_GUID).digest('base64')) return this.fail('bad Sec-WebSocket-Accept');
      this.upgraded = true;
      i = at + 4;
      if (!this.sio) this.ready();
    }
    const g = this.g;
    const lat = g.latency;
    let count = 0;
    let t = 0;
    while (end - i >= 2) {
      const b0 = data[i];
      const b1 = data[i + 1];
      let len = b1 & 0x7f;
      let h = 2;
      if (len === 126) {
        if (end - i < 4) break;
        len = (data[i + 2] << 8) | data[i + 3];
        h = 4;
      } else if (len === 127) {
        if (end - i < 10) break;
        len = data.readUInt32BE(i + 2) * 2 ** 32 + data.readUInt32BE(i + 6);
        h = 10;
      }
      if (b1 & 0x80) return this.fail('masked server frame');
      const p = i + h;
      const q = p + len;
      if (q > end) break;
      const op = b0 & 0x0f;
      let bench = false;
      if (op === 0x1) {
        // Socket.IO: 42["bench", … → '4' '2' '[' '"' 'b' 'e' 'n' 'c' 'h' '"'
        bench = !this.sio || (len > 10 && data[p] === 0x34 && data[p + 1] === 0x32 && data[p + 4] === 0x62 && data[p + 5] === 0x65 && data[p + 8] === 0x68 && data[p + 9] === 0x22);
        if (!bench) this.control(data.toString('utf8', p, q));
        else if (lat) {
          if (t === 0) t = now();
          lat.push(t - readT(data, p, q));
        }
        if (!(b0 & 0x80)) this.fragBench = bench;
      } else if (op === 0x0) {
        bench = this.fragBench && (b0 & 0x80) !== 0;
      } else if (op === 0x8) {
        this.close();
        return;
      } else if (op === 0x9) {
        this.sock.write(clientFrame(0xa, data.subarray(p, q)));
      }
      if (bench && b0 & 0x80) count++;
      i = q;
    }
    if (i < end) this.pending = Buffer.from(data.subarray(i, end));
    if (count) {
      g.received += count;
      if (t === 0) t = now();
      if (g.first === 0) g.first = t;
      g.last = t;
      if (g.waiter && g.received >= g.expect) {
        const w = g.waiter;
        g.waiter = null;
        w();
      }
    }
  }

  /** Engine.IO / Socket.IO packets other than bench events. */
  control(text) {
    if (text === '2') return void this.sock.write(PONG);
    const hs = this.handshake;
    if (!hs) return;
    if (text[0] === '0') this.sock.write(textFrame(`40${hs.auth ? JSON.stringify(hs.auth) : ''}`));
    else if (text.startsWith('40')) {
      if (!hs.room) this.ready();
      else this.sock.write(textFrame(`421${JSON.stringify(['room:join', { room: hs.room }])}`));
    } else if (text.startsWith('44')) this.fail(`connect_error ${text.slice(2, 200)}`);
    else if (text.startsWith('431')) {
      if (/^431\[\{"ok":true/.test(text)) this.ready();
      else this.fail(`join refused ${text.slice(3, 200)}`);
    } else if (text[0] === '1') this.fail('closed by server');
  }

  ready() {
    const hs = this.handshake;
    this.handshake = null;
    if (hs) hs.done(true);
  }

  fail(why) {
    const hs = this.handshake;
    this.handshake = null;
    this.destroy();
    if (hs) hs.done(false, why);
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    const s = this.sock;
    if (!s || s.destroyed) return;
    s.end(clientFrame(0x8, Buffer.from([0x03, 0xe8])));
    setTimeout(() => s.destroy(), 2000).unref();
  }

  destroy() {
    this.closed = true;
    this.sock?.destroy();
  }
}

function connectOne(g, target, auth, room, timeoutMs) {
  return new Promise((resolve) => {
    const key = randomBytes(16).toString('base64');
    let timer = null;
    const conn = new Conn(g, target.sio, {
      auth,
      room,
      key,
      done: (ok, why) => {
        clearTimeout(timer);
        if (ok) g.members.push(conn);
        resolve({ ok, why });
      },
    });
    timer = setTimeout(() => conn.fail('timeout'), timeoutMs);
    const sock = net.connect({ host: target.host, port: target.port, onread: { buffer: READ_BUF, callback: (n, buf) => void conn.feed(buf, n) } });
    conn.sock = sock;
    sock.setNoDelay(true);
    sock.on('connect', () => {
      sock.write(`GET ${target.path} HTTP/1.1\r\nHost: ${target.hostHeader}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    });
    sock.on('error', (err) => conn.fail(err.code ?? err.message));
    sock.on('close', () => {
      conn.closed = true;
      if (conn.handshake) conn.fail('closed');
    });
  });
}

/** One connection of the run's group; `url` and `protocol`/`path` say where and how. */
function connectMember(g, { url, room, protocol = 'socket.io', path, timeoutMs = 20000 }, auth) {
  const u = new URL(url);
  const sio = protocol === 'socket.io';
  if (!sio && !path) throw new Error(`protocol ${protocol} needs a path`);
  const target = { host: u.hostname, port: Number(u.port || 80), hostHeader: u.host, path: sio ? '/socket.io/?EIO=4&transport=websocket' : path, sio };
  return connectOne(g, target, sio ? auth : null, sio ? room : null, timeoutMs);
}

serveSubscriberGroups({ connect: connectMember, close: (conn) => conn.close() });
