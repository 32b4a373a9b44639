import type { NodeId, Stream } from '../contracts/socket-events';
import type { Logger } from '../lib/logger';
import { decodeWire, type PushWire } from './push-wire';
import { send, type RedisClient, type RedisConnections } from './redis';
import type { RedisKeys } from './redis-keys';

/** Where a stream's subscription stands; `off` is retried each time the subscriber is back. */
interface Listening {
  state: 'pending' | 'on' | 'off';
  done: Promise<void>;
}

/**
 * A node's side of pushgate's own channels, all sharded pub/sub (SSUBSCRIBE), so on a Redis Cluster
 * each shard carries the channels of its own slots:
 *   - one channel per stream this node has sockets in, subscribed when the stream's first local
 *     socket joins and dropped after its last one leaves (the way Socket.IO's sharded adapter
 *     subscribes per room): a node hears only the pushes it has someone to deliver to;
 *   - its own node channel, for pushes to socket ids it owns;
 *   - its receipts channel, for the counts other nodes report on pushes it admitted.
 * Pushes are published by the admission scripts, never here.
 */
export class RedisPushBus {
  private subscribed = false;
  private undecodable = 0;
  private readonly streams = new Map<Stream, Listening>();
  private readonly onPush: (raw: string) => void;

  constructor(
    private readonly conns: RedisConnections,
    private readonly opts: { keys: RedisKeys; nodeId: NodeId; logger: Logger },
    private readonly on: {
      push: (push: PushWire) => void;
      receipt: (token: string, acked: number) => void;
      /** A subscriber connection is back after losing its connection: what was published meanwhile was missed. */
      resubscribed: () => void;
    },
  ) {
    this.onPush = (raw: string) => {
      let push: PushWire;
      try {
        push = decodeWire(raw);
      } catch (err) {
        // Not something an admission script wrote (another program on the channel): skip it, say so now and then.
        if (this.undecodable++ % 1000 === 0) opts.logger.warn('skipped a message on a push channel that is not a push', { error: (err as Error).message, skipped: this.undecodable });
        return;
      }
      try {
        this.on.push(push);
      } catch (err) {
        // Thrown inside node-redis' reply parser it would take the subscriber connection down with it.
        opts.logger.error('delivering a push to this node failed', { id: push.message.id, error: err });
      }
    };
    let lost = false;
    // node-redis re-subscribes what it had before it reports a connection ready again.
    conns.watchSubscriber(
      () => (lost = true),
      () => {
        this.retryStreams();
        if (!lost) return;
        lost = false;
        this.on.resubscribed();
      },
    );
  }

  /** The node's own channels are subscribed; until then the node cannot promise delivery to its own sockets. */
  get ready(): boolean {
    return this.subscribed;
  }

  /**
   * Subscribes the node's own channels once Redis is reachable (with the offline queue off, a
   * subscription sent earlier would fail and be forgotten), and any stream whose subscription
   * failed meanwhile. Idempotent.
   */
  subscribe(): void {
    const { sub } = this.conns;
    this.retryStreams();
    if (this.subscribed || !sub.isReady) return;
    this.subscribed = true;
    const { keys, nodeId, logger } = this.opts;
    const onReceipt = (raw: string) => {
      const at = raw.lastIndexOf(':');
      const acked = Number(raw.slice(at + 1));
      if (at > 0 && Number.isInteger(acked)) this.on.receipt(raw.slice(0, at), acked);
    };
    Promise.all([subscribe(sub, keys.nodeChannel(nodeId), this.onPush), subscribe(sub, keys.ackChannel(nodeId), onReceipt)]).catch((err: Error) => {
      this.subscribed = false;
      logger.warn('could not subscribe to pushes; retrying when Redis is back', { error: err.message });
    });
  }

  /**
   * Resolves once this node hears the stream's pushes. A join awaits it before the presence write
   * that makes pushes count the socket, so no push that counts a socket is published before its
   * node listens. Rejects while Redis is unreachable (the join then fails with 503).
   */
  listen(stream: Stream): Promise<void> {
    const now = this.streams.get(stream);
    if (now && now.state !== 'off') return now.done;
    const entry: Listening = { state: 'pending', done: Promise.resolve() };
    entry.done = subscribe(this.conns.sub, this.opts.keys.streamChannel(stream), this.onPush).then(
      () => {
        if (this.streams.get(stream) === entry) entry.state = 'on';
      },
      (err: Error) => {
        if (this.streams.get(stream) === entry) {
          const failed = Promise.reject(err);
          failed.catch(() => undefined);
          this.streams.set(stream, { state: 'off', done: failed });
        }
        throw err;
      },
    );
    this.streams.set(stream, entry);
    return entry.done;
  }

  /** The node's last socket left the stream. */
  forget(stream: Stream): void {
    const was = this.streams.get(stream);
    if (!was) return;
    this.streams.delete(stream);
    if (was.state === 'off') return;
    Promise.resolve()
      .then(() => this.conns.sub.sUnsubscribe(this.opts.keys.streamChannel(stream), this.onPush))
      .catch((err: Error) => this.opts.logger.debug('could not unsubscribe a stream', { stream, error: err.message }));
  }

  /** Streams this node listens to, or is subscribing to. */
  get listening(): number {
    return this.streams.size;
  }

  private retryStreams(): void {
    if (!this.conns.sub.isReady) return;
    for (const [stream, l] of this.streams) {
      if (l.state !== 'off') continue;
      this.streams.delete(stream);
      this.listen(stream).catch(() => undefined);
    }
  }

  /** Reports this node's receipts for a push another node admitted. */
  report(node: NodeId, token: string, acked: number): void {
    const channel = this.opts.keys.ackChannel(node);
    send(this.conns.pub, channel, ['SPUBLISH', channel, `${token}:${acked}`]).catch((err: Error) => this.opts.logger.debug('could not report receipts', { node, error: err.message }));
  }
}

/** SSUBSCRIBE that always answers with a promise (node-redis' cluster client throws while it has no connection). */
function subscribe(client: RedisClient, channel: string, listener: (raw: string) => void): Promise<void> {
  try {
    return client.sSubscribe(channel, listener);
  } catch (err) {
    return Promise.reject(err);
  }
}
