/*
 * A subscriber process for measuring one operation at a time: socket.io-client connections
 * (websocket only) that count as connected once pushgate's `welcome` arrived (the node has
 * registered the socket and listens to its personal stream), and, on a separate `join` command,
 * join rooms. The commands are those of load-tests/bench/subscriber-groups.mjs plus
 *   { cmd: 'join', group, rooms, concurrency } → { joined, failed, errors }
 * (socket k of the group joins rooms[k mod rooms.length] and waits for the ack). Exits when the
 * IPC channel closes.
 */
import { io } from 'socket.io-client';
import { serveSubscriberGroups } from '../bench/subscriber-groups.mjs';

/** The groups' member lists by name, as serveSubscriberGroups created them. */
const groups = new Map();

function connect(g, { group, url, timeoutMs = 20000 }, auth) {
  groups.set(group, g);
  const s = io(url, { transports: ['websocket'], reconnection: false, forceNew: true, timeout: timeoutMs, ...(auth ? { auth } : {}) });
  return new Promise((resolve) => {
    const timer = setTimeout(() => settle(false, 'timeout'), timeoutMs);
    function settle(ok, why) {
      clearTimeout(timer);
      s.off('welcome').off('connect_error');
      if (ok) g.members.push(s);
      else s.disconnect();
      resolve({ ok, why });
    }
    s.once('welcome', () => settle(true));
    s.once('connect_error', (err) => settle(false, err.message));
  });
}

async function join({ group, rooms, concurrency = 50 }) {
  const sockets = groups.get(group)?.members ?? [];
  const errors = {};
  let joined = 0;
  let next = 0;
  const lane = async () => {
    for (let k = next++; k < sockets.length; k = next++) {
      const res = await sockets[k].timeout(20000).emitWithAck('room:join', { room: rooms[k % rooms.length] }).catch((err) => ({ ok: false, error: err.message }));
      if (res?.ok === true) joined += 1;
      else errors[JSON.stringify(res?.error ?? res)] = (errors[JSON.stringify(res?.error ?? res)] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, sockets.length) }, lane));
  return { joined, failed: sockets.length - joined, errors };
}

serveSubscriberGroups({ connect, close: (s) => s.disconnect() });
process.on('message', async (msg) => {
  if (msg?.cmd !== 'join') return;
  try {
    process.send({ reply: msg.id, ok: true, result: await join(msg) });
  } catch (err) {
    process.send({ reply: msg.id, ok: false, error: String(err?.stack ?? err) });
  }
});
