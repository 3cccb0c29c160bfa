// Fails the build when the initial load (the JS and CSS index.html references) exceeds 150 KB gzipped.
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const LIMIT = 150 * 1024;
const dist = process.env.CONSOLE_DIST ?? join(dirname(fileURLToPath(import.meta.url)), '../../internal/console/site');
const html = readFileSync(join(dist, 'index.html'), 'utf8');
const refs = [...html.matchAll(/(?:src|href)="\/console\/([^"]+\.(?:js|css))"/g)].map((m) => m[1]);
if (refs.length === 0) {
  console.error(`size: index.html in ${dist} references no JS or CSS`);
  process.exit(1);
}
let total = 0;
for (const r of refs) {
  const gz = gzipSync(readFileSync(join(dist, r)), { level: 9 }).length;
  total += gz;
  console.log(`size: ${r} ${(gz / 1024).toFixed(1)} KB gzipped`);
}
console.log(`size: initial load ${(total / 1024).toFixed(1)} KB gzipped (limit ${LIMIT / 1024} KB)`);
if (total > LIMIT) {
  console.error('size: over the limit');
  process.exit(1);
}
