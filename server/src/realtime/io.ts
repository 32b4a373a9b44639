import type { Server as HttpServer } from 'node:http';
import { Server, type ServerOptions } from 'socket.io';
import { hasLoneSurrogate, MAX_NESTING } from '../contracts/api';
import { RESERVED_CLIENT_EVENTS, type WelcomePayload } from '../contracts/socket-events';
import { nestsDeeperThan } from '../lib/json-depth';
import type { Clock } from '../lib/clock';
import { AppError } from '../lib/errors';
import type { Logger } from '../lib/logger';
import type { Metrics } from '../metrics/metrics';
import type { MessageRouter } from '../routing/message-router';
import type { ConnectionManager } from './connection-manager';
import { EventRateLimiter, FLOOD_FACTOR } from './event-rate-limiter';
import { splitArgs, withAck } from './handlers/with-ack';
import { handshakeAuth, type HandshakeDeps } from './handshake-auth';
import type { Recovery } from './recovery';
import type { RoomManager } from './room-manager';
import type { TokenVerifier } from './token-verifier';
import type { PgServer, PgSocket } from './types';
import { toPusherSocketId } from '../contracts/pusher-socket-id';
import { externalName } from '../contracts/app-scope';

export interface IoOptions {
  corsOrigins: '*' | string[];
  maxPayloadBytes: number;
  adapter?: ServerOptions['adapter'];
  /**
   * false refuses new Engine.IO sessions at the HTTP level (while draining): the client sees a
   * transport error and reconnects elsewhere with its usual backoff, where a Socket.IO-level
   * refusal would make it give up.
   */
  accepting?: () => boolean;
  /** false refuses a new Engine.IO session the same way: this node is over RATE_LIMIT_NODE_HANDSHAKES. */
  admit?: () => boolean;
  /** Offer permessage-deflate on WebSocket (WS_PER_MESSAGE_DEFLATE). @default false */
  perMessageDeflate?: boolean;
}

/** The Socket.IO server with pushgate's transport settings; handlers are attached by attachGateway. */
export function createIoServer(http: HttpServer, opts: IoOptions): PgServer {
  return new Server(http, {
    path: '/socket.io',
    serveClient: false,
    maxHttpBufferSize: opts.maxPayloadBytes,
    perMessageDeflate: opts.perMessageDeflate === true,
    // Only new sessions are counted: a polling request or an upgrade of an existing one carries its sid.
    allowRequest: (req, cb) => {
      if (opts.accepting?.() === false) return cb('draining', false);
      if (opts.admit && !/[?&]sid=/.test(req.url ?? '') && !opts.admit()) return cb('RATE_LIMITED', false);
      cb(null, true);
    },
    cors: { origin: opts.corsOrigins === '*' ? true : opts.corsOrigins, credentials: opts.corsOrigins !== '*' },
    ...(opts.adapter ? { adapter: opts.adapter } : {}),
  });
}

export interface GatewayDeps extends HandshakeDeps {
  nodeId: string;
  /** APPS (or PUSHER_APP) is set: the welcome also names the app and carries the socket id in Pusher's form. */
  appsListed?: boolean;
  eventsPerSecond: number;
  connections: ConnectionManager;
  rooms: RoomManager;
  recovery: Recovery;
  /** The MessageRouter of a socket's app (its own backend, or BACKEND_URL). */
  routerOf: (socket: PgSocket) => MessageRouter;
  verifier: TokenVerifier;
  clock: Clock;
  metrics: Metrics;
  logger: Logger;
  /** Hears every client event the MessageRouter forwards (webhooks report chosen ones as client_event). */
  clientEvent?: (socket: PgSocket, event: string, data: unknown) => void;
  /** Counts a handler in flight, so a graceful drain can wait for it. */
  track<T>(work: Promise<T>): Promise<T>;
}

const EVENT_NAME = /^[^\s\p{Cc}]{1,100}$/u;

