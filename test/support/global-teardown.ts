import type { RedisServer } from './redis-server';

export default async function globalTeardown(): Promise<void> {
  await (globalThis as { __PUSHGATE_REDIS__?: RedisServer }).__PUSHGATE_REDIS__?.destroy();
}
