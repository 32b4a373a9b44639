import type { Envelope } from '@contracts/api';

/** Must match `basePath` in next.config.mjs (full-page redirects bypass Next's router). */
export const BASE_PATH = '/dashboard';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface ApiOptions {
  method?: 'GET' | 'POST' | 'DELETE';
  body?: unknown;
  /** Sign-in handles its own 401 ("wrong key"); everywhere else 401 means the session ended. */
  allowUnauthorized?: boolean;
}

let redirecting = false;

/** Sends the browser to sign-in, remembering where it was. */
export function goToSignIn(): void {
  if (redirecting || typeof window === 'undefined') return;
  redirecting = true;
  const here = window.location.pathname + window.location.search;
  const next = here.startsWith(BASE_PATH) && !here.includes('/sign-in') ? `?next=${encodeURIComponent(here)}` : '';
  window.location.replace(`${BASE_PATH}/sign-in/${next}`);
}

/**
 * Calls the pushgate API with the session cookie and unwraps the `{ success, data, error, meta }`
 * envelope. Resolves with `data` and the server's clock (node heartbeats are compared against it,
 * not against the browser's clock).
 */
export async function apiCall<T>(path: string, opts: ApiOptions = {}): Promise<{ data: T; serverTime: number }> {
  let res: Response;
  try {
    res = await fetch(`/api/v1${path}`, {
      method: opts.method ?? 'GET',
      credentials: 'same-origin',
      cache: 'no-store',
      headers: opts.body === undefined ? { accept: 'application/json' } : { accept: 'application/json', 'content-type': 'application/json' },
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    });
  } catch {
    throw new ApiError(0, 'NETWORK', 'The server cannot be reached. Is the node running?');
  }
  let env: Envelope<T> | null = null;
  try {
    env = (await res.json()) as Envelope<T>;
  } catch {
    /* not JSON (a proxy error page, say): reported below by status */
  }
  if (res.status === 401 && !opts.allowUnauthorized) {
    goToSignIn();
    throw new ApiError(401, 'UNAUTHORIZED', 'Your session has ended; signing in again…');
  }
  if (!res.ok || !env?.success) {
    const retry = res.headers.get('retry-after');
    const message = env?.error?.message ?? `The server answered HTTP ${res.status}`;
    throw new ApiError(res.status, env?.error?.code ?? `HTTP_${res.status}`, retry && res.status === 429 ? `${message} (retry in ${retry} s)` : message);
  }
  const serverTime = Date.parse(env.meta?.timestamp ?? '') || Date.now();
  return { data: env.data as T, serverTime };
}

export async function api<T>(path: string, opts: ApiOptions = {}): Promise<T> {
  return (await apiCall<T>(path, opts)).data;
}

export const enc = encodeURIComponent;
