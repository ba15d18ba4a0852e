// The fuzzer's command line: npm run fuzz -- --target frame --runs 10000000 [--seed N] [--minutes M] [--save]
// Runs one target (or --target all, one after the other) and prints its figures: inputs, execs/s, corpus, blocks
// reached, crashes (minimised and saved to test/fuzz/fixtures/<target>/ with --save), hangs, memory at start and end.
import { join } from 'node:path';
import { Fuzzer } from './engine.ts';
import { TARGETS } from './targets.ts';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1]! : dflt;
}

const which = arg('target', 'all');
const runs = Number(arg('runs', '100000'));
const seed = Number(arg('seed', String(Date.now() & 0x7fffffff)));
const minutes = Number(arg('minutes', '0'));
const save = process.argv.includes('--save');
const names = which === 'all' ? Object.keys(TARGETS) : which.split(',');
let failed = false;
for (const name of names) {
  const make = TARGETS[name];
  if (!make) {
    console.error(`unknown target '${name}': one of ${Object.keys(TARGETS).join(', ')}`);
    process.exit(64);
  }
  const target = make();
  const fixturesDir = join(import.meta.dirname, 'fixtures', name);
  const fuzzer = new Fuzzer(target, {
    runs,
    seed,
    ...(minutes > 0 ? { maxMs: minutes * 60_000 } : {}),
    ...(save ? { fixturesDir } : {}),
    log: (l) => console.log(l),
  });
  const s = await fuzzer.run();
  await target.close?.();
  console.log(
    `${s.target}: ${s.execs} inputs in ${(s.ms / 1000).toFixed(1)} s (${s.execsPerSec}/s, seed ${seed}), corpus ${s.corpus}, blocks ${s.features} (seeds ${s.seedFeatures}), ` +
      `crashes ${s.crashes.length}, hangs ${s.hangs} (slowest ${s.slowestMs} ms), heap ${s.heapStartMB} -> ${s.heapEndMB} MB, rss ${s.rssStartMB} -> ${s.rssEndMB} MB`,
  );
  for (const c of s.crashes) console.log(`  crash${c.file ? ` (${c.file})` : ''}: ${c.error.split('\n').slice(0, 4).join(' / ')} input ${c.input.toString('hex').slice(0, 200)}`);
  if (s.crashes.length > 0 || s.hangs > 0) failed = true;
}
process.exit(failed ? 1 : 0);
