import { CircuitBreaker } from '../../server/src/routing/circuit-breaker';
import { EventRateLimiter } from '../../server/src/realtime/event-rate-limiter';

const fakeClock = () => {
  let t = 1_000_000;
  return { now: () => t, advance: (ms: number) => (t += ms) };
};

describe('CircuitBreaker', () => {
  it('opens after the threshold of consecutive failures and refuses at once', () => {
    const clock = fakeClock();
    const b = new CircuitBreaker(clock, { failureThreshold: 3, openMs: 1000 });
    for (let i = 0; i < 2; i++) {
      expect(b.tryAcquire()).toBe(true);
      b.failure();
    }
    expect(b.state).toBe('closed');
    b.tryAcquire();
    b.failure();
    expect(b.state).toBe('open');
    expect(b.tryAcquire()).toBe(false);
  });

  it('a success resets the failure count', () => {
    const b = new CircuitBreaker(fakeClock(), { failureThreshold: 2 });
    b.failure();
    b.success();
    b.failure();
    expect(b.state).toBe('closed');
  });

  it('half-opens after openMs with exactly one trial; success closes, failure reopens', () => {
    const clock = fakeClock();
    const b = new CircuitBreaker(clock, { failureThreshold: 1, openMs: 1000 });
    b.failure();
    clock.advance(1000);
    expect(b.state).toBe('half-open');
    expect(b.tryAcquire()).toBe(true);
    expect(b.tryAcquire()).toBe(false);
    b.failure();
    expect(b.state).toBe('open');
    clock.advance(1000);
    expect(b.tryAcquire()).toBe(true);
    b.success();
    expect(b.state).toBe('closed');
    expect(b.tryAcquire()).toBe(true);
  });
});

describe('EventRateLimiter', () => {
  it('allows N events per one-second window; 0 disables it', () => {
    const l = new EventRateLimiter(3);
    expect([1, 2, 3, 4].map(() => l.allow(5000))).toEqual([true, true, true, false]);
    expect(l.allow(6000)).toBe(true);
    const off = new EventRateLimiter(0);
    expect(Array.from({ length: 100 }, () => off.allow(0)).every(Boolean)).toBe(true);
  });
});
