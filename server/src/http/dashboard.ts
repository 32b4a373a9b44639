import express, { Router } from 'express';
import helmet from 'helmet';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Serves the dashboard's static export (dashboard/out, made by `npm run build`). Mounted before the
 * global helmet(): Next's exported pages carry inline bootstrap scripts, which the default CSP
 * would block, so these pages get their own policy (still same-origin only).
 */
export function dashboardRoutes(outDir: string | null): Router {
  const r = Router();
  r.use(
    helmet({
      contentSecurityPolicy: {
        directives: {
          defaultSrc: ["'self'"],
          scriptSrc: ["'self'", "'unsafe-inline'"],
          styleSrc: ["'self'", "'unsafe-inline'"],
          imgSrc: ["'self'", 'data:'],
          connectSrc: ["'self'"],
          frameAncestors: ["'none'"],
          objectSrc: ["'none'"],
          baseUri: ["'self'"],
          // helmet adds upgrade-insecure-requests by default; over plain HTTP from any address but
          // localhost the browser then fetches every script and stylesheet over https, which the
          // node does not speak, and the dashboard never loads. TLS, where used, is in front.
          upgradeInsecureRequests: null,
        },
      },
    }),
  );
  if (outDir && existsSync(join(outDir, 'index.html'))) {
    r.use(express.static(outDir, { index: 'index.html', redirect: true, maxAge: '1h', setHeaders: noCacheHtml }));
    // Client-side routes that have no exported file fall back to the shell.
    r.use((_req, res) => res.status(404).sendFile(join(outDir, '404.html'), (err) => err && res.end()));
  } else {
    r.use((_req, res) => {
      res.status(503).type('html').send('<!doctype html><title>pushgate dashboard</title><p>The dashboard is not built. Run <code>npm run build</code> and restart.</p>');
    });
  }
  return r;
}

/** HTML must be revalidated so a new build shows at once; hashed assets may be cached. */
function noCacheHtml(res: express.Response, path: string): void {
  if (path.endsWith('.html')) res.setHeader('Cache-Control', 'no-cache');
}
