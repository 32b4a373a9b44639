import type { NodeId } from '../contracts/socket-events';
import type { Logger } from '../lib/logger';
import { decodeWire, type PushWire } from './push-wire';
import type { RedisConnections } from './redis';

/** Every push, as the admission script publishes it (push-wire.ts). */
export const pushChannel = (prefix: string) => `${prefix}#push`;
/** Receipt counts for the pushes a node admitted with `ack`. */
const ackChannel = (prefix: string, node: NodeId) => `${prefix}#ack#${node}`;

/**
 * A node's side of pushgate's own Redis channels: it receives every push (its own included) and
 * the receipt counts other nodes report for the pushes it admitted, and reports its own counts to
 * the admitting node. Pushes are published by the admission script, never here.
 */
export class RedisPushBus {
  private subscribed = false;
  private undecodable = 0;
  private lost = false;

  constructor(
    private readonly conns: RedisConnections,
    private readonly opts: { prefix: string; nodeId: NodeId; sharded: boolean; logger: Logger },
    private readonly on: {
      push: (push: PushWire) => void;
      receipt: (token: string, acked: number) => void;
      /** The subscriber is back after losing its connection: what was published meanwhile was missed. */
      resubscribed: () => void;
    },
  ) {
    // node-redis re-subscribes before it reports 'ready' again.
    conns.sub.on('reconnecting', () => (this.lost = true));
    conns.sub.on('end', () => (this.lost = true));
    conns.sub.on('ready', () => {
      if (!this.lost) return;
      this.lost = false;
      this.on.resubscribed();
    });
  }

  /** Both channels are subscribed; until then the node cannot promise delivery to its own sockets. */
  get ready(): boolean {
    return this.subscribed;
  }

  /**
   * Subscribes once Redis is reachable (with the offline queue off, a SUBSCRIBE sent earlier would
   * fail and be forgotten); node-redis itself re-subscribes after every reconnect. Idempotent.
   */
  subscribe(): void {
    const { sub } = this.conns;
    if (this.subscribed || !sub.isReady) return;
    this.subscribed = true;
    const { prefix, nodeId, sharded, logger } = this.opts;
    const onPush = (raw: string) => {
      let push: PushWire;
      try {
        push = decodeWire(raw);
      } catch (err) {
        // Not something the admission script wrote (another program on the channel): skip it, say so now and then.
        if (this.undecodable++ % 1000 === 0) logger.warn('skipped a message on the push channel that is not a push', { error: (err as Error).message, skipped: this.undecodable });
        return;
      }
      try {
        this.on.push(push);
      } catch (err) {
        // Thrown inside node-redis' reply parser it would take the subscriber connection down with it.
        logger.error('delivering a push to this node failed', { id: push.message.id, error: err });
      }
    };
    const onReceipt = (raw: string) => {
      const at = raw.lastIndexOf(':');
      const acked = Number(raw.slice(at + 1));
      if (at > 0 && Number.isInteger(acked)) this.on.receipt(raw.slice(0, at), acked);
    };
    Promise.all([sharded ? sub.sSubscribe(pushChannel(prefix), onPush) : sub.subscribe(pushChannel(prefix), onPush), sub.subscribe(ackChannel(prefix, nodeId), onReceipt)]).catch((err: Error) => {
      this.subscribed = false;
      logger.warn('could not subscribe to pushes; retrying when Redis is back', { error: err.message });
    });
  }

  /** Reports this node's receipts for a push another node admitted. A failed publish is logged by the adapter's publisher (adapter.ts). */
  report(node: NodeId, token: string, acked: number): void {
    void this.conns.pub.publish(ackChannel(this.opts.prefix, node), `${token}:${acked}`);
  }
}
