#!/usr/bin/env node
// `npm start`: build the server and the dashboard when missing or older than their sources, then run.
// Under PM2 or Docker run `node dist/server/src/main.js` directly instead.
const { ensureServer, entry } = require('./build-server');

try {
  ensureServer();
} catch (err) {
  process.stderr.write(`pushgate: ${err.message}\n`);
  process.exit(1);
}
// The dashboard's static export: rebuilt only when missing or older than its sources, so a machine
// that already built it starts at once. A failed build leaves the API up (the dashboard answers 503).
require('./build-dashboard').ensureDashboard();
require(entry);
