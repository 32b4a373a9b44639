import Pusher from 'pusher';
import { verifyPusherSignature, type PusherCredentials } from '../../server/src/http/pusher-signature';

/*
 * Requests signed by the official `pusher` library (pusher-http-node), as a backend would send
 * them, checked by pushgate's verifier: accepted as signed, refused when anything signed changes.
 */

const APP: PusherCredentials = { id: '4242', key: 'app-key-1', secret: 'app-secret-1-0123456789abcdef' };
const OTHER: PusherCredentials = { id: '77', key: 'other-key', secret: 'other-secret' };
const apps = new Map([APP, OTHER].map((a) => [a.key, a]));
const byKey = (k: string) => apps.get(k);

const pusher = new Pusher({ appId: APP.id, key: APP.key, secret: APP.secret, cluster: 'mt1' });

/** A request exactly as the library would send it: its signed query string and body. */
function signed(method: string, path: string, body?: unknown, params?: Record<string, string>) {
  const raw = body === undefined ? undefined : JSON.stringify(body);
  const rawQuery = pusher.createSignedQueryString({ method, path, body: raw, params });
  return { method, path, rawQuery, body: raw };
}

const now = () => Date.now();

describe('Pusher request signatures', () => {
  it('accepts what the pusher library signs: a POST with a body, a GET with parameters', () => {
    const post = signed('POST', `/apps/${APP.id}/events`, { name: 'e', channel: 'c', data: '{"é":"✓"}' });
    expect(verifyPusherSignature(post, byKey, now())).toEqual({ ok: true, app: APP });
    const get = signed('GET', `/apps/${APP.id}/channels`, undefined, { filter_by_prefix: 'presence-', info: 'user_count,subscription_count' });
    expect(verifyPusherSignature(get, byKey, now())).toEqual({ ok: true, app: APP });
  });

  it('accepts the same parameters escaped in the URL but signed decoded', () => {
    const get = signed('GET', `/apps/${APP.id}/channels`, undefined, { info: 'user_count,subscription_count' });
    const escaped = { ...get, rawQuery: get.rawQuery.replace('user_count,subscription_count', 'user_count%2Csubscription_count') };
    expect(verifyPusherSignature(escaped, byKey, now()).ok).toBe(true);
  });

  it('refuses a changed body, path, method or parameter, and a signature from another secret', () => {
    const post = signed('POST', `/apps/${APP.id}/events`, { name: 'e', channel: 'c', data: 'x' });
    const cases = {
      body: { ...post, body: JSON.stringify({ name: 'e', channel: 'c', data: 'y' }) },
      path: { ...post, path: `/apps/${APP.id}/batch_events` },
      method: { ...post, method: 'PUT' },
      param: { ...post, rawQuery: `${post.rawQuery}&extra=1` },
      signature: { ...post, rawQuery: post.rawQuery.replace(/auth_signature=[0-9a-f]+/, `auth_signature=${'0'.repeat(64)}`) },
    };
    const verdicts = Object.fromEntries(Object.entries(cases).map(([k, r]) => [k, verifyPusherSignature(r, byKey, now())]));
    expect(verdicts).toEqual({
      body: { ok: false, status: 401, message: expect.stringMatching(/body_md5/) },
      path: { ok: false, status: 401, message: expect.stringMatching(/Invalid signature/) },
      method: { ok: false, status: 401, message: expect.stringMatching(/Invalid signature/) },
      param: { ok: false, status: 401, message: expect.stringMatching(/Invalid signature/) },
      signature: { ok: false, status: 401, message: expect.stringMatching(/Invalid signature/) },
    });
    const impostor = new Pusher({ appId: APP.id, key: APP.key, secret: 'wrong-secret', cluster: 'mt1' });
    const body = JSON.stringify({ name: 'e', channel: 'c', data: 'x' });
    const forged = { method: 'POST', path: `/apps/${APP.id}/events`, body, rawQuery: impostor.createSignedQueryString({ method: 'POST', path: `/apps/${APP.id}/events`, body }) };
    expect(verifyPusherSignature(forged, byKey, now())).toMatchObject({ ok: false, message: expect.stringMatching(/Invalid signature/) });
  });

  it('refuses a timestamp more than 600 s away from the server clock, either way, and accepts one just inside', () => {
    const post = signed('POST', `/apps/${APP.id}/events`, { name: 'e', channel: 'c', data: 'x' });
    const t = Number(/auth_timestamp=(\d+)/.exec(post.rawQuery)![1]) * 1000;
    expect(verifyPusherSignature(post, byKey, t + 599_000).ok).toBe(true);
    expect(verifyPusherSignature(post, byKey, t + 601_000)).toMatchObject({ ok: false, message: expect.stringMatching(/Timestamp expired/) });
    expect(verifyPusherSignature(post, byKey, t - 601_000)).toMatchObject({ ok: false, message: expect.stringMatching(/Timestamp expired/) });
  });

  it('refuses an unknown key, a missing or repeated auth parameter, another auth_version, and a body without body_md5', () => {
    const post = signed('POST', `/apps/${APP.id}/events`, { name: 'e', channel: 'c', data: 'x' });
    const verdict = (rawQuery: string, body = post.body) => verifyPusherSignature({ ...post, rawQuery, body }, byKey, now());
    expect(verdict(post.rawQuery.replace(`auth_key=${APP.key}`, 'auth_key=nobody'))).toMatchObject({ ok: false, message: 'Unknown auth_key' });
    expect(verdict(post.rawQuery.replace(/&?auth_timestamp=\d+/, ''))).toMatchObject({ ok: false, message: 'Missing or repeated auth_timestamp' });
    expect(verdict(`${post.rawQuery}&auth_key=${APP.key}`)).toMatchObject({ ok: false, message: 'Missing or repeated auth_key' });
    expect(verdict(post.rawQuery.replace('auth_version=1.0', 'auth_version=2.0'))).toMatchObject({ ok: false, message: expect.stringMatching(/auth_version/) });
    expect(verdict(post.rawQuery.replace(/body_md5=[0-9a-f]+&?/, ''))).toMatchObject({ ok: false, message: expect.stringMatching(/body_md5/) });
  });

  it('checks each app with its own secret: a request signed for one app is not another’s', () => {
    const post = signed('POST', `/apps/${APP.id}/events`, { name: 'e', channel: 'c', data: 'x' });
    const asOther = { ...post, rawQuery: post.rawQuery.replace(`auth_key=${APP.key}`, `auth_key=${OTHER.key}`) };
    expect(verifyPusherSignature(asOther, byKey, now())).toMatchObject({ ok: false, message: expect.stringMatching(/Invalid signature/) });
  });
});
