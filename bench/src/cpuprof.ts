/**
 * Summarises a V8 .cpuprofile (as written by node --cpu-prof, e.g. `npm run bench -- --warren-cpu-prof DIR`):
 * self time per function and per file, top N.
 *
 *   node --conditions=warren-source --import tsx bench/src/cpuprof.ts FILE.cpuprofile [N]
 */
import { readFileSync } from 'node:fs';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export function summarise(file: string, top = 25): string {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  p.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0)));
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const fn = new Map<string, number>();
  const files = new Map<string, number>();
  for (const [id, us] of self) {
    const n = byId.get(id);
    if (!n) continue;
    const url = n.callFrame.url.replace(/^file:\/\/.*?\/(packages|node_modules|bench)\//, '$1/');
    const name = `${n.callFrame.functionName || '(anonymous)'} ${url ? `${url}:${n.callFrame.lineNumber + 1}` : ''}`;
    fn.set(name, (fn.get(name) ?? 0) + us);
    const f = url || `(${n.callFrame.functionName})`;
    files.set(f, (files.get(f) ?? 0) + us);
  }
  const fmt = (m: Map<string, number>): string =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, v]) => `${((v / total) * 100).toFixed(1).padStart(5)} %  ${(v / 1000).toFixed(0).padStart(6)} ms  ${k}`)
      .join('\n');
  return `${file}: ${(total / 1e6).toFixed(1)} s sampled\n\nself time by function:\n${fmt(fn)}\n\nself time by file:\n${fmt(files)}\n`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const f of process.argv.slice(2).filter((a) => a.endsWith('.cpuprofile'))) {
    console.log(summarise(f, Number(process.argv.find((a) => /^\d+$/.test(a)) ?? 25)));
  }
}
