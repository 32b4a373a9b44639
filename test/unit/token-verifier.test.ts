import { createSecretKey, generateKeyPairSync } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { loadConfig } from '../../server/src/config/config';
import { roomAllowed, signToken, TokenVerifier } from '../../server/src/realtime/token-verifier';

const hs = (secret: string, claims: object, opts: jwt.SignOptions = {}) => jwt.sign(claims, secret, { algorithm: 'HS256', ...opts });
const codeOf = (fn: () => unknown) => {
  try {
    fn();
    return 'accepted';
  } catch (e) {
    return (e as { code?: string }).code;
  }
};

describe('TokenVerifier', () => {
  const secret = 'unit-test-secret-0123456789abcdef';
  const v = new TokenVerifier(loadConfig({ JWT_SECRET: secret }).jwt);

  it('accepts a valid HS256 token and reads sub, rooms and exp', () => {
    const t = v.verify(hs(secret, { sub: 'alice', rooms: ['chat:*'] }, { expiresIn: 60 }));
    expect(t.userId).toBe('alice');
    expect(t.roomPatterns).toEqual(['chat:*']);
    expect(t.expiresAt).toBeGreaterThan(Date.now());
  });

  it('refuses an expired token with TOKEN_EXPIRED', () => {
    expect(codeOf(() => v.verify(hs(secret, { sub: 'a', exp: Math.floor(Date.now() / 1000) - 10 })))).toBe('TOKEN_EXPIRED');
  });

  it.each([
    ['alg none', jwt.sign({ sub: 'a' }, '', { algorithm: 'none' })],
    ['wrong secret', hs('another-secret-0123456789abcdef', { sub: 'a' })],
    ['no sub', hs(secret, {})],
    ['empty sub', hs(secret, { sub: '' })],
    ['sub with whitespace', hs(secret, { sub: 'a b' })],
    ['rooms not a list', hs(secret, { sub: 'a', rooms: 'chat:*' })],
    ['garbage', 'not.a.token'],
    ['empty', ''],
    ['not a string', 42],
    ['huge', 'x'.repeat(10000)],
  ])('refuses %s with UNAUTHORIZED', (_name, token) => {
    expect(codeOf(() => v.verify(token))).toBe('UNAUTHORIZED');
  });

  it('refuses an RS256 token whose public key is used as an HS256 secret (algorithm confusion)', () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const rs = new TokenVerifier(loadConfig({ JWT_PUBLIC_KEY: pem }).jwt);
    expect(rs.verify(jwt.sign({ sub: 'a' }, privateKey, { algorithm: 'RS256' })).userId).toBe('a');
    const forged = jwt.sign({ sub: 'a' }, createSecretKey(Buffer.from(pem)), { algorithm: 'HS256' });
    expect(codeOf(() => rs.verify(forged))).toBe('UNAUTHORIZED');
  });

  it('with JWT_SECRETS, verifies by kid, refuses a foreign kid, and signs with the first key', () => {
    const cfg = loadConfig({ JWT_SECRETS: 'new:secret-new-0123456789abcdef,old:secret-old-0123456789abcdef' }).jwt;
    const rot = new TokenVerifier(cfg);
    expect(rot.verify(hs('secret-old-0123456789abcdef', { sub: 'a' }, { keyid: 'old' })).userId).toBe('a');
    expect(codeOf(() => rot.verify(hs('secret-old-0123456789abcdef', { sub: 'a' }, { keyid: 'new' })))).toBe('UNAUTHORIZED');
    expect(codeOf(() => rot.verify(hs('secret-old-0123456789abcdef', { sub: 'a' }, { keyid: 'elsewhere' })))).toBe('UNAUTHORIZED');
    const signed = signToken(cfg, { sub: 'b' });
    expect(jwt.decode(signed, { complete: true })?.header.kid).toBe('new');
    expect(rot.verify(signed).userId).toBe('b');
  });

  it('checks issuer and audience when configured', () => {
    const strict = new TokenVerifier(loadConfig({ JWT_SECRET: secret, JWT_ISSUER: 'auth.example', JWT_AUDIENCE: 'pushgate' }).jwt);
    expect(strict.verify(hs(secret, { sub: 'a' }, { issuer: 'auth.example', audience: 'pushgate' })).userId).toBe('a');
    expect(codeOf(() => strict.verify(hs(secret, { sub: 'a' }, { issuer: 'evil', audience: 'pushgate' })))).toBe('UNAUTHORIZED');
    expect(codeOf(() => strict.verify(hs(secret, { sub: 'a' })))).toBe('UNAUTHORIZED');
  });
});

describe('roomAllowed', () => {
  it('matches exact names and prefix:* patterns only', () => {
    expect(roomAllowed(['chat:*'], 'chat:42')).toBe(true);
    expect(roomAllowed(['chat:*'], 'chatroom')).toBe(false);
    expect(roomAllowed(['news'], 'news')).toBe(true);
    expect(roomAllowed(['news'], 'news:1')).toBe(false);
    expect(roomAllowed([], 'x')).toBe(false);
  });
});
