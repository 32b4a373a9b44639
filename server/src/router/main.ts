import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { StickyRouter } from './sticky-router';

/**
 * `node dist/server/src/router/main.js`: pushgate's workers behind one public port (PORT, HOST),
 * each Engine.IO session pinned to its worker, for PM2 (ecosystem.config.js) or on its own.
 * WORKERS (default: one per CPU) workers; worker i also listens on INSTANCE_PORT_BASE + i
 * (default PORT + 100 + i) for scrapes and health checks. Every other variable goes to the workers.
 */
function main(): void {
  const port = Number(process.env.PORT ?? 3000);
  const router = new StickyRouter({
    port,
    host: process.env.HOST ?? '0.0.0.0',
    workers: Math.max(1, Number(process.env.WORKERS ?? availableParallelism())),
    instancePortBase: Number(process.env.INSTANCE_PORT_BASE ?? port + 100),
    entry: join(__dirname, '..', 'main.js'),
    shutdownTimeoutMs: Number(process.env.SHUTDOWN_TIMEOUT_MS ?? 10_000),
    log: (message, fields) => process.stdout.write(`${JSON.stringify({ level: 'warn', message, ...fields })}\n`),
  });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`${JSON.stringify({ level: 'info', message: 'router: stopping', signal })}\n`);
    void router.stop().then(() => process.exit(0));
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  router.start().then(
    () => {
      process.stdout.write(`${JSON.stringify({ level: 'info', message: 'router: listening', port, generation: router.generation })}\n`);
      // PM2's wait_ready: a reload stops the old router only once this one serves.
      process.send?.('ready');
    },
    (err: Error) => {
      process.stderr.write(`pushgate router: could not start: ${err.message}\n`);
      process.exit(1);
    },
  );
}

main();
