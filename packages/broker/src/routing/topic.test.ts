// The topic exchange's trie (AMQP 0-9-1 §3.1.3.3, RabbitMQ's word rules): `*` one word, `#` zero or more, words
// split on '.', the empty routing key is zero words. Checked case by case, then against a plain reference matcher
// over seeded random bindings and keys (binding, unbinding and rebinding as the trie is pruned).
import { describe, expect, it } from 'vitest';
import { bindingKey, type Binding, type Destination } from './exchange.ts';
import { TopicExchange } from './topic.ts';

const queue = (name: string): Destination => ({ kind: 'queue', name });
const binding = (dest: Destination, routingKey: string, args = {}): Binding => ({
  source: 't',
  destination: dest,
  routingKey,
  arguments: args,
  key: bindingKey(dest, routingKey, args),
});
const topic = (): TopicExchange => new TopicExchange('/', 't', { durable: false, autoDelete: false, internal: false, arguments: {} });

function routed(ex: TopicExchange, key: string): string[] {
  const out = new Set<Destination>();
  ex.route(key, undefined, out);
  return [...out].map((d) => d.name).sort();
}

/** Which of `keys` a binding on `pattern` routes. */
function matching(pattern: string, keys: string[]): string[] {
  const ex = topic();
  ex.bind(binding(queue('q'), pattern));
  return keys.filter((k) => routed(ex, k).length > 0);
}

const KEYS = ['', 'a', 'b', 'a.b', 'a.c', 'b.c', 'a.b.c', 'a.x.c', 'a.b.d.c', 'a..c', 'c'];

describe('topic patterns', () => {
  it.each([
    ['a.b.c', ['a.b.c']],
    ['a.*.c', ['a.b.c', 'a.x.c', 'a..c']],
    ['*', ['a', 'b', 'c']],
    ['*.*', ['a.b', 'a.c', 'b.c']],
    ['a.#', ['a', 'a.b', 'a.c', 'a.b.c', 'a.x.c', 'a.b.d.c', 'a..c']],
    ['#.c', ['a.c', 'b.c', 'a.b.c', 'a.x.c', 'a.b.d.c', 'a..c', 'c']],
    ['a.#.c', ['a.c', 'a.b.c', 'a.x.c', 'a.b.d.c', 'a..c']],
    ['#', KEYS],
    ['#.#', KEYS],
    ['*.#', KEYS.filter((k) => k !== '')],
    ['', ['']],
  ])('a binding on %j routes %j', (pattern, keys) => {
    expect(matching(pattern, KEYS)).toEqual(keys);
  });

  it('routes a message once per queue, however many of its bindings match', () => {
    const ex = topic();
    const q = queue('q');
    for (const p of ['a.*', '*.b', 'a.#', '#']) ex.bind(binding(q, p));
    ex.bind(binding(queue('other'), 'a.b'));
    expect(routed(ex, 'a.b')).toEqual(['other', 'q']);
  });

  it('keeps routing while another binding of the same key and queue (other arguments) remains', () => {
    const ex = topic();
    const q = queue('q');
    const b1 = binding(q, 'a.*', { n: 1 });
    const b2 = binding(q, 'a.*', { n: 2 });
    expect(ex.bind(b1)).toBe(true);
    expect(ex.bind(b2)).toBe(true);
    expect(ex.bind(binding(q, 'a.*', { n: 1 }))).toBe(false);
    ex.unbind(b1.key);
    expect(routed(ex, 'a.b')).toEqual(['q']);
    ex.unbind(b2.key);
    expect(routed(ex, 'a.b')).toEqual([]);
  });

  it('unbinding a pattern leaves the longer patterns through the same words', () => {
    const ex = topic();
    const short = binding(queue('short'), 'a.#');
    ex.bind(short);
    ex.bind(binding(queue('long'), 'a.#.b'));
    ex.unbind(short.key);
    expect(routed(ex, 'a.x.b')).toEqual(['long']);
    expect(routed(ex, 'a.x')).toEqual([]);
  });
});

/** mulberry32: a seeded generator, so a failure names a seed that replays it */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The rule as written: word lists, `*` one word, `#` any number (backtracking; slow and obviously right). */
function reference(pattern: string[], key: string[]): boolean {
  if (pattern.length === 0) return key.length === 0;
  const [p, ...rest] = pattern;
  if (p === '#') {
    for (let i = 0; i <= key.length; i++) if (reference(rest, key.slice(i))) return true;
    return false;
  }
  return key.length > 0 && (p === '*' || p === key[0]) && reference(rest, key.slice(1));
}

const split = (s: string): string[] => (s === '' ? [] : s.split('.'));

describe('the trie against the reference matcher', () => {
  it('agrees on random bindings and keys, through binds, unbinds and rebinds', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const r = rng(seed);
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
      const word = (): string => pick(['a', 'b', 'c', '']);
      const patternWord = (): string => pick(['a', 'b', '*', '#', '#', '']);
      const make = (w: () => string): string => Array.from({ length: Math.floor(r() * 5) }, w).join('.');
      const queues = Array.from({ length: 6 }, (_, i) => queue(`q${i}`));
      const ex = topic();
      const live = new Map<string, { dest: Destination; pattern: string }>();
      for (let step = 0; step < 200; step++) {
        if (live.size > 0 && r() < 0.3) {
          const k = pick([...live.keys()]);
          ex.unbind(k);
          live.delete(k);
        } else {
          const dest = pick(queues);
          const b = binding(dest, make(patternWord));
          if (ex.bind(b)) live.set(b.key, { dest, pattern: b.routingKey });
        }
        const key = make(word);
        const want = [...new Set([...live.values()].filter((l) => reference(split(l.pattern), split(key))).map((l) => l.dest.name))].sort();
        expect(routed(ex, key), `seed ${seed} step ${step} key ${JSON.stringify(key)}`).toEqual(want);
      }
    }
  });
});
