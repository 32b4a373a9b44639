/*
 * A keep-alive HTTP load generator in its own process: `connections` concurrent request loops on
 * an undici Pool (one request in flight per connection), for `seconds` after a warm-up. Prints one
 * JSON line: { requests, rps, non2xx, errors, p50Ms, p99Ms }.
 *
 * usage: node http-load.mjs <json options>  { url, path, headers, body, connections, seconds, warmupSeconds }
 */
import { Pool } from 'undici';

const o = JSON.parse(process.argv[2]);
const pool = new Pool(o.url, { connections: o.connections, pipelining: 1, keepAliveTimeout: 30000 });
const body = JSON.stringify(o.body);
const headers = { 'content-type': 'application/json', ...o.headers };

let measuring = false;
let stop = false;
let requests = 0;
let non2xx = 0;
let errors = 0;
const lat = [];

async function loop() {
  while (!stop) {
    const t0 = performance.now();
    try {
      const res = await pool.request({ path: o.path, method: 'POST', headers, body });
      await res.body.dump();
      if (measuring) {
        requests += 1;
        if (res.statusCode < 200 || res.statusCode > 299) non2xx += 1;
        if (lat.length < 200000) lat.push(performance.now() - t0);
      }
    } catch {
      if (measuring) errors += 1;
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

const loops = Array.from({ length: o.connections }, loop);
await new Promise((r) => setTimeout(r, (o.warmupSeconds ?? 1) * 1000));
measuring = true;
const t0 = performance.now();
await new Promise((r) => setTimeout(r, o.seconds * 1000));
measuring = false;
const elapsed = (performance.now() - t0) / 1000;
stop = true;
await Promise.all(loops);
await pool.close();
lat.sort((a, b) => a - b);
const pct = (p) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))] : null);
process.stdout.write(`${JSON.stringify({ requests, rps: requests / elapsed, non2xx, errors, p50Ms: pct(50), p99Ms: pct(99) })}\n`);
