/** Summaries, the Markdown table and the SVG chart (hand-written SVG, no dependency). */
import type { PerfResult } from './types.ts';

export interface Stat {
  median: number;
  min: number;
  max: number;
  n: number;
}

export function stat(values: number[]): Stat | undefined {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return undefined;
  const mid = Math.floor(v.length / 2);
  const median = v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
  return { median, min: v[0]!, max: v[v.length - 1]!, n: v.length };
}

export interface BrokerSide {
  runs: PerfResult[];
  /** Why a run is missing (broker unavailable, run failed). */
  errors: string[];
  metric?: Stat;
  sentRate?: Stat;
  confirmedRate?: Stat;
  receivedRate?: Stat;
  p50Ms?: Stat;
  p99Ms?: Stat;
  brokerCpuPct?: Stat;
  brokerRssMB?: Stat;
  clientCpuMaxPct?: Stat;
  otherCpuPct?: Stat;
  publishPhaseRate?: Stat;
}

export interface ScenarioReport {
  id: string;
  title: string;
  short: string;
  what: string;
  metricName: string;
  unit: string;
  higherIsBetter: boolean;
  rabbitmq: BrokerSide;
  warren: BrokerSide;
  /** Warren median / RabbitMQ median of the headline figure. */
  ratio?: number;
}

export interface TargetReport {
  name: string;
  want: string;
  got: string;
  met: boolean | null;
}

export interface Report {
  meta: {
    date: string;
    mode: 'quick' | 'full';
    repetitions: number;
    durationSec: number;
    warmupSec: number;
    cpus: string;
    memory: string;
    node: string;
    rabbitmq: string;
    warrenCommit: string;
    command: string;
  };
  ceiling: { id: string; title: string; sentRate: number; receivedRate: number; clientCpuMaxPct: number; error?: string }[];
  startup: {
    warrenEmbedded?: Stat;
    warrenEmbeddedImport?: Stat;
    warrenEmbeddedError?: string;
    warrenBinaryMs?: Stat;
    rabbitmqMs?: Stat;
  };
  scenarios: ScenarioReport[];
  targets: TargetReport[];
}

export function summarize(side: BrokerSide, value: (r: PerfResult) => number): BrokerSide {
  const ok = side.runs.filter((r) => r.ok);
  const pick = (f: (r: PerfResult) => number | undefined): Stat | undefined => stat(ok.map((r) => f(r) ?? NaN));
  const out: BrokerSide = { runs: side.runs, errors: side.errors };
  const set = <K extends keyof BrokerSide>(k: K, v: BrokerSide[K] | undefined): void => {
    if (v !== undefined) out[k] = v;
  };
  set('metric', pick(value));
  set('sentRate', pick((r) => r.sentRate));
  set('confirmedRate', pick((r) => r.confirmedRate));
  set('receivedRate', pick((r) => r.receivedRate));
  set('p50Ms', pick((r) => r.latency.p50Ms));
  set('p99Ms', pick((r) => r.latency.p99Ms));
  set('brokerCpuPct', pick((r) => r.brokerCpuPct));
  set('brokerRssMB', pick((r) => (r.brokerRssBytes ?? NaN) / 1048576));
  set('clientCpuMaxPct', pick((r) => r.clientCpuMaxPct));
  set('publishPhaseRate', pick((r) => r.publishPhaseRate));
  set('otherCpuPct', pick((r) => r.otherCpuPct));
  return out;
}

// ------------------------------------------------------------------------------------------------- formatting

