/** Fixed-window counters shared by every node (Redis) or local to one (memory). */
export interface RateLimitStore {
  /** Counts one hit on `key` in the current window. */
  hit(key: string, windowMs: number): Promise<{ count: number; resetAt: number }>;
  decrement(key: string): Promise<void>;
  reset(key: string): Promise<void>;
}
