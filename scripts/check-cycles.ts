// Lists the import cycles among a package's source files (default packages/broker/src), using the TypeScript
// compiler's own parser, so what counts as an import is what tsc sees: `import`, `export ... from`, and `import()`
// with a literal path. Tests (*.test.ts) are left out: nothing imports them.
//
// A cycle is a strongly connected component of the import graph (Tarjan); for each one we print the component's
// files and one shortest cycle through it, which is the chain to read when breaking it. Imports that are only types
// (`import type`, or every named binding marked `type`) vanish at run time: a component is marked run-time when it
// still holds a cycle without them (that one can change module evaluation order and leave a binding undefined), and
// type-only otherwise (harmless to the program, but the files still cannot be read or changed one without another).
//
// Exit status: 0 when every cycle is listed in the allow-list (scripts/import-cycles.allow.json: a component's files,
// whether it may hold a run-time cycle or only type-only ones, and the reason it stays), 1 otherwise; an allowed knot
// that grows by a file, or gains a run-time cycle, is a new cycle. `--json` prints the result as JSON.
//
//   node --import tsx scripts/check-cycles.ts [--root packages/broker/src] [--allow FILE] [--json]
import { readFileSync, readdirSync, statSync, existsSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

export interface ImportEdge {
  from: string;
  to: string;
  typeOnly: boolean;
}

export interface CycleReport {
  /** files of the component, sorted, relative to the root */
  files: string[];
  /** one shortest cycle through the component, first file repeated at the end */
  path: string[];
  /** whether the cycle is still there without the type-only imports (it then orders module evaluation) */
  runtime: boolean;
}

export interface AllowEntry {
  files: string[];
  /** 'type-only': the knot is allowed only while every cycle in it goes through a type-only import */
  kind: 'type-only' | 'runtime';
  reason: string;
}

export interface CheckResult {
  /** every import cycle, type-only imports included (components of the import graph) */
  cycles: CycleReport[];
  /** cycles not in the allow-list, or with a run-time cycle where the allow-list allows only types */
  unexpected: CycleReport[];
  /** allow-list entries that no longer match a cycle (broken since, or grown: drop or update them) */
  stale: AllowEntry[];
}

function listSources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...listSources(p));
    else if (/\.(ts|tsx|mts)$/.test(name) && !/\.test\.tsx?$/.test(name) && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** Whether an import declaration binds only types (so it is erased from the emitted JavaScript). */
function importIsTypeOnly(node: ts.ImportDeclaration): boolean {
  const clause = node.importClause;
  if (clause === undefined) return false; // `import './x'`: a side effect
  if (clause.isTypeOnly) return true;
  if (clause.name !== undefined) return false;
  const b = clause.namedBindings;
  if (b === undefined) return false;
  if (ts.isNamespaceImport(b)) return false;
  return b.elements.length > 0 && b.elements.every((e) => e.isTypeOnly);
}

function exportIsTypeOnly(node: ts.ExportDeclaration): boolean {
  if (node.isTypeOnly) return true;
  const c = node.exportClause;
  return c !== undefined && ts.isNamedExports(c) && c.elements.length > 0 && c.elements.every((e) => e.isTypeOnly);
}

function resolveRelative(fromFile: string, spec: string, known: Set<string>): string | null {
  if (!spec.startsWith('.')) return null;
  const base = resolve(dirname(fromFile), spec);
  const candidates = [base, base.replace(/\.js$/, '.ts'), `${base}.ts`, join(base, 'index.ts')];
  for (const c of candidates) if (known.has(c)) return c;
  return null;
}

export function importEdges(root: string): ImportEdge[] {
  const files = listSources(root);
  const known = new Set(files);
  const edges: ImportEdge[] = [];
  for (const file of files) {
    const sf = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, false);
    const add = (spec: string, typeOnly: boolean): void => {
      const to = resolveRelative(file, spec, known);
      if (to !== null && to !== file) edges.push({ from: relative(root, file), to: relative(root, to), typeOnly });
    };
    const visit = (node: ts.Node): void => {
      if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
        add(node.moduleSpecifier.text, importIsTypeOnly(node));
      } else if (ts.isExportDeclaration(node) && node.moduleSpecifier !== undefined && ts.isStringLiteral(node.moduleSpecifier)) {
        add(node.moduleSpecifier.text, exportIsTypeOnly(node));
      } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
        const arg = node.arguments[0];
        // a dynamic import runs later, but it still ties the two modules into one unit for a reader
        if (arg !== undefined && ts.isStringLiteralLike(arg)) add(arg.text, false);
      } else if (ts.isImportTypeNode(node)) {
        const arg = node.argument;
        if (ts.isLiteralTypeNode(arg) && ts.isStringLiteral(arg.literal)) add(arg.literal.text, true);
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
  }
  return edges;
}

function adjacency(edges: ImportEdge[]): Map<string, string[]> {
  const adj = new Map<string, string[]>();
  for (const e of edges) {
    if (!adj.has(e.from)) adj.set(e.from, []);
    if (!adj.has(e.to)) adj.set(e.to, []);
    const list = adj.get(e.from)!;
    if (!list.includes(e.to)) list.push(e.to);
  }
  for (const list of adj.values()) list.sort();
  return adj;
}

