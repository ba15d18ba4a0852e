// Unit tests for the pure parts of the management plugin: reply shaping, value conversions, binding keys, paths.
import { describe, expect, it } from 'vitest';
import { shape } from './shape.ts';
import { encodePayload, fieldToJson, jsonToProperties, jsonToTable, propertiesToJson } from './convert.ts';
import { propertiesKey } from './format.ts';
import { boolField, splitPath, ApiError } from './http.ts';
import { parseTags } from './definitions.ts';
import { Family, render } from './metrics.ts';

describe('shape', () => {
  const list = [
    { name: 'b', n: 2, stats: { rate: 1, other: 0 } },
    { name: 'a', n: 10, stats: { rate: 3 } },
    { name: 'c', n: 1 },
  ];
  it('keeps only the requested (dotted) columns', () => {
    expect(shape(list, new URLSearchParams('columns=name,stats.rate'))).toEqual([{ name: 'b', stats: { rate: 1 } }, { name: 'a', stats: { rate: 3 } }, { name: 'c' }]);
    expect(shape({ a: 1, b: { c: 2, d: 3 } }, new URLSearchParams('columns=b.d'))).toEqual({ b: { d: 3 } });
  });
  it('sorts numbers numerically and reverses', () => {
    expect((shape(list, new URLSearchParams('sort=n')) as { n: number }[]).map((x) => x.n)).toEqual([1, 2, 10]);
    expect((shape(list, new URLSearchParams('sort=name&sort_reverse=true')) as { name: string }[]).map((x) => x.name)).toEqual(['c', 'b', 'a']);
  });
  it('pages with a name filter', () => {
    expect(shape(list, new URLSearchParams('page=2&page_size=2&sort=name'))).toMatchObject({ items: [{ name: 'c' }], page: 2, page_count: 2, total_count: 3, filtered_count: 3, item_count: 1 });
    expect(shape(list, new URLSearchParams('page=1&name=A'))).toMatchObject({ filtered_count: 1 });
    expect(shape(list, new URLSearchParams('page=1&name=^[ab]$&use_regex=true'))).toMatchObject({ filtered_count: 2 });
    expect(() => shape(list, new URLSearchParams('page=0'))).toThrow(ApiError);
    expect(() => shape(list, new URLSearchParams('page=1&name=(&use_regex=true'))).toThrow(ApiError);
  });
});

describe('conversions', () => {
  it('turns AMQP field values into JSON', () => {
    expect(fieldToJson(5n)).toBe(5);
    expect(fieldToJson(new Date(1_700_000_000_123))).toBe(1_700_000_000);
    expect(fieldToJson(Buffer.from('hi'))).toBe('hi');
    expect(fieldToJson({ scale: 2, value: 314 })).toBeCloseTo(3.14);
    expect(fieldToJson([1, { a: 2n }])).toEqual([1, { a: 2 }]);
  });
  it('maps publish properties both ways and refuses unknown ones', () => {
    const p = jsonToProperties({ delivery_mode: 2, headers: { a: 1 }, content_type: 'text/plain', timestamp: 1700000000, priority: '4' });
    expect(p).toEqual({ deliveryMode: 2, headers: { a: 1 }, contentType: 'text/plain', timestamp: new Date(1_700_000_000_000), priority: 4 });
    expect(propertiesToJson(p)).toEqual({ delivery_mode: 2, headers: { a: 1 }, content_type: 'text/plain', timestamp: 1700000000, priority: 4 });
    expect(() => jsonToProperties({ nope: 1 })).toThrow(/invalid property/);
    expect(() => jsonToProperties({ delivery_mode: 300 })).toThrow(ApiError);
    expect(() => jsonToTable([1], 'arguments')).toThrow(ApiError);
  });
  it('encodes payloads as string when valid UTF-8, else base64', () => {
    expect(encodePayload(Buffer.from('héllo'), 'auto', undefined)).toEqual({ payload: 'héllo', payload_encoding: 'string' });
    expect(encodePayload(Buffer.from([0xff, 0xfe]), 'auto', undefined)).toEqual({ payload: '//4=', payload_encoding: 'base64' });
    expect(encodePayload(Buffer.from('abc'), 'base64', undefined)).toEqual({ payload: 'YWJj', payload_encoding: 'base64' });
    expect(encodePayload(Buffer.from('abcdef'), 'auto', 3)).toEqual({ payload: 'abc', payload_encoding: 'string' });
  });
  it('reads booleans as RabbitMQ does (rabbitmqadmin sends strings)', () => {
    expect(boolField({ d: 'false' }, 'd', true)).toBe(false);
    expect(boolField({ d: true }, 'd', false)).toBe(true);
    expect(boolField({}, 'd', true)).toBe(true);
    expect(() => boolField({ d: 'yes' }, 'd', true)).toThrow(ApiError);
  });
  it('parses tags as a comma list or a JSON list', () => {
    expect(parseTags('administrator, monitoring')).toEqual(['administrator', 'monitoring']);
    expect(parseTags(['management'])).toEqual(['management']);
    expect(parseTags('')).toEqual([]);
  });
});

describe('binding properties keys and paths', () => {
  it('follows RabbitMQ: ~ for empty, the quoted key, or key~hash with arguments', () => {
    expect(propertiesKey('', {})).toBe('~');
    expect(propertiesKey('a.b', {})).toBe('a.b');
    expect(propertiesKey('a/b c', {})).toBe('a%2Fb+c');
    expect(propertiesKey('x~y.#*', {})).toBe('x%7Ey.%23%2A');
    expect(propertiesKey('é', {})).toBe('%C3%A9');
    const k1 = propertiesKey('rk', { x: 1 });
    expect(k1).toMatch(/^rk~[0-9a-z]+$/);
    expect(propertiesKey('rk', { x: 1 })).toBe(k1);
    expect(propertiesKey('rk', { x: 2 })).not.toBe(k1);
  });
  it('splits and decodes path segments', () => {
    expect(splitPath('/api/queues/%2F/a%20b/')).toEqual(['api', 'queues', '/', 'a b']);
    expect(() => splitPath('/api/%E0%A4%A')).toThrow(ApiError);
  });
});

describe('Prometheus rendering', () => {
  it('escapes label values', () => {
    const f = new Family('rabbitmq_queue_messages', 'gauge', 'depth\nof a queue').add(3, { vhost: '/', queue: 'a"b\\c\nd' });
    expect(render([f])).toBe('# TYPE rabbitmq_queue_messages gauge\n# HELP rabbitmq_queue_messages depth\\nof a queue\nrabbitmq_queue_messages{vhost="/",queue="a\\"b\\\\c\\nd"} 3\n');
  });
});
