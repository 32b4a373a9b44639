import { randomUUID } from 'node:crypto';
import type { NodeId, Room, SocketId, UserId } from '../contracts/socket-events';
import type { Clock } from '../lib/clock';
import { AppError } from '../lib/errors';
import type { Logger } from '../lib/logger';
import type { Metrics } from '../metrics/metrics';
import { BackendTimeoutError, type BackendClient, type BackendResponse } from './backend-client';
import { CircuitBreaker, type CircuitBreakerOptions } from './circuit-breaker';

export interface ForwardedEvent {
  event: string;
  data: unknown;
  userId: UserId;
  /** With APPS listed: the socket's app (its userId and room names are that app's own). */
  app?: string;
  socketId: SocketId;
}

/**
 * Client events → backend (`POST /events`), and room authorization (`POST /authorize`).
 * Every failure becomes one of the contract's codes; a backend that keeps failing opens the
 * circuit so clients get BACKEND_UNAVAILABLE at once instead of piling up timeouts.
 */
export class MessageRouter {
  private readonly breaker: CircuitBreaker;

  constructor(
    private readonly backend: BackendClient | null,
    private readonly deps: { nodeId: NodeId; timeoutMs: number; clock: Clock; metrics: Metrics; logger: Logger; breaker?: CircuitBreakerOptions },
  ) {
    this.breaker = new CircuitBreaker(deps.clock, deps.breaker);
  }

  get hasBackend(): boolean {
    return this.backend !== null;
  }

  get circuitState(): 'closed' | 'open' | 'half-open' {
    return this.breaker.state;
  }

  /** @returns the backend's 2xx body; throws AppError otherwise. */
  async forward(ev: ForwardedEvent): Promise<unknown> {
    const body: Record<string, unknown> = { id: randomUUID(), event: ev.event, data: ev.data, userId: ev.userId, socketId: ev.socketId, nodeId: this.deps.nodeId, ts: this.deps.clock.now() };
    if (ev.app !== undefined) body.app = ev.app;
    const res = await this.call('/events', body);
    if (res.status >= 200 && res.status < 300) return res.body;
    throw new AppError('BACKEND_ERROR', `The backend answered ${res.status}`, { details: { status: res.status } });
  }

  /** Asks the backend whether the user may join the room. Only a 2xx answer allows. */
  /** @param app with APPS listed: the app of the socket, told to the backend beside its own names. */
  async authorize(userId: UserId, socketId: SocketId, room: Room, app?: string): Promise<boolean> {
    const res = await this.call('/authorize', app === undefined ? { userId, socketId, room } : { userId, socketId, room, app });
    return res.status >= 200 && res.status < 300;
  }

  private async call(path: '/events' | '/authorize', body: unknown): Promise<BackendResponse> {
    const { metrics, logger, timeoutMs } = this.deps;
    if (!this.backend) throw new AppError('NO_BACKEND', 'No backend is configured (BACKEND_URL)');
    if (!this.breaker.tryAcquire()) {
      metrics.markBackend('circuit_open');
      throw new AppError('BACKEND_UNAVAILABLE', 'The backend is unavailable (circuit open); try again later');
    }
    const started = performance.now();
    try {
      const res = await this.backend.post(path, body, timeoutMs);
      const seconds = (performance.now() - started) / 1000;
      // A 4xx is the backend answering, not failing: only 5xx counts against the circuit.
      if (res.status >= 500) {
        this.breaker.failure();
        metrics.markBackend('error', seconds);
      } else {
        this.breaker.success();
        metrics.markBackend(res.status < 300 ? 'ok' : 'error', seconds);
      }
      return res;
    } catch (err) {
      this.breaker.failure();
      const seconds = (performance.now() - started) / 1000;
      if (err instanceof BackendTimeoutError) {
        metrics.markBackend('timeout', seconds);
        throw new AppError('BACKEND_TIMEOUT', `The backend did not answer within ${timeoutMs} ms`);
      }
      metrics.markBackend('unavailable', seconds);
      logger.warn('backend request failed', { path, error: (err as Error).message });
      throw new AppError('BACKEND_UNAVAILABLE', 'The backend cannot be reached');
    }
  }
}
