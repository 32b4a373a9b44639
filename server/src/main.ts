import { ConfigError, loadConfig, type Config } from './config/config';
import { PushgateNode } from './node';
import { signToken } from './realtime/token-verifier';

/** What a developer needs to try the node at once: printed only when secrets were generated. */
function printDemo(config: Config, url: string): void {
  const lines = [`pushgate ${config.env} node "${config.nodeId}" listening on ${url}`];
  if (config.redisUrl === null) lines.push('single node, in-memory state (set REDIS_URL to cluster)');
  if (config.generatedJwtSecret || config.generatedApiKey) {
    lines.push('', 'Development secrets were generated for this run (set JWT_SECRET and API_KEYS to keep them):');
    if (config.generatedJwtSecret) lines.push(`  JWT_SECRET=${config.generatedJwtSecret}`);
    if (config.generatedApiKey) lines.push(`  API key (admin): ${config.generatedApiKey}`);
  }
  if (config.jwt.kind === 'hmac' && config.env !== 'production') {
    const token = signToken(config.jwt, { sub: 'demo', rooms: ['demo:*'] }, 24 * 3600);
    lines.push('', `Demo client token (user "demo", 24 h): ${token}`);
    lines.push(`  in a browser: io("${url}", { auth: { token: "<token>" } }).on("hello", console.log)`);
  }
  if (config.generatedApiKey) {
    lines.push(
      '',
      'Push to the demo user:',
      `  curl -X POST ${url}/api/v1/push -H "Authorization: Bearer ${config.generatedApiKey}" -H "Content-Type: application/json" -d '{"users":["demo"],"event":"hello","data":{"text":"Hello from pushgate"}}'`,
    );
  }
  process.stdout.write(`${lines.join('\n')}\n\n`);
}

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`pushgate: configuration error: ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }

  const node = new PushgateNode(config);
  try {
    await node.start();
  } catch (err) {
    node.logger.error('could not start', { error: err });
    process.exit(1);
  }
  const shownHost = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  if (config.env !== 'production') printDemo(config, `http://${shownHost}:${node.port}`);
  else node.logger.info('listening', { port: node.port, host: config.host });

  let signalled = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (signalled) return;
    signalled = true;
    node.logger.info('shutdown requested', { signal });
    // The hard deadline: whatever is still open then does not keep the process alive.
    setTimeout(() => {
      node.logger.warn('shutdown deadline reached: exiting');
      process.exit(0);
    }, config.shutdownTimeoutMs).unref();
    node.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        node.logger.error('error while draining', { error: err });
        process.exit(0);
      },
    );
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  process.on('unhandledRejection', (reason) => node.logger.error('unhandled rejection', { error: reason }));
}

void main();
