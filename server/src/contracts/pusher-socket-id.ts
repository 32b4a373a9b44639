/**
 * Pusher's server libraries accept only socket ids of the form `<digits>.<digits>` (pusher-js
 * gives its clients such ids), so a Socket.IO socket id (20 characters of base64url: 120 random
 * bits) is also written as two decimal numbers of 60 bits each. The mapping is reversible and
 * needs no lookup: any node turns a Pusher-form `socket_id` back into the socket it names.
 */

const HALF_BITS = 60n;
const HALF_MASK = (1n << HALF_BITS) - 1n;

/** The Pusher form of a Socket.IO socket id, or null for an id that is not 20 characters of base64url. */
export function toPusherSocketId(socketId: string): string | null {
  if (!/^[A-Za-z0-9_-]{20}$/.test(socketId)) return null;
  const n = BigInt(`0x${Buffer.from(socketId, 'base64url').toString('hex')}`);
  return `${n >> HALF_BITS}.${n & HALF_MASK}`;
}

/** The Socket.IO socket id a Pusher-form id stands for, or null when it is not one. */
export function fromPusherSocketId(pusherId: string): string | null {
  const m = /^(\d{1,19})\.(\d{1,19})$/.exec(pusherId);
  if (!m) return null;
  const high = BigInt(m[1]!);
  const low = BigInt(m[2]!);
  if (high > HALF_MASK || low > HALF_MASK) return null;
  const hex = ((high << HALF_BITS) | low).toString(16).padStart(30, '0');
  return Buffer.from(hex, 'hex').toString('base64url');
}