/** Handshake, per-connection set-up and every client → server event. */
export function attachGateway(io: PgServer, deps: GatewayDeps): void {
  const { connections, rooms, recovery, verifier, clock, metrics, logger } = deps;
  io.use(handshakeAuth(deps));
  const refusedEvent = { ok: false, error: new AppError('RATE_LIMITED', `More than ${deps.eventsPerSecond} events per second`).toBody() } as const;

  io.on('connection', (socket: PgSocket) => {
    // Registers the socket and joins its personal room before anything awaits (room writes wait
    // for the registration), then welcomes it and replays what it asked to recover.
    const auth = socket.handshake.auth as Record<string, unknown> | undefined;
    void deps
      .track(
        recovery.connect(
          socket,
          () => connections.add(socket),
          (offsets) => {
            // The client hears its own names: the app's qualification stays on this side (contracts/app-scope.ts).
            const welcome: WelcomePayload = { socketId: socket.id, userId: externalName(socket.data.userId), nodeId: deps.nodeId, rooms: [...socket.rooms].filter((r) => r !== socket.id).map(externalName), serverTime: clock.now() };
            if (offsets && Object.keys(offsets).length > 0) welcome.offsets = Object.fromEntries(Object.entries(offsets).map(([s, o]) => [externalName(s), o]));
            if (deps.appsListed) {
              welcome.app = socket.data.app.id;
              const pusherId = toPusherSocketId(socket.id);
              if (pusherId) welcome.pusherSocketId = pusherId;
            }
            socket.emit('welcome', welcome);
          },
          auth && typeof auth === 'object' ? auth.recover : undefined,
        ),
      )
      .catch((err: unknown) => logger.error('connection set-up failed', { socketId: socket.id, error: err }));
    const app = socket.data.app;
    const eventsPerSecond = deps.apps.of(app.id).limits.eventsPerSecond ?? deps.eventsPerSecond;
    const limiter = new EventRateLimiter(eventsPerSecond);
    const userId = externalName(socket.data.userId);
    const ctx = app.implicit ? { socketId: socket.id, userId } : { socketId: socket.id, userId, app: app.id };
    const rateLimited = eventsPerSecond === deps.eventsPerSecond ? refusedEvent : { ok: false, error: new AppError('RATE_LIMITED', `More than ${eventsPerSecond} events per second`).toBody() };

    // One middleware sees every incoming event: rate limit first, then either the built-in
    // handlers (next) or the MessageRouter for any other name.
    socket.use((packet, next) => {
      const [event, ...args] = packet as [unknown, ...unknown[]];
      const { payload, ack } = splitArgs(args);
      if (!limiter.allow(clock.now())) {
        metrics.markRateLimited('event');
        // A flood is answered from one prepared body: no error object, promise or log line per
        // refused event, so refusing costs the node little more than reading the packet.
        if (typeof ack === 'function') ack(rateLimited);
        if (limiter.flooding && socket.connected) {
          metrics.markFloodDisconnect();
          logger.warn('event flood: disconnecting a socket far over RATE_LIMIT_EVENTS', { ...ctx, limitPerSecond: eventsPerSecond, factor: FLOOD_FACTOR });
          socket.disconnect(true);
        }
        return;
      }
      if (!deps.accepting()) {
        // Draining: the transport closes soon, so a new event would be cut off mid-way; say so now.
        void withAck(logger, ctx, ack, () => Promise.reject(new AppError('SERVICE_UNAVAILABLE', 'This node is shutting down; send it again once reconnected', { retryAfter: 1 })));
        return;
      }
      if (nestsDeeperThan(args, MAX_NESTING)) {
        void withAck(logger, ctx, ack, () => Promise.reject(new AppError('BAD_REQUEST', `The event's arguments nest deeper than ${MAX_NESTING} levels`)));
        return;
      }
      if (typeof event === 'string' && (RESERVED_CLIENT_EVENTS as readonly string[]).includes(event)) return next();
      metrics.markClientEvent('forward', app.id);
      void deps.track(
        withAck(logger, { ...ctx, event }, ack, async () => {
          if (typeof event !== 'string' || !EVENT_NAME.test(event) || hasLoneSurrogate(event)) throw new AppError('BAD_REQUEST', 'event names are 1-100 characters of well-formed Unicode without whitespace');
          deps.clientEvent?.(socket, event, payload);
          return deps.routerOf(socket).forward(app.implicit ? { event, data: payload, userId, socketId: socket.id } : { event, data: payload, userId, app: app.id, socketId: socket.id });
        }),
      );
    });

    socket.on('room:join', (...args: unknown[]) => {
      metrics.markClientEvent('room', app.id);
      const { payload, ack } = splitArgs(args);
      void deps.track(withAck(logger, { ...ctx, event: 'room:join' }, ack, async () => recovery.join(socket, field(payload, 'room'), (payload as Record<string, unknown>).since)));
    });

    socket.on('room:leave', (...args: unknown[]) => {
      metrics.markClientEvent('room', app.id);
      const { payload, ack } = splitArgs(args);
      void deps.track(withAck(logger, { ...ctx, event: 'room:leave' }, ack, async () => ({ room: externalName(await rooms.leave(socket, field(payload, 'room'))) })));
    });

    socket.on('auth:refresh', (...args: unknown[]) => {
      metrics.markClientEvent('auth', app.id);
      const { payload, ack } = splitArgs(args);
      void withAck(logger, { ...ctx, event: 'auth:refresh' }, ack, async () => {
        const verified = verifier.verify(field(payload, 'token'));
        if ((verified.app?.id ?? deps.apps.default.id) !== app.id) throw new AppError('FORBIDDEN', 'The new token is for another app');
        if (verified.userId !== userId) throw new AppError('FORBIDDEN', 'The new token is for another user');
        socket.data.roomPatterns = verified.roomPatterns;
        connections.refreshExpiry(socket, verified.expiresAt);
        return { exp: verified.expiresAt };
      });
    });

    socket.on('disconnect', () => {
      void connections.remove(socket);
    });
  });
}

/** Reads one field of an object payload; anything else is a BAD_REQUEST. */
function field(payload: unknown, name: string): unknown {
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) {
    throw new AppError('BAD_REQUEST', `payload must be an object with "${name}"`, { details: [{ field: name, message: 'required' }] });
  }
  return (payload as Record<string, unknown>)[name];
}
