import { describe, expect, it } from 'vitest';
import * as M from '../amqp/methods.ts';
import { MessageDecoder, rawProps } from './wire-message.ts';
import { Message } from '../queue/message.ts';

function encoded(props: M.BasicProperties): Buffer {
  return rawProps(new Message('', 'k', props, null, Buffer.alloc(0), 0));
}

describe('MessageDecoder', () => {
  it('gives each message the properties it was sent with, across runs of equal and changing properties', () => {
    const d = new MessageDecoder();
    const a = encoded({ deliveryMode: 2, contentType: 'text/plain' });
    const b = encoded({ deliveryMode: 1, headers: { x: 1 } });
    const seq = [a, a, b, b, a];
    const msgs = seq.map((p, i) => d.decode('ex', `k${i}`, Buffer.from(p), Buffer.from(`body ${i}`), 1000 + i));
    expect(msgs.map((m) => m.properties.deliveryMode)).toEqual([2, 2, 1, 1, 2]);
    expect(msgs[0]!.properties.contentType).toBe('text/plain');
    expect(msgs[2]!.properties.headers).toEqual({ x: 1 });
    expect(msgs.map((m) => m.persistent)).toEqual([true, true, false, false, true]);
    expect(msgs.map((m) => m.body.toString())).toEqual(seq.map((_, i) => `body ${i}`));
    expect(msgs.map((m) => [m.exchange, m.routingKey, m.timestamp])).toEqual(seq.map((_, i) => ['ex', `k${i}`, 1000 + i]));
    // the raw properties go out again on delivery as they came in
    expect(msgs.map((m) => m.rawProperties!.equals(seq[msgs.indexOf(m)]!))).toEqual([true, true, true, true, true]);
  });

  it('copies a body on request, so a message from a large batch does not keep the batch alive', () => {
    const d = new MessageDecoder();
    const batch = Buffer.alloc(64 * 1024, 7);
    const viewed = d.decode('', 'k', encoded({}), batch.subarray(100, 200), 0);
    const copied = d.decode('', 'k', encoded({}), batch.subarray(100, 200), 0, true);
    expect(viewed.body.buffer).toBe(batch.buffer);
    expect(copied.body.buffer).not.toBe(batch.buffer);
    expect(copied.body.equals(batch.subarray(100, 200))).toBe(true);
  });
});
