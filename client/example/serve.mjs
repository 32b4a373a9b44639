#!/usr/bin/env node
// Serves the example page and the browser bundle on 127.0.0.1 (node:http only, no dependencies).
//   node client/example/serve.mjs [--port N]      (default 8080; 0 picks a free port)
// Build the bundle first: npm run build:client
import { createServer } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, '..', 'dist');

function parsePort(argv) {
  const i = argv.findIndex((a) => a === '--port' || a.startsWith('--port='));
  if (i === -1) return 8080;
  const raw = argv[i].includes('=') ? argv[i].split('=')[1] : argv[i + 1];
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`serve.mjs: --port needs a port number (0-65535), got "${raw ?? ''}"`);
    process.exit(1);
  }
  return port;
}

const files = {
  '/': { path: join(here, 'index.html'), type: 'text/html; charset=utf-8' },
  '/index.html': { path: join(here, 'index.html'), type: 'text/html; charset=utf-8' },
  '/pushgate-client.browser.js': { path: join(dist, 'pushgate-client.browser.js'), type: 'text/javascript; charset=utf-8' },
  '/pushgate-client.browser.js.map': { path: join(dist, 'pushgate-client.browser.js.map'), type: 'application/json' },
};

const server = createServer(async (req, res) => {
  const { pathname } = new URL(req.url ?? '/', 'http://localhost');
  if (pathname === '/favicon.ico') {
    res.writeHead(204).end();
    return;
  }
  const file = files[pathname];
  if (!file || (req.method !== 'GET' && req.method !== 'HEAD')) {
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found\n');
    return;
  }
  try {
    const body = await readFile(file.path);
    res.writeHead(200, { 'content-type': file.type, 'content-length': body.length, 'cache-control': 'no-store' });
    res.end(req.method === 'HEAD' ? undefined : body);
  } catch {
    const hint = file.path.startsWith(dist) ? 'the browser bundle is not built: run `npm run build:client`\n' : 'not found\n';
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end(hint);
  }
});

server.on('error', (err) => {
  console.error(`serve.mjs: ${err.code === 'EADDRINUSE' ? `port ${err.port} is in use (try --port 0)` : err.message}`);
  process.exit(1);
});

server.listen(parsePort(process.argv.slice(2)), '127.0.0.1', async () => {
  const { port } = server.address();
  const url = `http://127.0.0.1:${port}/`;
  console.log(`pushgate client example: ${url}`);
  console.log(`  with a server and token: ${url}?url=http://127.0.0.1:3000&token=<the demo token npm start prints>`);
  const built = await stat(files['/pushgate-client.browser.js'].path).then(() => true, () => false);
  if (!built) console.log('  note: the browser bundle is missing; run `npm run build:client` first');
});

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    server.closeAllConnections();
    server.close(() => process.exit(0));
  });
}
