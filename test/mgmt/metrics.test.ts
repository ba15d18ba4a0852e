// /metrics scraped and parsed with a strict Prometheus text-format (0.0.4) parser; values checked against what
// was done over AMQP.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { amqp, startEnv, until, type Env } from './helpers.ts';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}
interface Scrape {
  types: Map<string, string>;
  help: Map<string, string>;
  samples: Sample[];
}

const METRIC = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

function parseValue(s: string, line: number): number {
  if (s === 'NaN') return NaN;
  if (s === '+Inf' || s === 'Inf') return Infinity;
  if (s === '-Inf') return -Infinity;
  if (!/^[-+]?(\d+\.?\d*([eE][-+]?\d+)?|\.\d+([eE][-+]?\d+)?)$/.test(s)) throw new Error(`line ${line}: bad value '${s}'`);
  return Number(s);
}

/** Prometheus text exposition format, strictly: families contiguous, TYPE before samples, unique series. */
export function parsePrometheus(text: string): Scrape {
  if (!text.endsWith('\n')) throw new Error('exposition must end with a newline');
  const types = new Map<string, string>();
  const help = new Map<string, string>();
  const samples: Sample[] = [];
  const seenSeries = new Set<string>();
  const closedFamilies = new Set<string>();
  let current: string | null = null;
  const family = (name: string): string => {
    for (const suffix of ['_bucket', '_count', '_sum']) {
      const base = name.slice(0, -suffix.length);
      if (name.endsWith(suffix) && ['histogram', 'summary'].includes(types.get(base) ?? '')) return base;
    }
    return name;
  };
  const enter = (fam: string, line: number): void => {
    if (current === fam) return;
    if (closedFamilies.has(fam)) throw new Error(`line ${line}: family ${fam} is not contiguous`);
    if (current !== null) closedFamilies.add(current);
    current = fam;
  };
  const lines = text.slice(0, -1).split('\n');
  lines.forEach((raw, i) => {
    const n = i + 1;
    if (raw.trim() === '') return;
    if (raw.startsWith('#')) {
      const m = /^#\s+(HELP|TYPE)\s+(\S+)(?:\s(.*))?$/.exec(raw);
      if (!m) return; // plain comment
      const [, kind, name, rest] = m;
      if (!METRIC.test(name!)) throw new Error(`line ${n}: bad metric name '${name}'`);
      enter(name!, n);
      if (kind === 'TYPE') {
        if (types.has(name!)) throw new Error(`line ${n}: second TYPE for ${name}`);
        if (samples.some((s) => family(s.name) === name)) throw new Error(`line ${n}: TYPE for ${name} after its samples`);
        if (!TYPES.has(rest ?? '')) throw new Error(`line ${n}: bad type '${rest}'`);
        types.set(name!, rest!);
      } else {
        if (help.has(name!)) throw new Error(`line ${n}: second HELP for ${name}`);
        if (/\\[^\\n]/.test((rest ?? '').replace(/\\\\/g, ''))) throw new Error(`line ${n}: bad escape in HELP`);
        help.set(name!, rest ?? '');
      }
      return;
    }
    // name, optional {labels}, value, optional timestamp
    let p = 0;
    const nm = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(raw);
    if (!nm) throw new Error(`line ${n}: bad sample '${raw}'`);
    const name = nm[0];
    p = name.length;
    const labels: Record<string, string> = {};
    if (raw[p] === '{') {
      p++;
      for (;;) {
        if (raw[p] === '}') {
          p++;
          break;
        }
        const ln = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(raw.slice(p));
        if (!ln) throw new Error(`line ${n}: bad label name at ${p}`);
        const lname = ln[0];
        if (!LABEL.test(lname) || lname.startsWith('__')) throw new Error(`line ${n}: reserved label ${lname}`);
        if (lname in labels) throw new Error(`line ${n}: duplicate label ${lname}`);
        p += lname.length;
        if (raw.slice(p, p + 2) !== '="') throw new Error(`line ${n}: expected =" after ${lname}`);
        p += 2;
        let v = '';
        for (;;) {
          const c = raw[p];
          if (c === undefined) throw new Error(`line ${n}: unterminated label value`);
          p++;
          if (c === '"') break;
          if (c === '\\') {
            const e = raw[p++];
            if (e === '\\') v += '\\';
            else if (e === '"') v += '"';
            else if (e === 'n') v += '\n';
            else throw new Error(`line ${n}: bad escape \\${e}`);
          } else v += c;
        }
        labels[lname] = v;
        if (raw[p] === ',') p++;
        else if (raw[p] !== '}') throw new Error(`line ${n}: expected , or } at ${p}`);
      }
    }
    if (raw[p] !== ' ') throw new Error(`line ${n}: expected a space before the value`);
    const parts = raw.slice(p + 1).split(' ');
    if (parts.length < 1 || parts.length > 2 || parts[0] === '') throw new Error(`line ${n}: bad value/timestamp '${raw.slice(p + 1)}'`);
    const value = parseValue(parts[0]!, n);
    if (parts[1] !== undefined && !/^-?\d+$/.test(parts[1])) throw new Error(`line ${n}: bad timestamp`);
    const fam = family(name);
    enter(fam, n);
    const type = types.get(fam);
    if (type === 'counter' && (value < 0 || Number.isNaN(value))) throw new Error(`line ${n}: counter ${name} is ${value}`);
    const series = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (seenSeries.has(series)) throw new Error(`line ${n}: duplicate series ${series}`);
    seenSeries.add(series);
    samples.push({ name, labels, value });
  });
  return { types, help, samples };
}

