export interface JwtClaims {
  sub?: string;
  /** Seconds since the epoch. */
  exp?: number;
}

/**
 * Reads a JWT's payload without verifying it (the server does that): the helper only needs `exp`
 * to schedule refreshes and `sub` to name the personal stream before the first `welcome`.
 */
export function readJwtClaims(token: string): JwtClaims {
  const part = token.split('.')[1];
  if (!part) return {};
  try {
    const b64 = part.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(part.length / 4) * 4, '=');
    const bin = atob(b64);
    const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
    const claims = JSON.parse(new TextDecoder().decode(bytes)) as unknown;
    if (!claims || typeof claims !== 'object') return {};
    const { sub, exp } = claims as Record<string, unknown>;
    return { sub: typeof sub === 'string' ? sub : undefined, exp: typeof exp === 'number' ? exp : undefined };
  } catch {
    return {};
  }
}
