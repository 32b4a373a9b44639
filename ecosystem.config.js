// pushgate under the plain `pm2` (no fork of it needed), one worker per core, all on one Redis:
//
//   npm run build
//   PORT=3000 REDIS_URL=redis://127.0.0.1:6379 JWT_SECRET=... API_KEYS=... pm2 start ecosystem.config.js
//   pm2 reload pushgate        # new workers first, then the old ones drain; no handshake lost
//
// PM2 runs pushgate's router (dist/server/src/router/main.js) as a single cluster-mode instance.
// The router starts WORKERS pushgate workers (default: one per CPU) and hands each connection to
// the worker that owns its Socket.IO session, so default clients (long-polling first, then the
// upgrade) work; plain PM2 cluster mode balances every request on its own and breaks them.
// PORT and HOST are the public port and address, as everywhere else. Worker i also listens on
// INSTANCE_PORT_BASE + i (default PORT + 100 + i) for Prometheus and health checks.
//
// `pm2 reload` starts a new router with new workers, waits until it says it is ready, then stops
// the old one: it stops taking connections at once and drains its workers (server:draining; their
// clients reconnect, to the new workers) within SHUTDOWN_TIMEOUT_MS.
//
// PM2 passes the caller's environment to the app; the `env` block below wins over it, so it sets
// only what this file decides and reads everything else from process.env.
const shutdownMs = Number(process.env.SHUTDOWN_TIMEOUT_MS || 10000);

module.exports = {
  apps: [
    {
      name: process.env.PM2_APP_NAME || 'pushgate',
      script: 'dist/server/src/router/main.js',
      // One router; cluster mode is what lets `pm2 reload` run the new router beside the old one on the same port.
      exec_mode: 'cluster',
      instances: 1,
      env: {
        NODE_ENV: process.env.NODE_ENV || 'production',
      },
      wait_ready: true,
      listen_timeout: 30000,
      // The router stops its own workers in order; PM2 must not signal them behind its back.
      treekill: false,
      kill_timeout: shutdownMs + 5000,
      max_memory_restart: process.env.PM2_MAX_MEMORY || '2G',
      merge_logs: true,
      time: false,
    },
  ],
};
