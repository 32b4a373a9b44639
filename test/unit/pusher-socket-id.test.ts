import { randomBytes } from 'node:crypto';
import { fromPusherSocketId, toPusherSocketId } from '../../server/src/contracts/pusher-socket-id';

describe('Pusher-form socket ids', () => {
  it('map every 20-character base64url socket id to <digits>.<digits> and back', () => {
    const ids = ['AAAAAAAAAAAAAAAAAAAA', '____________________', '--------------------', ...Array.from({ length: 200 }, () => randomBytes(15).toString('base64url'))];
    for (const id of ids) {
      const p = toPusherSocketId(id)!;
      expect(p).toMatch(/^\d+\.\d+$/);
      expect(fromPusherSocketId(p)).toBe(id);
    }
  });

  it('refuse what is not one: other socket id shapes, numbers out of range, malformed strings', () => {
    expect(toPusherSocketId('short')).toBeNull();
    expect(toPusherSocketId('nsp#AAAAAAAAAAAAAAAAAAAA')).toBeNull();
    expect(fromPusherSocketId('1152921504606846976.0')).toBeNull(); // 2^60: more than 60 bits
    expect(fromPusherSocketId('123')).toBeNull();
    expect(fromPusherSocketId('1.2.3')).toBeNull();
    expect(fromPusherSocketId('AAAAAAAAAAAAAAAAAAAA')).toBeNull();
  });
});
