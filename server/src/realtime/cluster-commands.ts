import type { InterServerEvents } from '../contracts/socket-events';
import { AppError } from '../lib/errors';
import type { Logger } from '../lib/logger';
import type { PgServer } from './types';

type Command = keyof InterServerEvents;
type RequestOf<C extends Command> = Parameters<InterServerEvents[C]>[0];
type ResultOf<C extends Command> = Parameters<Parameters<InterServerEvents[C]>[1]>[0];
export type CommandHandlers = { [C in Command]: (req: RequestOf<C>) => Promise<ResultOf<C>> };
type CountCommand = { [C in Command]: ResultOf<C> extends number ? C : never }[Command];

/**
 * Runs a command on every node and gathers their answers: here directly, elsewhere through the
 * adapter's serverSideEmitWithAck (which does not call the emitting node's own listener).
 * Used for what only the node holding a socket can do or know: join, leave, disconnect, inspect.
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
      const handler = handlers[name] as (r: unknown) => Promise<unknown>;
      this.io.on(name, ((req: unknown, ack: (r: unknown) => void) => {
        if (typeof ack !== 'function') return;
        handler(req).then(ack, (err: Error) => {
          this.logger.error('cluster command failed', { command: name, error: err.message });
          ack(null);
        });
      }) as never);
    }
  }

  /** Every node's answer, this node's first. A node that failed answers null and is left out. */
  async collect<C extends Command>(name: C, req: RequestOf<C>): Promise<ResultOf<C>[]> {
    if (!this.handlers) throw new Error('ClusterCommands.register() was not called');
    const local = await (this.handlers[name] as (r: RequestOf<C>) => Promise<ResultOf<C>>)(req);
    if (!this.clustered) return [local];
    try {
      const remote = (await (this.io.serverSideEmitWithAck as (ev: string, r: unknown) => Promise<unknown[]>)(name, req)) ?? [];
      return [local, ...(remote.filter((r) => r !== null && r !== undefined) as ResultOf<C>[])];
    } catch (err) {
      throw new AppError('SERVICE_UNAVAILABLE', 'Not every node answered; the change may be partial, retry', { cause: err, retryAfter: 1 });
    }
  }

  /** For counting commands: the sum over all nodes. */
  async run<C extends CountCommand>(name: C, req: RequestOf<C>): Promise<number> {
    const all = (await this.collect(name, req)) as unknown[];
    return all.reduce<number>((sum, n) => sum + (typeof n === 'number' ? n : 0), 0);
  }
}
