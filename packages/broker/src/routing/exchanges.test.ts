// Direct, fanout and headers exchanges in process: which destinations a message reaches, how bindings that differ
// only in arguments count, and the headers exchange's x-match modes (AMQP 0-9-1 §3.1.3, RabbitMQ 3.10's rules).
import { describe, expect, it } from 'vitest';
import { Float, type FieldTable } from '../amqp/reader.ts';
import { DirectExchange } from './direct.ts';
import { bindingKey, type Binding, type Destination, type Exchange } from './exchange.ts';
import { FanoutExchange } from './fanout.ts';
import { HeadersExchange } from './headers.ts';

const OPTS = { durable: false, autoDelete: false, internal: false, arguments: {} };
const q1: Destination = { kind: 'queue', name: 'q1' };
const q2: Destination = { kind: 'queue', name: 'q2' };
const ex2: Destination = { kind: 'exchange', name: 'e2' };

function bind(ex: Exchange, dest: Destination, routingKey: string, args: FieldTable = {}): Binding {
  const b = { source: ex.name, destination: dest, routingKey, arguments: args, key: bindingKey(dest, routingKey, args) };
  ex.bind(b);
  return b;
}

function routed(ex: Exchange, key: string, headers?: FieldTable): string[] {
  const out = new Set<Destination>();
  ex.route(key, headers, out);
  return [...out].map((d) => `${d.kind}:${d.name}`).sort();
}

describe('direct exchange', () => {
  it('routes on the exact key only, to queues and exchanges alike', () => {
    const ex = new DirectExchange('/', 'd', OPTS);
    bind(ex, q1, 'k');
    bind(ex, ex2, 'k');
    bind(ex, q2, 'K');
    expect(routed(ex, 'k')).toEqual(['exchange:e2', 'queue:q1']);
    expect(routed(ex, 'K')).toEqual(['queue:q2']);
    expect(routed(ex, 'k.x')).toEqual([]);
    expect(routed(ex, '')).toEqual([]);
  });

  it('keeps routing a key to a queue while one of its bindings (other arguments) remains', () => {
    const ex = new DirectExchange('/', 'd', OPTS);
    const a = bind(ex, q1, 'k', { v: 1 });
    const b = bind(ex, q1, 'k', { v: 2 });
    expect(routed(ex, 'k')).toEqual(['queue:q1']);
    ex.unbind(a.key);
    expect(routed(ex, 'k')).toEqual(['queue:q1']);
    ex.unbind(b.key);
    expect(routed(ex, 'k')).toEqual([]);
  });

  it('refuses the same binding twice and unbinds what is not bound as a no-op', () => {
    const ex = new DirectExchange('/', 'd', OPTS);
    const b = bind(ex, q1, 'k');
    expect(ex.bind(b)).toBe(false);
    expect(ex.unbind('nothing')).toBeUndefined();
    expect(ex.unbind(b.key)).toBe(b);
    expect(routed(ex, 'k')).toEqual([]);
  });
});

describe('fanout exchange', () => {
  it('routes to every destination whatever the key, each once', () => {
    const ex = new FanoutExchange('/', 'f', OPTS);
    bind(ex, q1, 'a');
    bind(ex, q1, 'b');
    bind(ex, q2, '');
    expect(routed(ex, 'anything')).toEqual(['queue:q1', 'queue:q2']);
  });

  it('drops a destination only with its last binding', () => {
    const ex = new FanoutExchange('/', 'f', OPTS);
    const a = bind(ex, q1, 'a');
    const b = bind(ex, q1, 'b');
    ex.unbind(a.key);
    expect(routed(ex, '')).toEqual(['queue:q1']);
    ex.unbind(b.key);
    expect(routed(ex, '')).toEqual([]);
  });
});

describe('headers exchange', () => {
  const ex = new HeadersExchange('/', 'h', OPTS);
  bind(ex, { kind: 'queue', name: 'all' }, '', { 'x-match': 'all', format: 'pdf', type: 'report' });
  bind(ex, { kind: 'queue', name: 'any' }, '', { 'x-match': 'any', format: 'pdf', type: 'report' });
  bind(ex, { kind: 'queue', name: 'default' }, 'ignored', { format: 'pdf' });
  bind(ex, { kind: 'queue', name: 'present' }, '', { flag: null });
  bind(ex, { kind: 'queue', name: 'num' }, '', { 'x-match': 'all', n: 1 });
  bind(ex, { kind: 'queue', name: 'all-with-x' }, '', { 'x-match': 'all-with-x', 'x-tag': 'a' });
  bind(ex, { kind: 'queue', name: 'x-ignored' }, '', { 'x-match': 'all', 'x-tag': 'a' });

  it('x-match all needs every header; any needs one; all is the default; the routing key is ignored', () => {
    expect(routed(ex, 'k', { format: 'pdf', type: 'report' })).toEqual(['queue:all', 'queue:any', 'queue:default', 'queue:x-ignored']);
    expect(routed(ex, 'k', { format: 'pdf' })).toEqual(['queue:any', 'queue:default', 'queue:x-ignored']);
    expect(routed(ex, 'k', { type: 'report', format: 'zip' })).toEqual(['queue:any', 'queue:x-ignored']);
  });

  it('a void binding value matches on the header being there, whatever its value', () => {
    expect(routed(ex, '', { flag: false })).toContain('queue:present');
    expect(routed(ex, '', { flag: null })).toContain('queue:present');
    expect(routed(ex, '', {})).not.toContain('queue:present');
  });

  it('numbers match by value across types (int, long, double, float, timestamp), not strings', () => {
    for (const v of [1, 1n, new Float(1, 64), new Float(1, 32), new Date(1000)]) expect(routed(ex, '', { n: v })).toContain('queue:num');
    for (const v of ['1', 1.5, new Float(1.5, 32), { scale: 0, value: 1 }]) expect(routed(ex, '', { n: v })).not.toContain('queue:num');
  });

  it('x- arguments count only with all-with-x / any-with-x', () => {
    expect(routed(ex, '', { 'x-tag': 'a' })).toContain('queue:all-with-x');
    expect(routed(ex, '', { 'x-tag': 'b' })).not.toContain('queue:all-with-x');
    // x-ignored has no other argument: x-match all over nothing matches every message
    expect(routed(ex, '', {})).toContain('queue:x-ignored');
  });

  it('no headers at all match only bindings with nothing to match', () => {
    expect(routed(ex, '', undefined)).toEqual(['queue:x-ignored']);
  });
});
