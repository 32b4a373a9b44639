import { join } from 'node:path';

export const ROOT = join(__dirname, '..', '..');

const { ensureServer } = require('../../scripts/build-server') as { ensureServer: (opts?: { quiet?: boolean }) => void };

/**
 * Compiles the server when dist/ is missing or older than its sources (the same check as
 * `npm start`): tests that run what production runs must not test a stale build.
 */
export function ensureServerBuilt(): void {
  ensureServer({ quiet: true });
}