/** Strongly connected components with more than one file (Tarjan's algorithm, recursive: these graphs are a few hundred files at most). */
function components(adj: Map<string, string[]>): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const strong = (v: string): void => {
    idx.set(v, index);
    low.set(v, index);
    index++;
    stack.push(v);
    onStack.add(v);
    for (const w of adj.get(v) ?? []) {
      if (!idx.has(w)) {
        strong(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, idx.get(w)!));
      }
    }
    if (low.get(v) === idx.get(v)) {
      const comp: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        comp.push(w);
      } while (w !== v);
      if (comp.length > 1) out.push(comp.sort());
    }
  };
  for (const v of [...adj.keys()].sort()) if (!idx.has(v)) strong(v);
  return out.sort((a, b) => b.length - a.length || a[0]!.localeCompare(b[0]!));
}

/** A shortest cycle through the component's first file (breadth-first inside the component). */
function shortestCycle(adj: Map<string, string[]>, comp: string[]): string[] {
  const inComp = new Set(comp);
  let best: string[] = [];
  for (const start of comp) {
    const prev = new Map<string, string>();
    const queue = [start];
    let found: string[] | null = null;
    for (let i = 0; i < queue.length && found === null; i++) {
      const v = queue[i]!;
      for (const w of adj.get(v) ?? []) {
        if (!inComp.has(w)) continue;
        if (w === start) {
          const path = [v];
          while (path[0] !== start) path.unshift(prev.get(path[0]!)!);
          found = [...path, start];
          break;
        }
        if (!prev.has(w)) {
          prev.set(w, v);
          queue.push(w);
        }
      }
    }
    if (found !== null && (best.length === 0 || found.length < best.length)) best = found;
  }
  return best;
}

const key = (files: string[]): string => [...files].sort().join('\n');

export function checkCycles(root: string, allow: AllowEntry[]): CheckResult {
  const edges = importEdges(root);
  const all = adjacency(edges);
  // a component of the full graph holds a run-time cycle when a component of the run-time graph lies inside it
  const runtimeComps = components(adjacency(edges.filter((e) => !e.typeOnly)));
  const runtimeFiles = new Set(runtimeComps.flat());
  const cycles = components(all).map((files) => ({ files, path: shortestCycle(all, files), runtime: files.some((f) => runtimeFiles.has(f)) }));
  const allowed = new Map(allow.map((a) => [key(a.files), a]));
  const found = new Set(cycles.map((c) => key(c.files)));
  return {
    cycles,
    unexpected: cycles.filter((c) => {
      const a = allowed.get(key(c.files));
      return a === undefined || (c.runtime && a.kind !== 'runtime');
    }),
    stale: allow.filter((a) => !found.has(key(a.files))),
  };
}

export function readAllowList(file: string): AllowEntry[] {
  if (!existsSync(file)) return [];
  const parsed = JSON.parse(readFileSync(file, 'utf8')) as { cycles?: AllowEntry[] };
  const list = parsed.cycles ?? [];
  for (const e of list) {
    if (!Array.isArray(e.files) || (e.kind !== 'type-only' && e.kind !== 'runtime') || typeof e.reason !== 'string' || e.reason.trim() === '') {
      throw new Error(`${file}: each allowed cycle needs "files" (an array), "kind" ('type-only' or 'runtime') and a "reason"`);
    }
  }
  return list;
}

const HERE = dirname(fileURLToPath(import.meta.url));
export const DEFAULT_ROOT = resolve(HERE, '../packages/broker/src');
export const DEFAULT_ALLOW = resolve(HERE, 'import-cycles.allow.json');

function main(argv: string[]): number {
  let root = DEFAULT_ROOT;
  let allowFile = DEFAULT_ALLOW;
  let json = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--root') root = resolve(argv[++i] ?? '');
    else if (a === '--allow') allowFile = resolve(argv[++i] ?? '');
    else if (a === '--json') json = true;
    else {
      process.stderr.write(`check-cycles: unknown option ${a}\nusage: check-cycles [--root DIR] [--allow FILE] [--json]\n`);
      return 64;
    }
  }
  const r = checkCycles(root, readAllowList(allowFile));
  if (json) {
    process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
  } else {
    const rel = relative(process.cwd(), root) || '.';
    const runtime = r.cycles.filter((c) => c.runtime).length;
    process.stdout.write(
      `import cycles in ${rel}: ${r.cycles.length} (${runtime} with a run-time cycle, ${r.cycles.length - runtime} through type-only imports alone)\n`,
    );
    for (const c of r.cycles) {
      process.stdout.write(`  ${c.runtime ? 'run-time ' : 'type-only'} ${c.files.length} files: ${c.path.join(' -> ')}\n`);
      if (c.files.length > c.path.length - 1) process.stdout.write(`            all: ${c.files.join(', ')}\n`);
    }
    for (const s of r.stale) process.stdout.write(`allow-list entry that is no longer a cycle (remove or update it): ${s.files.join(', ')}\n`);
    const allowRel = relative(process.cwd(), allowFile);
    if (r.unexpected.length > 0) {
      process.stdout.write(`\nFAIL: ${r.unexpected.length} cycle(s) not allowed by ${allowRel}:\n`);
      for (const c of r.unexpected) process.stdout.write(`  ${c.runtime ? 'run-time ' : 'type-only'} ${c.path.join(' -> ')}\n`);
    } else {
      process.stdout.write(`ok: no cycle beyond the ${r.cycles.length} listed in ${allowRel}\n`);
    }
  }
  return r.unexpected.length > 0 ? 1 : 0;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = main(process.argv.slice(2));
}
