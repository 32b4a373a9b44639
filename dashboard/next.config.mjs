// @ts-check
import { PHASE_DEVELOPMENT_SERVER } from 'next/constants.js';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// The dashboard has no node_modules of its own: next and react come from the repository root.
const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Production: a static export (dashboard/out) that every pushgate node serves at /dashboard, so
 * `npm start` needs no second process. Development (`npm run dev:dashboard`): `next dev` with hot
 * reload, and /api/* proxied to a running node so the session cookie stays same-origin.
 * @param {string} phase
 * @returns {import('next').NextConfig}
 */
export default function config(phase) {
  /** @type {import('next').NextConfig} */
  const base = {
    basePath: '/dashboard',
    trailingSlash: true,
    images: { unoptimized: true },
    reactStrictMode: true,
    poweredByHeader: false,
    turbopack: { root: repoRoot },
    outputFileTracingRoot: repoRoot,
  };
  if (phase !== PHASE_DEVELOPMENT_SERVER) return { ...base, output: 'export' };
  const target = (process.env.PUSHGATE_URL ?? 'http://127.0.0.1:3000').replace(/\/$/, '');
  return {
    ...base,
    // The API has no trailing slashes; without this, next dev would 308 every /api call first.
    skipTrailingSlashRedirect: true,
    async rewrites() {
      return [{ source: '/api/:path*', destination: `${target}/api/:path*`, basePath: false }];
    },
  };
}
