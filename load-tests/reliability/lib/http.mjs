/*
 * HTTP as a backend sees pushgate: JSON requests with an API key, a hard per-request timeout (a
 * request without an answer by then counts as hung), and every outcome kept as a figure: status,
 * error code, Retry-After, latency, and for requests that got no answer, why.
 */
import http from 'node:http';
import { now } from './common.mjs';

/** A request answered later than this is counted as hung (and abandoned). */
export const REQUEST_TIMEOUT_MS = 5000;

const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 64 });

/**
 * One request. Never throws: `{ status, body, headers, ms, error }`, where `error` is set when no
 * answer came: 'timeout', 'refused' (nothing listening), 'reset' (the connection died after the
 * request went out), or the error's code.
 */
export function request(baseUrl, { method = 'GET', path, key, body, timeoutMs = REQUEST_TIMEOUT_MS, fresh = false, headers = {} }) {
  const u = new URL(path, baseUrl);
  const payload = body === undefined ? null : Buffer.from(JSON.stringify(body));
  const started = now();
  return new Promise((resolve) => {
    let settled = false;
    const done = (r) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ status: null, body: null, headers: {}, error: null, ...r, ms: now() - started, at: started });
    };
    const req = http.request(
      {
        host: u.hostname,
        port: u.port,
        method,
        path: u.pathname + u.search,
        // A fresh connection per request lets a balancer spread requests (and shows what a new client meets).
        agent: fresh ? false : keepAlive,
        headers: {
          ...(key ? { authorization: `Bearer ${key}` } : {}),
          ...(payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {}),
          ...headers,
        },
      },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          let parsed;
          try {
            parsed = JSON.parse(text);
          } catch {
            parsed = text;
          }
          done({ status: res.statusCode, body: parsed, headers: res.headers });
        });
        res.on('error', () => done({ error: 'reset' }));
      },
    );
    const timer = setTimeout(() => {
      done({ error: 'timeout' });
      req.destroy();
    }, timeoutMs);
    req.on('error', (err) => done({ error: err.code === 'ECONNREFUSED' ? 'refused' : err.code === 'ECONNRESET' || /hang up/.test(err.message) ? 'reset' : (err.code ?? err.message) }));
    req.end(payload ?? undefined);
  });
}

/** The error code of an enveloped answer, or the status, or the transport error: what the figures count by. */
export function outcome(r) {
  if (r.error) return r.error;
  if (r.status >= 200 && r.status < 300) return String(r.status);
  const code = r.body && typeof r.body === 'object' ? r.body.error?.code : null;
  return code ? `${r.status} ${code}` : String(r.status);
}

export const is2xx = (r) => r.status !== null && r.status >= 200 && r.status < 300;

/** Prometheus text → { 'name{labels}': value } for the lines matching `prefix`. */
export async function scrapeMetrics(baseUrl, prefix = 'pushgate_') {
  const r = await request(baseUrl, { path: '/metrics', timeoutMs: 3000 });
  const out = {};
  if (r.status !== 200 || typeof r.body !== 'string') return out;
  for (const line of r.body.split('\n')) {
    if (!line.startsWith(prefix)) continue;
    const i = line.lastIndexOf(' ');
    out[line.slice(0, i)] = Number(line.slice(i + 1));
  }
  return out;
}

/** Sum of every series of `name` (all label sets) whose labels contain `labelPart`. */
export function metricSum(metrics, name, labelPart = '') {
  let s = 0;
  for (const [k, v] of Object.entries(metrics)) {
    if ((k === name || k.startsWith(`${name}{`)) && k.includes(labelPart)) s += v;
  }
  return s;
}
