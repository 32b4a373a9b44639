import { send, type RedisClient } from '../../server/src/cluster/redis';

/** Timers that keep the event loop alive right now. */
const refTimers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

describe('send()', () => {
  it('gives a command its deadline without keeping the process alive for it', async () => {
    // A connection that never answers (closed under the command, or a stalled Redis).
    const silent = { sendCommand: () => new Promise(() => undefined) } as unknown as RedisClient;
    const before = refTimers();
    const pending = send(silent, 'k', ['GET', 'k']);
    pending.catch(() => undefined);
    // The 2 s deadline exists (the command is refused then) but holds nothing open: a stopping
    // node, or a jest worker at the end of its files, exits without waiting for it.
    expect(refTimers()).toBe(before);
  });

  it('answers with the reply, and refuses a command Redis refused', async () => {
    const answering = { sendCommand: (argv: string[]) => (argv[0] === 'GET' ? Promise.resolve('v') : Promise.reject(new Error('ERR wrong'))) } as unknown as RedisClient;
    await expect(send(answering, 'k', ['GET', 'k'])).resolves.toBe('v');
    await expect(send(answering, 'k', ['SET', 'k'])).rejects.toThrow('ERR wrong');
  });
});
