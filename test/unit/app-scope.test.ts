import jwt from 'jsonwebtoken';
import { AppDirectory } from '../../server/src/config/app-directory';
import { loadConfig } from '../../server/src/config/config';
import { appOfName, AppScope, externalName } from '../../server/src/contracts/app-scope';
import { userRoom } from '../../server/src/contracts/socket-events';
import { TokenVerifier } from '../../server/src/realtime/token-verifier';

describe('AppScope', () => {
  const plain = new AppScope('shop', true);
  const games = new AppScope('games', false);

  it('leaves the default app’s names as they are and qualifies every other app’s', () => {
    expect(plain.name('lobby')).toBe('lobby');
    expect(plain.stream('user:alice')).toBe('user:alice');
    expect(games.name('lobby')).not.toBe('lobby');
    expect(games.name('lobby')).not.toBe(new AppScope('game', false).name('slobby'));
    // A personal stream keeps `user:` in front, so it is the personal room of the qualified user.
    expect(games.stream('user:alice')).toBe(userRoom(games.name('alice')));
  });

  it('turns every qualified name back into the app’s own, and says whose it is', () => {
    for (const name of ['lobby', 'user:alice', 'a:b:c', 'user:']) {
      expect(externalName(games.stream(name))).toBe(name);
      expect(externalName(plain.stream(name))).toBe(name);
      expect(appOfName(games.stream(name))).toBe('games');
      expect(appOfName(plain.stream(name))).toBeNull();
      expect(games.owns(games.name(name))).toBe(true);
      expect(games.owns(plain.name(name))).toBe(false);
      expect(plain.owns(games.name(name))).toBe(false);
    }
  });

  it('lists an app’s rooms in a prefix range no other app’s names fall into', () => {
    const names = ['lobby', 'zzz', games.name('lobby'), new AppScope('gamesx', false).name('lobby')];
    expect(names.filter((n) => n.startsWith(games.roomPrefix('lob')))).toEqual([games.name('lobby')]);
    expect(names.filter((n) => n.startsWith(plain.roomPrefix('')) && appOfName(n) === null)).toEqual(['lobby', 'zzz']);
  });
});

describe('TokenVerifier with apps', () => {
  const node = 'node-wide-secret-0123456789abcdef01';
  const config = loadConfig({ JWT_SECRETS: `k1:${node}`, APPS: 'shop:shop-key:shop-secret-0123456789abcdef,games:games-key:games-secret-0123456789abcde' });
  const v = new TokenVerifier(config.jwt, new AppDirectory(config.apps));
  const hs = (secret: string, claims: object, opts: jwt.SignOptions = {}) => jwt.sign(claims, secret, { algorithm: 'HS256', ...opts });
  const verdict = (token: string) => {
    try {
      const t = v.verify(token);
      return `${t.app?.id}:${t.userId}`;
    } catch (e) {
      return (e as { code?: string }).code;
    }
  };

  it('verifies a token with the secret of the app it names, or with the node-wide keys', () => {
    expect(verdict(hs('games-secret-0123456789abcde', { sub: 'a', app: 'games' }))).toBe('games:a');
    expect(verdict(hs('shop-secret-0123456789abcdef', { sub: 'a' }))).toBe('shop:a');
    expect(verdict(hs(node, { sub: 'a', app: 'games' }, { keyid: 'k1' }))).toBe('games:a');
    expect(verdict(hs(node, { sub: 'a' }, { keyid: 'k1' }))).toBe('shop:a');
  });

  it('refuses another app’s secret, unknown apps, non-string claims and unknown kids', () => {
    expect(verdict(hs('shop-secret-0123456789abcdef', { sub: 'a', app: 'games' }))).toBe('UNAUTHORIZED');
    expect(verdict(hs('games-secret-0123456789abcde', { sub: 'a' }))).toBe('UNAUTHORIZED');
    expect(verdict(hs('games-secret-0123456789abcde', { sub: 'a', app: 'nope' }))).toBe('UNAUTHORIZED');
    expect(verdict(hs('games-secret-0123456789abcde', { sub: 'a', app: ['games'] }))).toBe('UNAUTHORIZED');
    expect(verdict(hs('games-secret-0123456789abcde', { sub: 'a', app: 'games' }, { keyid: 'k9' }))).toBe('games:a');
    expect(verdict(hs('wrong-secret-0123456789abcdef01', { sub: 'a', app: 'games' }, { keyid: 'k9' }))).toBe('UNAUTHORIZED');
    expect(verdict(hs('games-secret-0123456789abcde', { sub: 'a', app: 'games', exp: Math.floor(Date.now() / 1000) - 5 }))).toBe('TOKEN_EXPIRED');
  });

  it('reads the claimed app without verifying, for rate limits', () => {
    expect(v.claimedApp(hs('anything', { sub: 'a', app: 'games' })).scope.id).toBe('games');
    expect(v.claimedApp('not a token').scope.id).toBe('shop');
    expect(v.claimedApp(undefined).scope.id).toBe('shop');
  });
});