function value(s: Scrape, name: string, labels: Record<string, string> = {}): number | undefined {
  const want = Object.entries(labels);
  return s.samples.find((x) => x.name === name && want.every(([k, v]) => x.labels[k] === v) && Object.keys(x.labels).length === want.length)?.value;
}

describe('strict Prometheus parser', () => {
  it('accepts good input and rejects malformed input', () => {
    const good = '# TYPE a counter\n# HELP a help \\\\ text\na{x="1",y="q\\"\\n\\\\"} 1\na{x="2"} 2.5e3\n# TYPE b gauge\nb -Inf\nb{z="1"} NaN 1700000000000\n';
    const s = parsePrometheus(good);
    expect(s.samples).toHaveLength(4);
    expect(s.samples[0]!.labels['y']).toBe('q"\n\\');
    for (const bad of [
      'a 1', // no trailing newline
      '# TYPE a counter\na -1\n',
      '# TYPE a gauge\n# TYPE a gauge\n',
      'a 1\n# TYPE a gauge\n',
      '# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\na 2\n',
      'a{x="1"} 1\na{x="1"} 2\n',
      'a{x="1",x="2"} 1\n',
      'a{x="\\t"} 1\n',
      'a{x=1} 1\n',
      'a one\n',
      '1a 1\n',
      'a{x="1"}1\n',
      '# TYPE a blob\n',
    ]) expect(() => parsePrometheus(bad), bad).toThrow();
  });
});

