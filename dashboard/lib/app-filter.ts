'use client';

import { createContext, useContext } from 'react';
import type { AppInfo } from './types';

/**
 * The app the console looks at, chosen in the shell and kept in the URL (`?app=<id>`), so a link
 * to any page shows the same app. null: all apps (the whole cluster).
 */
export interface AppFilter {
  /** What `/admin/apps` listed; empty when the server could not say. */
  apps: AppInfo[];
  /** More than one app: the selector shows, and pages say which app they show. */
  multi: boolean;
  /** The chosen app's id; null for "All apps" (and always null with a single app). */
  app: string | null;
  /** The app a request that names none acts on (user ids, rooms), when `multi`. */
  defaultApp: string | null;
  select(app: string | null): void;
}

export const AppFilterContext = createContext<AppFilter>({ apps: [], multi: false, app: null, defaultApp: null, select: () => {} });

export function useAppFilter(): AppFilter {
  return useContext(AppFilterContext);
}

/** `path` with `app=<id>` added to its query when an app is chosen (an API path or a page link). */
export function withApp(path: string, app: string | null | undefined): string {
  if (!app) return path;
  return `${path}${path.includes('?') ? '&' : '?'}app=${encodeURIComponent(app)}`;
}