export function fmtNum(n: number | undefined, unit = ''): string {
  if (n === undefined || !Number.isFinite(n)) return '–';
  if (unit === 'ms') return n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2);
  if (unit === 'MB') return n >= 100 ? n.toFixed(0) : n.toFixed(1);
  if (Math.abs(n) >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (Math.abs(n) >= 1e4) return `${(n / 1e3).toFixed(0)}k`;
  if (Math.abs(n) >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return n.toFixed(0);
}

export function fmtStat(s: Stat | undefined, unit: string): string {
  if (!s) return '–';
  if (s.n === 1) return fmtNum(s.median, unit);
  return `${fmtNum(s.median, unit)} (${fmtNum(s.min, unit)}–${fmtNum(s.max, unit)})`;
}

const ratioStr = (r: number | undefined): string => (r === undefined || !Number.isFinite(r) ? '–' : `${r.toFixed(2)}×`);

export function markdown(rep: Report): string {
  const m = rep.meta;
  const L: string[] = [];
  L.push(`# Warren vs RabbitMQ: throughput (${m.mode})`);
  L.push('');
  L.push(
    `${m.date} · ${m.repetitions} repetition(s) of ${m.durationSec} s (+${m.warmupSec} s warm-up), interleaved RabbitMQ/Warren · ${m.cpus} · ${m.memory} · Node ${m.node} · RabbitMQ ${m.rabbitmq} · Warren ${m.warrenCommit}`,
  );
  L.push('');
  L.push('Medians, with min–max over the repetitions. Rates are msg/s; latency is end to end (send timestamp in the body); CPU is % of one core over the measured window (200 % = both cores); RSS is the broker process tree at the end of the window; "client CPU" is the busiest load-generator process; "other load" is CPU used meanwhile by processes that are neither broker nor load generator (other work on the machine: noise).');
  L.push('');
  L.push('| Scenario | Figure | RabbitMQ | Warren | Warren / RabbitMQ | p99 ms R / W | broker CPU % R / W | broker RSS MB R / W | client CPU % R / W | other load % R / W |');
  L.push('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const s of rep.scenarios) {
    const r = s.rabbitmq;
    const w = s.warren;
    const wv = w.metric ? fmtStat(w.metric, s.unit) : w.errors.length ? 'unavailable' : '–';
    const rv = r.metric ? fmtStat(r.metric, s.unit) : r.errors.length ? 'unavailable' : '–';
    const better = s.higherIsBetter ? 'higher is better' : 'lower is better';
    L.push(
      `| ${s.title} | ${s.metricName} (${s.unit}, ${better}) | ${rv} | ${wv} | ${ratioStr(s.ratio)} | ${fmtNum(r.p99Ms?.median, 'ms')} / ${fmtNum(w.p99Ms?.median, 'ms')} | ${fmtNum(r.brokerCpuPct?.median)} / ${fmtNum(w.brokerCpuPct?.median)} | ${fmtNum(r.brokerRssMB?.median, 'MB')} / ${fmtNum(w.brokerRssMB?.median, 'MB')} | ${fmtNum(r.clientCpuMaxPct?.median)} / ${fmtNum(w.clientCpuMaxPct?.median)} | ${fmtNum(r.otherCpuPct?.median)} / ${fmtNum(w.otherCpuPct?.median)} |`,
    );
  }
  L.push('');
  const pt = rep.scenarios.filter((s) => s.rabbitmq.publishPhaseRate || s.warren.publishPhaseRate);
  if (pt.length) {
    L.push('Publish phase of the backlog scenarios (msg/s, confirmed): ' +
      pt.map((s) => `${s.id}: RabbitMQ ${fmtStat(s.rabbitmq.publishPhaseRate, '')}, Warren ${fmtStat(s.warren.publishPhaseRate, '')}`).join('; ') + '.');
    L.push('');
  }
  L.push('## Start-up');
  L.push('');
  const st = rep.startup;
  L.push(`- Warren embedded, \`startBroker()\` to first TCP connect: ${st.warrenEmbedded ? `${fmtStat(st.warrenEmbedded, 'ms')} ms (module import before it: ${fmtStat(st.warrenEmbeddedImport, 'ms')} ms)` : `unavailable${st.warrenEmbeddedError ? ` (${st.warrenEmbeddedError})` : ''}`}`);
  L.push(`- Warren binary, spawn to first AMQP handshake: ${st.warrenBinaryMs ? `${fmtStat(st.warrenBinaryMs, 'ms')} ms` : 'unavailable'}`);
  L.push(`- RabbitMQ, spawn to first AMQP handshake: ${st.rabbitmqMs ? `${fmtStat(st.rabbitmqMs, 'ms')} ms` : 'unavailable'}`);
  L.push('');
  L.push('## Load-generator ceiling (discard server)');
  L.push('');
  L.push('| Scenario | sent msg/s | received msg/s | busiest client CPU % |');
  L.push('| --- | --- | --- | --- |');
  for (const c of rep.ceiling) {
    L.push(`| ${c.title} | ${c.error ? 'failed' : fmtNum(c.sentRate)} | ${c.error ? 'failed' : fmtNum(c.receivedRate)} | ${fmtNum(c.clientCpuMaxPct)} |`);
  }
  L.push('');
  L.push('## Targets');
  L.push('');
  L.push('| Target | Wanted | Measured | |');
  L.push('| --- | --- | --- | --- |');
  for (const t of rep.targets) L.push(`| ${t.name} | ${t.want} | ${t.got} | ${t.met === null ? 'n/a' : t.met ? 'met' : 'not met'} |`);
  L.push('');
  const errs = rep.scenarios.flatMap((s) => [
    ...s.rabbitmq.errors.map((e) => `${s.id} RabbitMQ: ${e}`),
    ...s.warren.errors.map((e) => `${s.id} Warren: ${e}`),
  ]);
  if (errs.length) {
    L.push('## Failed or missing runs');
    L.push('');
    for (const e of errs) L.push(`- ${e.split('\n')[0]}`);
    L.push('');
  }
  return L.join('\n');
}

// ------------------------------------------------------------------------------------------------- SVG

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const RABBIT = '#f08a24';
const WARREN = '#2b6cb0';

export function svg(rep: Report): string {
  const thr = rep.scenarios.filter((s) => s.unit === 'msg/s');
  const lat = rep.scenarios.filter((s) => s.rabbitmq.p99Ms || s.warren.p99Ms);
  const W = 980;
  const labelW = 300;
  const barW = W - labelW - 120;
  const rowH = 34;
  const out: string[] = [];
  let y = 0;
  const text = (x: number, yy: number, s: string, extra = ''): void => {
    out.push(`<text x="${x}" y="${yy}" ${extra}>${esc(s)}</text>`);
  };
  y += 28;
  text(16, y, `Warren vs RabbitMQ ${rep.meta.rabbitmq} — ${rep.meta.mode} run, ${rep.meta.date.slice(0, 10)}, medians of ${rep.meta.repetitions}`, 'font-size="16" font-weight="bold"');
  y += 20;
  out.push(`<rect x="16" y="${y - 10}" width="12" height="12" fill="${RABBIT}"/>`);
  text(34, y, 'RabbitMQ');
  out.push(`<rect x="110" y="${y - 10}" width="12" height="12" fill="${WARREN}"/>`);
  text(128, y, 'Warren');
  text(200, y, 'thin lines: min–max over repetitions', 'fill="#666"');

  // Throughput panel: each scenario scaled to its own maximum, so small and large rates are both readable.
  y += 30;
  text(16, y, 'Throughput, msg/s (bars scaled per scenario; ratio = Warren / RabbitMQ)', 'font-size="14" font-weight="bold"');
  y += 10;
  for (const s of thr) {
    const r = s.rabbitmq.metric;
    const w = s.warren.metric;
    const max = Math.max(r?.max ?? 0, w?.max ?? 0, 1);
    text(16, y + 20, s.short);
    const bar = (st: Stat | undefined, yy: number, color: string, name: string): void => {
      if (!st) {
        text(labelW, yy + 10, `${name}: unavailable`, 'fill="#999" font-size="11"');
        return;
      }
      const len = (st.median / max) * barW;
      out.push(`<rect x="${labelW}" y="${yy}" width="${len.toFixed(1)}" height="12" fill="${color}"/>`);
      if (st.n > 1) {
        const x1 = labelW + (st.min / max) * barW;
        const x2 = labelW + (st.max / max) * barW;
        out.push(`<line x1="${x1.toFixed(1)}" x2="${x2.toFixed(1)}" y1="${yy + 6}" y2="${yy + 6}" stroke="#222" stroke-width="1"/>`);
      }
      text(labelW + len + 6, yy + 10, fmtNum(st.median), 'font-size="11"');
    };
    bar(r, y + 4, RABBIT, 'RabbitMQ');
    bar(w, y + 18, WARREN, 'Warren');
    text(W - 60, y + 20, ratioStr(s.ratio), 'font-size="12" font-weight="bold"');
    y += rowH;
  }

  // Latency panel: p50 and p99 on a log scale.
  y += 24;
  text(16, y, 'End-to-end latency, ms (log scale; bar = p50, tick = p99)', 'font-size="14" font-weight="bold"');
  y += 10;
  const lo = 0.05;
  const hi = Math.max(10, ...lat.flatMap((s) => [s.rabbitmq.p99Ms?.median ?? 0, s.warren.p99Ms?.median ?? 0])) * 1.5;
  const lx = (v: number): number => labelW + (Math.log10(Math.max(lo, v) / lo) / Math.log10(hi / lo)) * barW;
  for (const s of lat) {
    text(16, y + 20, s.short);
    const one = (side: typeof s.rabbitmq, yy: number, color: string): void => {
      const p50 = side.p50Ms?.median;
      const p99 = side.p99Ms?.median;
      if (p50 === undefined || p99 === undefined) {
        text(labelW, yy + 10, 'unavailable', 'fill="#999" font-size="11"');
        return;
      }
      out.push(`<rect x="${labelW}" y="${yy}" width="${(lx(p50) - labelW).toFixed(1)}" height="12" fill="${color}"/>`);
      out.push(`<line x1="${lx(p99).toFixed(1)}" x2="${lx(p99).toFixed(1)}" y1="${yy - 1}" y2="${yy + 13}" stroke="${color}" stroke-width="3"/>`);
      text(lx(p99) + 6, yy + 10, `p50 ${fmtNum(p50, 'ms')} / p99 ${fmtNum(p99, 'ms')}`, 'font-size="11"');
    };
    one(s.rabbitmq, y + 4, RABBIT);
    one(s.warren, y + 18, WARREN);
    y += rowH;
  }
  // log axis ticks
  for (let v = 0.1; v <= hi; v *= 10) {
    const x = lx(v);
    out.push(`<line x1="${x.toFixed(1)}" x2="${x.toFixed(1)}" y1="${y}" y2="${y + 5}" stroke="#444"/>`);
    text(x - 8, y + 17, v >= 1 ? v.toFixed(0) : v.toFixed(1), 'font-size="10" fill="#444"');
  }
  y += 36;

  // Memory and start-up, then the targets.
  const rss = rep.scenarios.find((s) => s.id === 'rss-queued');
  text(16, y, `RSS per 1M queued 16 B messages: RabbitMQ ${fmtNum(rss?.rabbitmq.metric?.median, 'MB')} MB, Warren ${fmtNum(rss?.warren.metric?.median, 'MB')} MB · embedded start: Warren ${fmtNum(rep.startup.warrenEmbedded?.median, 'ms')} ms · RabbitMQ boot ${fmtNum(rep.startup.rabbitmqMs?.median, 'ms')} ms`, 'font-size="12"');
  y += 22;
  text(16, y, 'Targets', 'font-size="14" font-weight="bold"');
  for (const t of rep.targets) {
    y += 18;
    const mark = t.met === null ? '?' : t.met ? '✔' : '✘';
    const color = t.met === null ? '#999' : t.met ? '#2f855a' : '#c53030';
    text(16, y, mark, `fill="${color}" font-weight="bold"`);
    text(34, y, `${t.name}: want ${t.want}, got ${t.got}`, 'font-size="12"');
  }
  y += 20;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${y}" viewBox="0 0 ${W} ${y}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="${W}" height="${y}" fill="#fff"/>`,
    ...out,
    '</svg>',
    '',
  ].join('\n');
}
