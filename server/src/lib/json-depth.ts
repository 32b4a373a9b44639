/**
 * Whether a parsed JSON value (or Socket.IO arguments) nests arrays and objects deeper than `max`.
 * Iterative on purpose: the point is to refuse payloads deep enough to overflow the recursive
 * encoders further on (JSON.stringify, msgpack, Socket.IO's binary scan), so this check must not
 * recurse itself. Binary attachments are leaves.
 */
export function nestsDeeperThan(value: unknown, max: number): boolean {
  const stack: unknown[] = [value];
  const depths: number[] = [0];
  while (stack.length > 0) {
    const v = stack.pop();
    const d = depths.pop()!;
    if (v === null || typeof v !== 'object' || ArrayBuffer.isView(v) || v instanceof ArrayBuffer) continue;
    if (d >= max) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) {
      stack.push(child);
      depths.push(d + 1);
    }
  }
  return false;
}
