// The timeline a scenario run writes: the client's confirms and deliveries per 250 ms, with the lab's events (faults,
// VRRP notifications, the scenario's marks) as labelled vertical lines, and the outages (no confirm for over 0.5 s)
// shaded.
import type { LabEvent } from './state.ts';

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function buckets(times: number[], t0: number, n: number, width: number): number[] {
  const b = new Array<number>(n).fill(0);
  for (const t of times) {
    const i = Math.floor((t - t0) / width);
    if (i >= 0 && i < n) b[i]!++;
  }
  return b;
}

export function timelineSvg(title: string, t0: number, t1: number, confirms: number[], receives: number[], events: LabEvent[], pass: boolean): string {
  const W = 1000;
  const left = 50;
  const plotW = W - left - 20;
  const chartTop = 40;
  const chartH = 160;
  const evTop = chartTop + chartH + 30;
  const shown = events.filter((e) => e.kind !== 'vrrp' || !e.text.includes('INSTANCE'));
  const H = evTop + shown.length * 16 + 30;
  const span = Math.max(1, t1 - t0);
  const x = (t: number): number => left + ((t - t0) / span) * plotW;
  const bw = 250;
  const n = Math.ceil(span / bw);
  const bc = buckets(confirms, t0, n, bw);
  const br = buckets(receives, t0, n, bw);
  const max = Math.max(1, ...bc, ...br);
  const y = (v: number): number => chartTop + chartH - (v / max) * chartH;
  const line = (b: number[]): string => b.map((v, i) => `${i === 0 ? 'M' : 'L'}${x(t0 + i * bw + bw / 2).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
  const gaps: string[] = [];
  let prev = confirms.find((t) => t >= t0) ?? t0;
  for (const t of [...confirms.filter((c) => c >= t0 && c <= t1), t1]) {
    if (t - prev > 500) gaps.push(`<rect x="${x(prev).toFixed(1)}" y="${chartTop}" width="${(x(t) - x(prev)).toFixed(1)}" height="${chartH}" fill="#f8d7da"><title>no confirm for ${((t - prev) / 1000).toFixed(2)} s</title></rect>`);
    prev = t;
  }
  const ticks: string[] = [];
  for (let s = 0; s * 1000 <= span; s += span > 60_000 ? 10 : 5) ticks.push(`<line x1="${x(t0 + s * 1000)}" y1="${chartTop + chartH}" x2="${x(t0 + s * 1000)}" y2="${chartTop + chartH + 4}" stroke="#333"/><text x="${x(t0 + s * 1000)}" y="${chartTop + chartH + 16}" font-size="10" text-anchor="middle">${s}s</text>`);
  const ev = shown.map((e, i) => {
    const ex = x(e.t).toFixed(1);
    const color = e.kind === 'fault' ? '#c0392b' : e.kind === 'vrrp' ? '#8e44ad' : e.kind === 'proxy' ? '#d35400' : '#2c3e50';
    const ty = evTop + i * 16 + 12;
    return `<line x1="${ex}" y1="${chartTop}" x2="${ex}" y2="${ty - 4}" stroke="${color}" stroke-dasharray="2,3" stroke-width="0.8"/><text x="${Math.min(Number(ex) + 3, W - 300)}" y="${ty}" font-size="11" fill="${color}">+${((e.t - t0) / 1000).toFixed(2)}s ${esc(e.text)}</text>`;
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif">
<rect width="${W}" height="${H}" fill="white"/>
<text x="${left}" y="20" font-size="13" font-weight="bold">${esc(title)} — ${pass ? 'PASS' : 'FAIL'}</text>
${gaps.join('\n')}
<rect x="${left}" y="${chartTop}" width="${plotW}" height="${chartH}" fill="none" stroke="#999"/>
<text x="${left - 5}" y="${chartTop + 10}" font-size="10" text-anchor="end">${max}</text>
<text x="${left - 5}" y="${chartTop + chartH}" font-size="10" text-anchor="end">0</text>
<path d="${line(bc)}" fill="none" stroke="#2980b9" stroke-width="1.5"/>
<path d="${line(br)}" fill="none" stroke="#27ae60" stroke-width="1.5" stroke-dasharray="4,2"/>
<text x="${W - 280}" y="${chartTop - 6}" font-size="11" fill="#2980b9">confirms / 250 ms</text>
<text x="${W - 160}" y="${chartTop - 6}" font-size="11" fill="#27ae60">deliveries / 250 ms</text>
${ticks.join('\n')}
${ev.join('\n')}
</svg>
`;
}
