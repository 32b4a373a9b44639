import { HandshakeBudget } from '../../server/src/realtime/handshake-budget';

describe('HandshakeBudget (RATE_LIMIT_NODE_HANDSHAKES)', () => {
  it('admits a tenth of a second’s worth at once, then refills at the rate, never beyond that burst', () => {
    let t = 0;
    const b = new HandshakeBudget(40, () => t);
    expect([b.take(), b.take(), b.take(), b.take(), b.take()]).toEqual([true, true, true, true, false]);
    t += 25; // 40 per second: one more every 25 ms
    expect([b.take(), b.take()]).toEqual([true, false]);
    t += 10_000; // a long quiet spell refills the burst, not ten seconds' worth
    expect(Array.from({ length: 5 }, () => b.take())).toEqual([true, true, true, true, false]);
  });

  it('a rate below 10 per second still admits one at a time', () => {
    let t = 0;
    const b = new HandshakeBudget(2, () => t);
    expect([b.take(), b.take()]).toEqual([true, false]);
    t += 500;
    expect([b.take(), b.take()]).toEqual([true, false]);
  });

  it('0 admits everything', () => {
    const b = new HandshakeBudget(0, () => 0);
    expect(Array.from({ length: 1000 }, () => b.take()).every(Boolean)).toBe(true);
  });
});