describe('/metrics', () => {
  let env: Env;
  beforeAll(async () => {
    env = await startEnv();
  });
  afterAll(async () => {
    await env.close();
  });
  const scrape = async (): Promise<Scrape> => {
    const r = await fetch(`${env.base}/metrics`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    return parsePrometheus(await r.text());
  };

  it('reports queue depth, ready/unacked, counters, connections, channels, memory and alarms', async () => {
    const { conn } = await amqp(env);
    const ch = await conn.channel();
    const odd = 'odd "name" \\ with\nnewline';
    await ch.queueDeclare('work', { durable: false });
    await ch.queueDeclare(odd, { durable: false });
    for (let i = 0; i < 10; i++) await ch.basicPublish('', 'work', `job ${i}`);
    await ch.basicPublish('', odd, 'x');
    // a consumer holding 3 unacked, then acking one of them
    const ch2 = await conn.channel();
    await ch2.prefetch(3);
    const held: { ack(): Promise<void> }[] = [];
    await ch2.basicConsume('work', { noAck: false }, (m) => {
      held.push(m);
    });
    await until(() => held.length, (n) => n === 3);
    await held[0]!.ack();
    await until(() => env.b.broker.vhosts.get('/')!.queues.get('work')!.unackedCount, (n) => n === 3);

    const s = await scrape();
    const q = { vhost: '/', queue: 'work' };
    expect(value(s, 'rabbitmq_queue_messages_ready', q)).toBe(6);
    expect(value(s, 'rabbitmq_queue_messages_unacked', q)).toBe(3);
    expect(value(s, 'rabbitmq_queue_messages', q)).toBe(9);
    expect(value(s, 'rabbitmq_queue_consumers', q)).toBe(1);
    expect(value(s, 'rabbitmq_queue_messages_published_total', q)).toBe(10);
    expect(value(s, 'rabbitmq_queue_messages_delivered_total', q)).toBe(4);
    expect(value(s, 'rabbitmq_queue_messages_acked_total', q)).toBe(1);
    expect(value(s, 'rabbitmq_queue_messages_ready', { vhost: '/', queue: odd })).toBe(1);
    expect(value(s, 'rabbitmq_queue_messages_ready_bytes', { vhost: '/', queue: odd })).toBe(1);
    expect(value(s, 'rabbitmq_connections')).toBe(1);
    expect(value(s, 'rabbitmq_channels')).toBe(2);
    expect(value(s, 'rabbitmq_consumers')).toBe(1);
    expect(value(s, 'rabbitmq_queues')).toBe(2);
    expect(value(s, 'rabbitmq_channel_messages_unacked')).toBe(3);
    expect(value(s, 'rabbitmq_channel_messages_published_total')).toBe(11);
    expect(value(s, 'rabbitmq_process_resident_memory_bytes')).toBeGreaterThan(1e6);
    expect(value(s, 'rabbitmq_resident_memory_limit_bytes')).toBeGreaterThan(0);
    expect(value(s, 'rabbitmq_alarms_memory_used_watermark')).toBe(0);
    expect(value(s, 'rabbitmq_alarms_free_disk_space_watermark')).toBe(0);
    expect(value(s, 'rabbitmq_identity_info', { rabbitmq_node: env.b.broker.opts.nodeName, rabbitmq_cluster: env.b.broker.clusterName })).toBe(1);
    expect(s.types.get('rabbitmq_queue_messages_ready')).toBe('gauge');
    expect(s.types.get('rabbitmq_queue_messages_published_total')).toBe('counter');
    for (const name of new Set(s.samples.map((x) => x.name))) {
      expect(s.types.has(name), name).toBe(true);
      expect(s.help.has(name), name).toBe(true);
      expect(name.startsWith('rabbitmq_'), name).toBe(true);
    }

    env.b.broker.memoryAlarm = true;
    try {
      expect(value(await scrape(), 'rabbitmq_alarms_memory_used_watermark')).toBe(1);
    } finally {
      env.b.broker.memoryAlarm = false;
    }
    await conn.close();
    const after = await until(scrape, (x) => value(x, 'rabbitmq_connections') === 0);
    expect(value(after, 'rabbitmq_channels')).toBe(0);
    // closing the channel requeued the unacked messages
    expect(value(after, 'rabbitmq_queue_messages_ready', q)).toBe(9);
    expect(value(after, 'rabbitmq_queue_messages_unacked', q)).toBe(0);
  });

  it('needs no credentials, and only GET', async () => {
    expect((await fetch(`${env.base}/metrics`, { method: 'POST' })).status).toBe(405);
  });
});
