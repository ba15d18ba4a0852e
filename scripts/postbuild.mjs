#!/usr/bin/env node
// After `tsc -b tsconfig.build.json`: what tsc does not do for a package's dist/.
//   - assets the code reads at run time next to its module (the management UI page);
//   - the binaries (dist/bin/*.js): a shebang and the executable bit, so npm's bin links run them directly.
// Usage: node scripts/postbuild.mjs [PACKAGE_DIR...]   (default: every package under packages/)
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const ASSETS = { broker: ['mgmt/ui.html'] };
// node options a binary needs (the dev wrappers in packages/*/bin pass the same ones).
// --no-memory-reducer: see packages/broker/bin/broker.
// --max-semi-space-size=1: see packages/proxy/bin/proxy (a burst of connections grows V8's young generation for good).
const NODE_OPTIONS = { 'broker.js': ['--no-memory-reducer'], 'proxy.js': ['--max-semi-space-size=1', '--expose-gc'] };

// by default the published packages: those tsc -b builds (a tsconfig.build.json); packages/lab runs from source
const dirs = process.argv.length > 2
  ? process.argv.slice(2).map((d) => resolve(d))
  : readdirSync(join(root, 'packages')).map((p) => join(root, 'packages', p)).filter((d) => existsSync(join(d, 'tsconfig.build.json')));
for (const dir of dirs) {
  const name = dir.split('/').pop();
  const dist = join(dir, 'dist');
  if (!existsSync(dist)) throw new Error(`${dist} does not exist: run tsc -b first`);
  for (const asset of ASSETS[name] ?? []) {
    mkdirSync(dirname(join(dist, asset)), { recursive: true });
    copyFileSync(join(dir, 'src', asset), join(dist, asset));
  }
  const bin = join(dist, 'bin');
  if (!existsSync(bin)) continue;
  for (const f of readdirSync(bin)) {
    if (!f.endsWith('.js')) continue;
    const file = join(bin, f);
    const text = readFileSync(file, 'utf8');
    const flags = NODE_OPTIONS[f] ?? [];
    // env -S splits the line into arguments (GNU coreutils 8.30+, BSD and macOS env); npm's Windows shims read it too
    const shebang = flags.length ? `#!/usr/bin/env -S node ${flags.join(' ')}\n` : '#!/usr/bin/env node\n';
    writeFileSync(file, shebang + text.replace(/^#!.*\n/, ''));
    chmodSync(file, 0o755);
  }
}
