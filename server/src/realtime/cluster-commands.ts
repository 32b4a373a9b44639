import type { InterServerEvents } from '../contracts/socket-events';
import { AppError } from '../lib/errors';
import type { Logger } from '../lib/logger';
import type { PgServer } from './types';

type Command = keyof InterServerEvents;
type RequestOf<C extends Command> = Parameters<InterServerEvents[C]>[0];
export type CommandHandlers = { [C in Command]: (req: RequestOf<C>) => Promise<number> };

/**
 * Runs a command on every node and adds up their answers: here directly, elsewhere through the
 * adapter's serverSideEmitWithAck (which does not call the emitting node's own listener).
 * Used for work only the node holding a socket can do: join, leave, disconnect.
 */
export class ClusterCommands {
  private handlers: CommandHandlers | null = null;

  constructor(
    private readonly io: PgServer,
    private readonly clustered: boolean,
    private readonly logger: Logger,
  ) {}

  register(handlers: CommandHandlers): void {
    this.handlers = handlers;
    for (const name of Object.keys(handlers) as Command[]) {
      this.io.on(name, ((req: RequestOf<Command>, ack: (n: number) => void) => {
        (handlers[name] as (r: RequestOf<Command>) => Promise<number>)(req).then(ack, (err: Error) => {
          this.logger.error('cluster command failed', { command: name, error: err.message });
          ack(0);
        });
      }) as never);
    }
  }

  async run<C extends Command>(name: C, req: RequestOf<C>): Promise<number> {
    if (!this.handlers) throw new Error('ClusterCommands.register() was not called');
    const local = await (this.handlers[name] as (r: RequestOf<C>) => Promise<number>)(req);
    if (!this.clustered) return local;
    try {
      const remote = (await (this.io.serverSideEmitWithAck as (ev: string, r: unknown) => Promise<number[]>)(name, req)) ?? [];
      return remote.reduce((sum, n) => sum + (typeof n === 'number' ? n : 0), local);
    } catch (err) {
      throw new AppError('SERVICE_UNAVAILABLE', 'Not every node answered; the change may be partial, retry', { cause: err, retryAfter: 1 });
    }
  }
}
