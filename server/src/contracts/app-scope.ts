/**
 * Tenancy by name. Every name one application uses (user ids, room names, socket ids as presence
 * knows them, message ids, rate-limit keys) is qualified with the app before it reaches anything
 * shared (Socket.IO's rooms, the presence store, history, the push bus, idempotency records,
 * counters). The same user id or room name in two apps is then two different names everywhere
 * below the edge, so they can never meet, whichever store or node handles them.
 *
 * The qualified form is `\u001e<app>\u001f<name>` (a personal stream: `user:\u001e<app>\u001f<id>`).
 * Names from clients and backends may not hold control characters (contract section 2), so a
 * qualified name can neither be forged from outside nor collide with a plain one.
 *
 * The default app (the first one listed in APPS, or the one implicit app without APPS) keeps its
 * names plain: a node without APPS stores exactly what it stored before apps existed, and listing
 * apps on a running deployment keeps the data its first app had.
 */

export type AppId = string;

const MARK = '\u001e';
const SEP = '\u001f';
const MARK_CODE = 0x1e;
const PERSONAL = 'user:';

/** App ids: short, URL-safe, and never holding the separators. */
export const APP_ID = /^[A-Za-z0-9_-]{1,64}$/;

export class AppScope {
  /** Prepended to every name of this app ('' for the default app). */
  private readonly tag: string;

  /**
   * @param implicit the one app of a node without APPS: backends are not told about apps then.
   */
  constructor(
    readonly id: AppId,
    readonly isDefault: boolean,
    readonly implicit = false,
  ) {
    this.tag = isDefault ? '' : `${MARK}${id}${SEP}`;
  }

  /** A client's or backend's name (user id, room, socket id, message id, rate-limit key) → the shared form. */
  name(external: string): string {
    return this.tag + external;
  }

  /** A stream as the app names it (a room, or `user:<id>`) → the shared form (`user:` stays in front). */
  stream(external: string): string {
    if (!this.tag || !external.startsWith(PERSONAL)) return this.tag + external;
    return PERSONAL + this.tag + external.slice(PERSONAL.length);
  }

  names(external: readonly string[]): string[] {
    return this.tag ? external.map((n) => this.tag + n) : [...external];
  }

  /** Whether a qualified name belongs to this app. */
  owns(internal: string): boolean {
    return appOfName(internal) === (this.isDefault ? null : this.id);
  }

  /**
   * The qualified prefix of this app's room names that start with `prefix`: a listing reads this
   * range and nothing of another app's (the default app's range excludes every qualified name,
   * which all sort before the first printable character).
   */
  roomPrefix(prefix: string): string {
    return this.tag + prefix;
  }
}

/** The app a qualified name belongs to; null for the default app's plain names. */
export function appOfName(internal: string): AppId | null {
  if (internal.charCodeAt(0) === MARK_CODE) return internal.slice(1, internal.indexOf(SEP));
  if (internal.startsWith(PERSONAL) && internal.charCodeAt(PERSONAL.length) === MARK_CODE) return internal.slice(PERSONAL.length + 1, internal.indexOf(SEP));
  return null;
}

/** A qualified name as its own app knows it (user id, room, stream, socket id or message id). */
export function externalName(internal: string): string {
  if (internal.charCodeAt(0) === MARK_CODE) return internal.slice(internal.indexOf(SEP) + 1);
  if (internal.startsWith(PERSONAL) && internal.charCodeAt(PERSONAL.length) === MARK_CODE) return PERSONAL + internal.slice(internal.indexOf(SEP) + 1);
  return internal;
}

/** Whether a name is a qualified (non-default app) one: plain names never start with a control character. */
export function isQualified(internal: string): boolean {
  return appOfName(internal) !== null;
}
