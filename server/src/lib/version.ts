import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The folder of pushgate's package.json, found by walking up (the same from src/ under tests and from dist/). */
export function projectRoot(from: string = __dirname): string | null {
  let dir = from;
  for (let i = 0; i < 6; i++) {
    const file = join(dir, 'package.json');
    if (existsSync(file) && (JSON.parse(readFileSync(file, 'utf8')) as { name?: string }).name === 'pushgate') return dir;
    dir = dirname(dir);
  }
  return null;
}

export function readVersion(): string {
  const root = projectRoot();
  if (!root) return '0.0.0';
  return (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version?: string }).version ?? '0.0.0';
}
