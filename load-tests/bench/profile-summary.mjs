#!/usr/bin/env node
/*
 * Summarises a V8 .cpuprofile (node --cpu-prof): self time by function and by package, so hot
 * spots can be named with figures.
 *   node load-tests/bench/profile-summary.mjs <file.cpuprofile> [--top 25] [--filter text]
 */
import { readFileSync } from 'node:fs';

const args = process.argv.slice(2);
const file = args.find((a) => !a.startsWith('--'));
if (!file) {
  process.stderr.write('usage: profile-summary.mjs <file.cpuprofile> [--top N]\n');
  process.exit(2);
}
const top = Number(args[args.indexOf('--top') + 1]) || 25;
const profile = JSON.parse(readFileSync(file, 'utf8'));

// Sample counts → self time per node (timeDeltas give the real interval of each sample).
const selfUs = new Map();
for (let i = 0; i < profile.samples.length; i++) selfUs.set(profile.samples[i], (selfUs.get(profile.samples[i]) ?? 0) + (profile.timeDeltas[i] ?? 0));
const total = [...selfUs.values()].reduce((a, b) => a + b, 0);

const pkgOf = (url) => {
  if (!url) return '(native/V8)';
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (m) return m[1];
  if (url.startsWith('node:')) return 'node core';
  const s = /\/(server\/src\/[^/]+)/.exec(url);
  if (s) return `pushgate ${s[1].replace('server/src/', '')}/`;
  return url.split('/').slice(-2).join('/');
};

const byFn = new Map();
const byPkg = new Map();
for (const n of profile.nodes) {
  const us = selfUs.get(n.id) ?? 0;
  if (!us) continue;
  const cf = n.callFrame;
  const loc = cf.url ? `${cf.url.replace(/^.*node_modules\//, '').replace(/^.*\/(server\/src\/)/, '$1').replace(/^file:\/\//, '')}:${cf.lineNumber + 1}` : '';
  const key = `${cf.functionName || '(anonymous)'} ${loc}`.trim();
  byFn.set(key, (byFn.get(key) ?? 0) + us);
  const p = pkgOf(cf.url);
  byPkg.set(p, (byPkg.get(p) ?? 0) + us);
}
// Inclusive time: each sample counts once for every distinct function (and package) on its stack.
const parent = new Map();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const nodeById = new Map(profile.nodes.map((n) => [n.id, n]));
const keyOf = (n) => {
  const cf = n.callFrame;
  const loc = cf.url ? `${cf.url.replace(/^.*node_modules\//, '').replace(/^.*\/(server\/src\/)/, '$1').replace(/^file:\/\//, '')}:${cf.lineNumber + 1}` : '';
  return `${cf.functionName || '(anonymous)'} ${loc}`.trim();
};
const inclFn = new Map();
const inclPkg = new Map();
let busy = 0;
for (let i = 0; i < profile.samples.length; i++) {
  const us = profile.timeDeltas[i] ?? 0;
  let id = profile.samples[i];
  if (nodeById.get(id)?.callFrame.functionName === '(idle)') continue;
  busy += us;
  const fns = new Set();
  const pkgs = new Set();
  while (id !== undefined) {
    const n = nodeById.get(id);
    if (n.callFrame.url) {
      fns.add(keyOf(n));
      pkgs.add(pkgOf(n.callFrame.url));
    }
    id = parent.get(id);
  }
  for (const k of fns) inclFn.set(k, (inclFn.get(k) ?? 0) + us);
  for (const k of pkgs) inclPkg.set(k, (inclPkg.get(k) ?? 0) + us);
}

const pct = (us) => `${((us / total) * 100).toFixed(1)}%`.padStart(6);
const ms = (us) => `${(us / 1000).toFixed(0)} ms`.padStart(9);
process.stdout.write(`${file}\ntotal sampled: ${(total / 1000).toFixed(0)} ms\n\nself time by package:\n`);
for (const [k, v] of [...byPkg].sort((a, b) => b[1] - a[1]).slice(0, 20)) process.stdout.write(`${pct(v)} ${ms(v)}  ${k}\n`);
process.stdout.write(`\nbusy (not idle): ${(busy / 1000).toFixed(0)} ms\n\ninclusive time by package (share of busy time):\n`);
const pctB = (us) => `${((us / busy) * 100).toFixed(1)}%`.padStart(6);
for (const [k, v] of [...inclPkg].sort((a, b) => b[1] - a[1]).slice(0, 20)) process.stdout.write(`${pctB(v)} ${ms(v)}  ${k}\n`);
const filter = args.includes('--filter') ? args[args.indexOf('--filter') + 1] : null;
process.stdout.write(`\ninclusive time by function${filter ? ` matching "${filter}"` : ''} (share of busy time):\n`);
for (const [k, v] of [...inclFn].filter(([k]) => !filter || k.includes(filter)).sort((a, b) => b[1] - a[1]).slice(0, top)) process.stdout.write(`${pctB(v)} ${ms(v)}  ${k}\n`);
process.stdout.write('\nself time by function:\n');
for (const [k, v] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, top)) process.stdout.write(`${pct(v)} ${ms(v)}  ${k}\n`);
