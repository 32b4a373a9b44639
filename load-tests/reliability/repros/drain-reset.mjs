#!/usr/bin/env node
/*
 * Finding (sigterm-drain), fixed 2026-12-01: requests that reached a node just before SIGTERM but
 * were not parsed yet were reset instead of answered: the drain's http.close() closed the listener
 * (the listen backlog with it) and the connections Node considers idle (Node >= 19), which includes a
 * fresh connection whose request is still in its socket buffer. Now the node keeps accepting for
 * a second (readiness already 503) and then stops listening without closing idle connections.
 * Before: 17–20 of 20 ECONNRESET; after: 20 of 20 answered 200 at 0, 2, 5 and 20 ms.
 *   node load-tests/reliability/repros/drain-reset.mjs [ms between sending and the signal, default 5]
 */
import http from 'node:http';
import { countBy, killAllChildren, sleep } from '../lib/common.mjs';
import { reproNodes } from './setup.mjs';

const { s, nodes: [node] } = await reproNodes(['reset'], { SHUTDOWN_TIMEOUT_MS: '5000' });
const push = (i) =>
  new Promise((resolve) => {
    const body = JSON.stringify({ users: ['nobody'], event: 'e', data: { i }, id: `r-${i}` });
    const req = http.request({ host: '127.0.0.1', port: node.port, method: 'POST', path: '/api/v1/push', agent: false, headers: { authorization: `Bearer ${s.adminKey}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(String(res.statusCode)));
    });
    req.on('error', (e) => resolve(e.code ?? e.message));
    req.end(body);
  });
const answers = Array.from({ length: 20 }, (_, i) => push(i));
await sleep(Number(process.argv[2] ?? 5));
node.kill('SIGTERM');
console.log(countBy(await Promise.all(answers)));
await node.exited;
killAllChildren();
process.exit(0);
