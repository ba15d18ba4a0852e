// Field values keep the type they arrived with through a decode and re-encode (dead-lettering and the message store
// re-encode headers), and a nested value cannot take the decoder's stack.
import { describe, expect, it } from 'vitest';
import { Float, MAX_FIELD_DEPTH, Reader, type FieldTable } from './reader.ts';
import { Writer } from './writer.ts';
import { SyntaxError } from './errors.ts';

/** A table as a client puts it on the wire: each value is [tag, bytes]. */
function wire(values: [string, string, Buffer][]): Buffer {
  const parts: Buffer[] = [];
  for (const [k, tag, bytes] of values) parts.push(Buffer.from([k.length]), Buffer.from(k), Buffer.from(tag), bytes);
  const body = Buffer.concat(parts);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length);
  return Buffer.concat([len, body]);
}
const dbl = (v: number): Buffer => { const b = Buffer.alloc(8); b.writeDoubleBE(v); return b; };
const flt = (v: number): Buffer => { const b = Buffer.alloc(4); b.writeFloatBE(v); return b; };
const i64 = (v: bigint): Buffer => { const b = Buffer.alloc(8); b.writeBigInt64BE(v); return b; };

function reencode(b: Buffer): Buffer {
  const w = new Writer(64);
  w.table(new Reader(b).table());
  return w.take();
}

/** an outer table and `levels - 1` tables or arrays inside it, one in the other: {a: {a: ... {}}} or {a: [[...[]]]} */
function nested(levels: number, kind: 'F' | 'A'): Buffer {
  const withLen = (b: Buffer): Buffer => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(b.length);
    return Buffer.concat([len, b]);
  };
  const key = Buffer.from([1, 0x61]);
  let value = Buffer.concat([Buffer.from(kind), Buffer.alloc(4)]);
  for (let i = 2; i < levels; i++) {
    value = Buffer.concat([Buffer.from(kind), withLen(kind === 'F' ? Buffer.concat([key, value]) : value)]);
  }
  return withLen(Buffer.concat([key, value]));
}

describe('field values', () => {
  it('re-encodes floats, integral doubles and longs byte for byte, as RabbitMQ re-encodes them', () => {
    const sent = wire([
      ['one', 'd', dbl(1)],
      ['huge', 'd', dbl(1e96)],
      ['minus', 'd', dbl(-(2 ** 70))],
      ['half', 'd', dbl(0.5)],
      ['f', 'f', flt(2)],
      ['fhalf', 'f', flt(1.5)],
      ['lmin', 'l', i64(-(2n ** 63n))],
      ['lmax', 'l', i64(2n ** 63n - 1n)],
    ]);
    expect(reencode(sent).equals(sent)).toBe(true);
    const t = new Reader(sent).table();
    expect(t['one']).toBeInstanceOf(Float);
    expect(Number(t['huge'])).toBe(1e96);
    expect(t['half']).toBe(0.5);
    expect(JSON.stringify({ one: t['one'], huge: t['huge'], f: t['f'] })).toBe('{"one":1,"huge":1e+96,"f":2}');
  });

  it('encodes any number or bigint without throwing: doubles beyond a long stay doubles', () => {
    const w = new Writer(64);
    w.table({ a: 1e96, b: -1e300, c: 2 ** 63, d: 2n ** 64n, e: Number.NaN, f: Infinity, g: { scale: 1, value: 2 ** 40 } });
    const t = new Reader(w.take()).table();
    expect(Number(t['a'])).toBe(1e96);
    expect(Number(t['b'])).toBe(-1e300);
    expect(Number(t['c'])).toBe(2 ** 63);
    expect(Number(t['d'])).toBe(2 ** 64);
    expect(Number.isNaN(t['e'])).toBe(true);
    expect(t['f']).toBe(Infinity);
    // not a decimal (its value does not fit): a table with the same contents
    expect(Number((t['g'] as FieldTable)['value'])).toBe(2 ** 40);
  });

  it(`refuses tables and arrays nested deeper than ${MAX_FIELD_DEPTH} levels with a syntax error (502), not a stack overflow`, () => {
    for (const kind of ['F', 'A'] as const) {
      expect(() => new Reader(nested(MAX_FIELD_DEPTH, kind)).table()).not.toThrow();
      for (const depth of [MAX_FIELD_DEPTH + 1, 20_000]) {
        let err: unknown;
        try {
          new Reader(nested(depth, kind)).table();
        } catch (e) {
          err = e;
        }
        expect(err).toBeInstanceOf(SyntaxError);
        expect((err as SyntaxError).code).toBe(502);
      }
    }
  });

  it('keeps a value from running past the end of its table', () => {
    // the table says 6 bytes, its string value says 100
    const b = Buffer.concat([Buffer.from([0, 0, 0, 8, 1, 0x6b, 0x53, 0, 0, 0, 100, 0x78]), Buffer.alloc(100)]);
    expect(() => new Reader(b).table()).toThrow(SyntaxError);
  });
});
