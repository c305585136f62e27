// Summarises a V8 .cpuprofile: self time by function (top N), and inclusive time by package.
// Usage: node bench/profile.mjs <file.cpuprofile> [top]
import { readFileSync } from 'node:fs';

const [file, topArg] = process.argv.slice(2);
const profile = JSON.parse(readFileSync(file, 'utf8'));
const top = Number(topArg ?? 25);
const byId = new Map(profile.nodes.map((node) => [node.id, node]));
const self = new Map();
const dt = profile.timeDeltas;
const counts = new Map();
profile.samples.forEach((id, index) => counts.set(id, (counts.get(id) ?? 0) + (dt[index] ?? 0)));
let total = 0;
for (const [id, time] of counts) {
  const node = byId.get(id);
  const { functionName, url, lineNumber } = node.callFrame;
  const where = url ? url.replace(/^.*node_modules\//, '').replace(/^.*\/dist\//, 'dist/').replace(/^file:\/\//, '') : '(native)';
  const key = `${functionName || '(anonymous)'} ${where}:${lineNumber + 1}`;
  self.set(key, (self.get(key) ?? 0) + time);
  total += time;
}
const idle = [...self].filter(([key]) => key.startsWith('(idle)') || key.startsWith('(program)') || key.startsWith('(garbage collector)'));
console.log(`total ${(total / 1000).toFixed(0)} ms; ${idle.map(([k, v]) => `${k.split(' ')[0]} ${((100 * v) / total).toFixed(1)}%`).join(', ')}`);
const busy = total - idle.filter(([k]) => k.startsWith('(idle)')).reduce((a, [, v]) => a + v, 0);
console.log(`busy ${(busy / 1000).toFixed(0)} ms; top self time (% of busy):`);
for (const [key, time] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) {
  if (key.startsWith('(idle)')) continue;
  console.log(`${((100 * time) / busy).toFixed(1).padStart(5)}%  ${key}`);
}

// Inclusive time per area: a sample counts for every area that has a frame on its stack.
const parent = new Map();
for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
const areaOf = (url) => {
  if (!url) return undefined;
  if (url.includes('/libs/jwt-defense/')) return 'jwt-defense (library)';
  const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  return match ? match[1] : undefined;
};
const inclusive = new Map();
for (const [id, time] of counts) {
  const areas = new Set();
  for (let at = id; at !== undefined; at = parent.get(at)) {
    const area = areaOf(byId.get(at).callFrame.url);
    if (area) areas.add(area);
  }
  for (const area of areas) inclusive.set(area, (inclusive.get(area) ?? 0) + time);
}
console.log('inclusive time by area (% of busy):');
for (const [area, time] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, 12)) console.log(`${((100 * time) / busy).toFixed(1).padStart(5)}%  ${area}`);
