import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { generate, OUT_PATH, SPEC_PATH } from '../../scripts/gen-methods.ts';
import { Reader } from './reader.ts';
import { Writer } from './writer.ts';
import * as M from './methods.ts';

describe('generated codec', () => {
  it('is up to date with the spec (run npm run codegen after changing the generator or the spec)', () => {
    const spec = JSON.parse(readFileSync(SPEC_PATH, 'utf8'));
    expect(readFileSync(OUT_PATH, 'utf8')).toBe(generate(spec));
  });

  it('round-trips basic.consume with packed bits and a field table', () => {
    const w = new Writer(64);
    M.encodeBasicConsume(w, 7, 0, 'q1', 'tag', false, true, true, false, { 'x-priority': 5, nested: { a: [1, 'two', true] } });
    const buf = w.take();
    expect(buf[0]).toBe(1);
    expect(buf.readUInt16BE(1)).toBe(7);
    const size = buf.readUInt32BE(3);
    expect(buf[7 + size]).toBe(0xce);
    expect(buf.readUInt32BE(7)).toBe(M.BASIC_CONSUME);
    const d = M.decodeBasicConsume(new Reader(buf, 11, 7 + size));
    expect(d).toEqual({ ticket: 0, queue: 'q1', consumerTag: 'tag', noLocal: false, noAck: true, exclusive: true, nowait: false, arguments: { 'x-priority': 5, nested: { a: [1, 'two', true] } } });
  });

  it('round-trips every basic property', () => {
    const props: M.BasicProperties = {
      contentType: 'text/plain', contentEncoding: 'gzip', headers: { k: 'v', n: 2 ** 40 }, deliveryMode: 2, priority: 9,
      correlationId: 'c', replyTo: 'r', expiration: '1000', messageId: 'm', timestamp: new Date(1_700_000_000_000),
      type: 't', userId: 'guest', appId: 'a', clusterId: 'x',
    };
    const w = new Writer(16);
    M.encodeProperties(w, props);
    const buf = w.take();
    const flags = buf.readUInt16BE(0);
    expect(M.decodeProperties(new Reader(buf, 2), flags)).toEqual(props);
  });

  it('rejects a truncated method with a syntax error (502)', () => {
    const w = new Writer(64);
    M.encodeQueueDeclare(w, 1, 0, 'a-long-queue-name', false, true, false, false, false, {});
    const buf = w.take();
    expect(() => M.decodeQueueDeclare(new Reader(buf, 11, 15))).toThrow(expect.objectContaining({ code: 502 }));
  });
});
