// CI's guard on the broker's import graph: a new import cycle in packages/broker/src fails here, with the chain to
// break. The knots that stay for now are in scripts/import-cycles.allow.json with their reasons.
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_ALLOW, DEFAULT_ROOT, checkCycles, readAllowList } from '../../scripts/check-cycles.ts';

describe('packages/broker/src import cycles', () => {
  it('has no cycle beyond the allow-list, and the allow-list has no stale entry', () => {
    const r = checkCycles(DEFAULT_ROOT, readAllowList(DEFAULT_ALLOW));
    expect(r.unexpected.map((c) => `${c.runtime ? 'run-time' : 'type-only'}: ${c.path.join(' -> ')}`)).toEqual([]);
    expect(r.stale.map((s) => s.files.join(', '))).toEqual([]);
    // none of the knots that stay may order module evaluation
    expect(r.cycles.filter((c) => c.runtime)).toEqual([]);
  });
});

describe('the checker', () => {
  const dir = mkdtempSync(join(tmpdir(), 'warren-i20-cycles-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const write = (files: Record<string, string>): string => {
    const root = mkdtempSync(join(dir, 'src-'));
    for (const [name, text] of Object.entries(files)) {
      mkdirSync(join(root, name, '..'), { recursive: true });
      writeFileSync(join(root, name), text);
    }
    return root;
  };

  it('finds a run-time cycle through a subfolder, export-from and a dynamic import, and gives its chain', () => {
    const root = write({
      'a.ts': "import { b } from './sub/b.ts';\nexport const a = b + 1;\n",
      'sub/b.ts': "export { c as b } from '../c.ts';\n",
      'c.ts': "export const c = 1;\nexport const later = () => import('./a.ts');\n",
      'leaf.ts': "import { a } from './a.ts';\nexport const d = a;\n",
      'a.test.ts': "import { d } from './leaf.ts';\nimport './a.ts';\n",
    });
    const r = checkCycles(root, []);
    expect(r.cycles).toHaveLength(1);
    expect(r.cycles[0]!.files).toEqual(['a.ts', 'c.ts', 'sub/b.ts']);
    expect(r.cycles[0]!.runtime).toBe(true);
    expect(r.cycles[0]!.path).toEqual(['a.ts', 'sub/b.ts', 'c.ts', 'a.ts']);
    expect(r.unexpected).toHaveLength(1);
  });

  it('tells a cycle through type-only imports apart, and an allow-list entry for types alone does not cover a run-time one', () => {
    const typeOnly = write({
      'x.ts': "import type { Y } from './y.ts';\nexport interface X { y: Y }\n",
      'y.ts': "import { type X } from './x.ts';\nexport interface Y { x: X | null }\n",
    });
    const allow = [{ files: ['x.ts', 'y.ts'], kind: 'type-only' as const, reason: 'test' }];
    const r = checkCycles(typeOnly, allow);
    expect(r.cycles.map((c) => c.runtime)).toEqual([false]);
    expect(r.unexpected).toEqual([]);

    const runtime = write({
      'x.ts': "import { y } from './y.ts';\nexport const x = () => y;\n",
      'y.ts': "import type { X } from './x.ts';\nimport { x } from './x.ts';\nexport const y = x;\nexport type Z = X;\n",
    });
    expect(checkCycles(runtime, allow).unexpected).toHaveLength(1);
  });

  it('reports an allow-list entry whose knot has grown or gone as stale, and the grown knot as new', () => {
    const root = write({
      'p.ts': "import { q } from './q.ts';\nexport const p = q;\n",
      'q.ts': "import { r } from './r.ts';\nexport const q = r;\n",
      'r.ts': "import { p } from './p.ts';\nexport const r = () => p;\n",
    });
    const r = checkCycles(root, [{ files: ['p.ts', 'q.ts'], kind: 'runtime', reason: 'test' }]);
    expect(r.stale).toHaveLength(1);
    expect(r.unexpected.map((c) => c.files)).toEqual([['p.ts', 'q.ts', 'r.ts']]);
  });
});
