// PM2 cluster mode for pushgate, one instance per core, all on one Redis.
//
// Plain PM2 balances each HTTP request on its own, so Socket.IO's long-polling handshake lands on
// one worker and its next request on another ("400 Session ID unknown"). Run this file with
// @socket.io/pm2 instead, a drop-in `pm2` that routes every request by its Socket.IO session id:
//
//   npm install -g @socket.io/pm2        (replaces the pm2 command; remove plain pm2 first)
//   npm run build
//   PM2_PORT=3000 REDIS_URL=redis://127.0.0.1:6379 JWT_SECRET=... API_KEYS=... pm2 start ecosystem.config.js
//
// The PM2 daemon owns the public port (PM2_PORT, read when the daemon starts) and hands each
// connection to a worker. Each worker also listens on its own port, INSTANCE_PORT_BASE +
// NODE_APP_INSTANCE, so Prometheus can scrape every instance and health checks reach each one.
//
// PM2 passes the caller's environment to the app; the `env` block below wins over it, so it sets
// only what this file decides and reads everything else from process.env.
const publicPort = Number(process.env.PM2_PORT || process.env.PORT || 3000);
process.env.PM2_PORT = String(publicPort);
const instancePortBase = Number(process.env.INSTANCE_PORT_BASE || publicPort + 100);
const shutdownMs = Number(process.env.SHUTDOWN_TIMEOUT_MS || 10000);

module.exports = {
  apps: [
    {
      name: process.env.PM2_APP_NAME || 'pushgate',
      script: 'dist/server/src/main.js',
      exec_mode: 'cluster',
      instances: process.env.PM2_INSTANCES || 'max',
      // NODE_ID stays `<hostname>-<pid>`: unique per instance and per generation, so during a
      // reload the old and the new worker never share an identity in the cluster registry.
      env: {
        NODE_ENV: process.env.NODE_ENV || 'production',
        PM2_STICKY: 'true',
        PORT: String(instancePortBase),
      },
      // pm2 reload: start the new worker, wait until it listens, then SIGINT the old one, which
      // drains (server:draining, finish in-flight work) within SHUTDOWN_TIMEOUT_MS.
      listen_timeout: 15000,
      kill_timeout: shutdownMs + 2000,
      max_memory_restart: process.env.PM2_MAX_MEMORY || '1G',
      merge_logs: true,
      time: false,
    },
  ],
};
