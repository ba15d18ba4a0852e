// The headers exchange's value comparison, as measured on RabbitMQ 3.10 (amqplib's typed values, x-match all, one
// key): numbers of every type by value, decimals only with decimals, strings not with numbers.
import { describe, expect, it } from 'vitest';
import { Float, type FieldValue } from '../amqp/reader.ts';
import { matches } from './headers.ts';

const values: Record<string, FieldValue> = {
  int1: 1, long1: 1n, dbl1: new Float(1, 64), flt1: new Float(1, 32), byte1: 1, ts1: new Date(1000),
  dbl15: 1.5, flt15: new Float(1.5, 32), dec1: { scale: 0, value: 1 }, str1: '1',
};

/** which of `values` RabbitMQ 3.10 routed to a binding {x-match: all, n: <pattern>} */
const rabbitmq: [string, FieldValue, string[]][] = [
  ['int 1', 1, ['int1', 'long1', 'dbl1', 'flt1', 'byte1', 'ts1']],
  ['double 1.0', new Float(1, 64), ['int1', 'long1', 'dbl1', 'flt1', 'byte1', 'ts1']],
  ['float 1.5', new Float(1.5, 32), ['dbl15', 'flt15']],
  ['double 1.5', 1.5, ['dbl15', 'flt15']],
  ['decimal 1', { scale: 0, value: 1 }, ['dec1']],
  ['timestamp 1', new Date(1000), ['int1', 'long1', 'dbl1', 'flt1', 'byte1', 'ts1']],
];

describe('headers exchange matching', () => {
  for (const [name, pattern, routed] of rabbitmq) {
    it(`a binding on ${name} matches what RabbitMQ 3.10 matches`, () => {
      const got = Object.keys(values).filter((k) => matches({ 'x-match': 'all', n: pattern }, { n: values[k]! }));
      expect(got).toEqual(routed);
    });
  }

  it('compares longs beyond 2^53 exactly and never throws on a fraction', () => {
    expect(matches({ n: 2n ** 60n }, { n: 2n ** 60n })).toBe(true);
    expect(matches({ n: 2n ** 60n }, { n: 2n ** 60n + 1n })).toBe(false);
    expect(matches({ n: 2n ** 60n }, { n: 2 ** 60 })).toBe(true);
    expect(matches({ n: 2n ** 60n }, { n: 1.5 })).toBe(false);
    expect(matches({ 'x-match': 'any', n: 1, m: 'x' }, { n: new Float(1e96, 64), m: Buffer.from('x') })).toBe(true);
  });
});
