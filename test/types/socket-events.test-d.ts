/**
 * Type tests: compiled by `npm run typecheck` (part of `npm test`), never executed. Each
 * `@ts-expect-error` fails the build if the line below it stops being an error.
 */
import type { Socket as ClientSocket } from 'socket.io-client';
import type { AckResponse, ClientToServerEvents, PushMeta, ServerToClientEvents } from '../../server/src/contracts/socket-events';
import type { PushBody } from '../../server/src/contracts/api';
import type { ErrorCode } from '../../server/src/contracts/error-codes';

declare const client: ClientSocket<ServerToClientEvents, ClientToServerEvents>;

// The built-in events are typed end to end.
client.emit('room:join', { room: 'chat:1' }, (res: AckResponse<{ room: string }>) => {
  if (res.ok) res.data?.room.toUpperCase();
  else res.error.code satisfies ErrorCode;
});
// @ts-expect-error room must be a string
client.emit('room:join', { room: 42 }, () => undefined);
// @ts-expect-error auth:refresh needs a token
client.emit('auth:refresh', {}, () => undefined);

client.on('welcome', (w) => {
  w.socketId satisfies string;
  w.serverTime satisfies number;
  // @ts-expect-error welcome has no such field
  void w.nope;
});

// Pushed events go through the documented escape hatch: any name, (data, meta).
client.on('order:shipped', (data: unknown, meta: PushMeta) => {
  meta.id satisfies string;
  meta.ts satisfies number;
  void data;
});

// @ts-expect-error a push needs an event
const noEvent: PushBody = { users: ['a'], data: 1 };
void noEvent;
const ok: PushBody = { users: ['a'], event: 'x', data: { any: 'thing' } };
void ok;

// @ts-expect-error not a contract error code
const badCode: ErrorCode = 'TEAPOT';
void badCode;
