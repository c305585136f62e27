// Summarises a V8 .cpuprofile: self time by function (top N), inclusive time by package, and (with a filter) inclusive
// time of the functions whose name or file contains it. When the bench wrote requests.json beside the profile (`npm run
// bench -- --profile DIR`), times are in µs per request answered; otherwise in % of busy time.
// Usage: node bench/profile.mjs <file.cpuprofile> [top] [filter]
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

const [file, topArg, filter] = process.argv.slice(2);
const profile = JSON.parse(readFileSync(file, 'utf8'));
const top = Number(topArg ?? 25);
const countFile = join(dirname(file), 'requests.json');
const requests = existsSync(countFile) ? JSON.parse(readFileSync(countFile, 'utf8')).requests : undefined;
const byId = new Map(profile.nodes.map((node) => [node.id, node]));
const parent = new Map();
for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
const dt = profile.timeDeltas;
const counts = new Map();
profile.samples.forEach((id, index) => counts.set(id, (counts.get(id) ?? 0) + (dt[index] ?? 0)));
const keyOf = (node) => {
  const { functionName, url, lineNumber } = node.callFrame;
  const where = url ? url.replace(/^.*node_modules\//, '').replace(/^.*\/libs\/jwt-defense\/src\//, 'jwt-defense/').replace(/^.*\/dist\//, 'dist/').replace(/^file:\/\//, '') : '(native)';
  return `${functionName || '(anonymous)'} ${where}:${lineNumber + 1}`;
};
const self = new Map();
let total = 0;
for (const [id, time] of counts) {
  const key = keyOf(byId.get(id));
  self.set(key, (self.get(key) ?? 0) + time);
  total += time;
}
const idle = [...self].filter(([key]) => key.startsWith('(idle)') || key.startsWith('(program)') || key.startsWith('(garbage collector)'));
const busy = total - idle.filter(([k]) => k.startsWith('(idle)')).reduce((a, [, v]) => a + v, 0);
const unit = requests ? ' µs/request' : '% of busy';
const show = (time) => (requests ? (time / requests).toFixed(2) : ((100 * time) / busy).toFixed(1)).padStart(7);
console.log(`total ${(total / 1000).toFixed(0)} ms; ${idle.map(([k, v]) => `${k.split(' ')[0]} ${((100 * v) / total).toFixed(1)}%`).join(', ')}`);
console.log(`busy ${(busy / 1000).toFixed(0)} ms${requests ? ` for ${requests} requests` : ''}; top self time (${unit}):`);
for (const [key, time] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) {
  if (key.startsWith('(idle)')) continue;
  console.log(`${show(time)}  ${key}`);
}

// Inclusive time: a sample counts once for every area (or function) that has a frame on its stack.
const inclusiveBy = (labelOf) => {
  const inclusive = new Map();
  for (const [id, time] of counts) {
    const labels = new Set();
    for (let at = id; at !== undefined; at = parent.get(at)) {
      const label = labelOf(byId.get(at));
      if (label) labels.add(label);
    }
    for (const label of labels) inclusive.set(label, (inclusive.get(label) ?? 0) + time);
  }
  return [...inclusive].sort((a, b) => b[1] - a[1]);
};
const areaOf = (node) => {
  const url = node.callFrame.url;
  if (!url) return undefined;
  if (url.includes('/libs/jwt-defense/')) return 'jwt-defense (library)';
  const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  return match ? match[1] : undefined;
};
console.log(`inclusive time by area (${unit}):`);
for (const [area, time] of inclusiveBy(areaOf).slice(0, 12)) console.log(`${show(time)}  ${area}`);
if (filter) {
  console.log(`inclusive time of functions matching "${filter}" (${unit}):`);
  for (const [key, time] of inclusiveBy((node) => (keyOf(node).includes(filter) ? keyOf(node) : undefined)).slice(0, top)) console.log(`${show(time)}  ${key}`);
}
