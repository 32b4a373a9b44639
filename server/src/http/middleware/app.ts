import type { RequestHandler } from 'express';
import type { AppDirectory } from '../../config/app-directory';
import { AppError } from '../../lib/errors';

/** The header (or `?app=`) by which an /api/v1 request names its app. */
export const APP_HEADER = 'x-pushgate-app';

/**
 * Which app an /api/v1 request acts on: the app it names (`X-Pushgate-App` or `?app=`), else the
 * app its key is limited to (`app=<id>` in API_KEYS), else the default app. Never refuses: the
 * rate limit that comes next counts per app, and requireApp refuses after authentication, so an
 * unknown app is not told apart from a bad key.
 */
export function pickApp(apps: AppDirectory): RequestHandler {
  return (req, _res, next) => {
    const header = req.headers[APP_HEADER] as string | undefined;
    // Express parses the query string anew on every read of req.query: only when there is one.
    const query = req.url.includes('?') && typeof req.query.app === 'string' ? req.query.app : undefined;
    if (header !== undefined && query !== undefined && header !== query) {
      req.appProblem = new AppError('BAD_REQUEST', 'X-Pushgate-App and ?app= name different apps', { details: [{ field: 'app', message: 'conflicting' }] });
      return next();
    }
    const named = header ?? query;
    const limitedTo = req.apiKey?.app ?? null;
    if (named === undefined) {
      req.pgApp = limitedTo === null ? apps.default : apps.get(limitedTo);
      req.appNamed = limitedTo !== null;
      return next();
    }
    const app = apps.get(named);
    req.appNamed = true;
    if (!app) req.appProblem = new AppError('NOT_FOUND', `No app ${named.slice(0, 64)}`, { details: [{ field: 'app', message: 'unknown app' }] });
    else if (limitedTo !== null && limitedTo !== named) req.appProblem = new AppError('FORBIDDEN', `This API key is limited to app ${limitedTo}`);
    else req.pgApp = app;
    next();
  };
}

/** Refuses what pickApp found wrong, and apps that are disabled. */
export const requireApp: RequestHandler = (req, _res, next) => {
  if (req.appProblem) return next(req.appProblem);
  if (req.pgApp && !req.pgApp.enabled) return next(new AppError('FORBIDDEN', `The app ${req.pgApp.id} is disabled`));
  next();
};
