/*
 * A client process: holds many socket.io-client connections (websocket transport only) in named
 * groups, counts `bench` events per group and, when asked, records push→receive latency from the
 * `t` field the orchestrator put in the data. Driven over IPC by run.mjs; exits when the IPC
 * channel closes, so it can never outlive the benchmark.
 */
import { io } from 'socket.io-client';
import { now, serveSubscriberGroups } from './subscriber-groups.mjs';

function onBench(g, data) {
  const t = now();
  g.received += 1;
  if (g.first === 0) g.first = t;
  g.last = t;
  if (g.latency && data && typeof data.t === 'number') g.latency.push(t - data.t);
  if (g.waiter && g.received >= g.expect) {
    const w = g.waiter;
    g.waiter = null;
    w();
  }
}

function connectOne(g, url, auth, room, timeoutMs) {
  return new Promise((resolve) => {
    const s = io(url, { transports: ['websocket'], reconnection: false, forceNew: true, timeout: timeoutMs, ...(auth ? { auth } : {}) });
    const timer = setTimeout(() => done(false, 'timeout'), timeoutMs);
    const done = (ok, why) => {
      clearTimeout(timer);
      if (!ok) s.disconnect();
      else g.members.push(s);
      resolve({ ok, why });
    };
    s.on('bench', (data) => onBench(g, data));
    s.once('connect_error', (err) => done(false, err.message));
    s.once('connect', () => {
      if (!room) return done(true);
      s.timeout(timeoutMs).emit('room:join', { room }, (err, res) => done(!err && res && res.ok === true, err ? 'join timeout' : JSON.stringify(res)));
    });
  });
}

serveSubscriberGroups({
  connect: (g, { url, room, timeoutMs = 20000 }, auth) => connectOne(g, url, auth, room, timeoutMs),
  close: (socket) => socket.disconnect(),
});
