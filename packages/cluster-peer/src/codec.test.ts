import { describe, expect, it } from 'vitest';
import { encodeFrame, FrameDecoder, FrameKind, FrameWriter, packInner, packr, unpackBody, unpackViews } from './codec.ts';
import { PeerError } from './errors.ts';
import { SeededRandom } from './random.ts';

function collect(max = 1 << 20): { decoder: FrameDecoder; frames: Array<[number, Buffer]> } {
  const frames: Array<[number, Buffer]> = [];
  const decoder = new FrameDecoder({ onFrame: (kind, body) => frames.push([kind, Buffer.from(body)]) }, max);
  return { decoder, frames };
}

describe('FrameDecoder', () => {
  it('decodes frames regardless of how the stream is split (fuzzed chunk boundaries)', () => {
    const random = new SeededRandom(42);
    const payloads = Array.from({ length: 200 }, (_, i) => ({ i, data: 'x'.repeat(random.uint32() % 3000) }));
    const writer = new FrameWriter();
    for (const p of payloads) writer.write(FrameKind.MESSAGE, 0, false, packr.pack(p));
    const stream = writer.take()!;
    for (let round = 0; round < 20; round++) {
      const { decoder, frames } = collect();
      let offset = 0;
      while (offset < stream.length) {
        const n = 1 + (random.uint32() % (round < 10 ? 7 : 5000));
        decoder.push(stream.subarray(offset, offset + n));
        offset += n;
      }
      expect(frames.map(([kind, body]) => [kind, packr.unpack(body)])).toEqual(payloads.map((p) => [FrameKind.MESSAGE, p]));
    }
  });

  it('rejects an oversize frame from its length header alone, before buffering the body', () => {
    const { decoder, frames } = collect(1024);
    const header = Buffer.alloc(4);
    header.writeUInt32BE(0xfffffff0, 0);
    expect(() => decoder.push(header)).toThrowError(expect.objectContaining({ code: 'FRAME_TOO_LARGE' }) as Error);
    expect(frames).toHaveLength(0);
  });

  it('rejects an oversize frame whose header is split across chunks', () => {
    const { decoder } = collect(1024);
    const frame = Buffer.alloc(4);
    frame.writeUInt32BE(1025, 0);
    decoder.push(frame.subarray(0, 3));
    expect(() => decoder.push(frame.subarray(3))).toThrow(PeerError);
  });

  it('accepts a frame of exactly the maximum size and rejects an empty frame', () => {
    const { decoder, frames } = collect(10);
    decoder.push(encodeFrame(FrameKind.MESSAGE, Buffer.alloc(9, 7)));
    expect(frames[0]![1]).toEqual(Buffer.alloc(9, 7));
    expect(() => decoder.push(Buffer.alloc(4))).toThrowError(expect.objectContaining({ code: 'PROTOCOL_ERROR' }) as Error);
  });

  it('keeps bytes while paused and delivers them, in order, to the new sink on resume', () => {
    const first: number[] = [];
    const second: number[] = [];
    const decoder = new FrameDecoder(
      {
        onFrame: (kind) => {
          first.push(kind);
          decoder.pause();
        },
      },
      100,
    );
    decoder.push(Buffer.concat([encodeFrame(1, null), encodeFrame(2, null), encodeFrame(3, null)]));
    decoder.push(encodeFrame(4, null));
    expect(first).toEqual([1]);
    decoder.resume({ onFrame: (kind) => second.push(kind) });
    expect(second).toEqual([2, 3, 4]);
  });

  it('hands out a frame reassembled from split chunks as owned, and one whole in a chunk as shared', () => {
    const got: Array<[Buffer, boolean]> = [];
    const decoder = new FrameDecoder({ onFrame: (_kind, body, owned) => got.push([body, owned]) }, 1 << 20);
    const whole = encodeFrame(FrameKind.MESSAGE, Buffer.alloc(5000, 1));
    const split = encodeFrame(FrameKind.MESSAGE, Buffer.alloc(5000, 2));
    const chunk = Buffer.concat([whole, split.subarray(0, 100)]);
    decoder.push(chunk);
    decoder.push(split.subarray(100));
    expect(got.map(([body, owned]) => [body.length, body[0], owned])).toEqual([
      [5000, 1, false],
      [5000, 2, true],
    ]);
    expect(got[0]![0].buffer).toBe(chunk.buffer);
    expect(got[1]![0].buffer).not.toBe(chunk.buffer);
  });
});

describe('unpackBody', () => {
  const message = (): Buffer => Buffer.concat([Buffer.alloc(50), packr.pack({ type: 'mq', body: Buffer.alloc(2000, 9) })]).subarray(50);

  it('copies the binaries of a body in a shared chunk, so a kept one does not pin the chunk', () => {
    const body = message();
    const m = unpackBody(body, FrameKind.MESSAGE) as { body: Uint8Array };
    expect(Buffer.from(m.body).equals(Buffer.alloc(2000, 9))).toBe(true);
    expect(m.body.buffer).not.toBe(body.buffer);
  });

  it('hands out the binaries of an owned body as views into it, without a copy', () => {
    const body = message();
    const m = unpackBody(body, FrameKind.MESSAGE, true) as { body: Uint8Array };
    expect(Buffer.from(m.body).equals(Buffer.alloc(2000, 9))).toBe(true);
    expect(m.body.buffer).toBe(body.buffer);
  });
});

describe('FrameWriter', () => {
  it('hands out everything written since the last take as one buffer and never rewrites handed-out bytes', () => {
    const writer = new FrameWriter();
    writer.write(FrameKind.REQUEST, 7, true, Buffer.from('ab'));
    writer.write(FrameKind.HEARTBEAT, 0, false, null);
    const batch = writer.take()!;
    expect([...batch]).toEqual([0, 0, 0, 7, FrameKind.REQUEST, 0, 0, 0, 7, 0x61, 0x62, 0, 0, 0, 1, FrameKind.HEARTBEAT]);
    const copy = Buffer.from(batch);
    for (let i = 0; i < 5000; i++) writer.write(FrameKind.MESSAGE, 0, false, Buffer.alloc(100, i));
    expect(writer.take()!.length).toBe(5000 * 105);
    expect(batch).toEqual(copy);
    expect(writer.take()).toBeNull();
    writer.write(FrameKind.HEARTBEAT, 0, false, null);
    expect([...writer.take()!]).toEqual([0, 0, 0, 1, FrameKind.HEARTBEAT]);
  });
});

describe('packr', () => {
  it('decodes binaries as copies, so a kept message body does not pin the received chunk', () => {
    const chunk = Buffer.concat([Buffer.alloc(1000), packr.pack({ body: Buffer.from('payload') })]);
    const decoded = packr.unpack(chunk.subarray(1000)) as { body: Buffer };
    expect(decoded.body.toString()).toBe('payload');
    expect(decoded.body.buffer).not.toBe(chunk.buffer);
  });
});

describe('packInner / unpackViews', () => {
  it('sends a part with many binaries as one binary: the receiver copies it once, and its binaries are views into that copy', () => {
    const ops = Array.from({ length: 50 }, (_, i) => [0, i, 'amq.direct', `key.${i}`, Buffer.from([0, 0]), Buffer.alloc(1024, i)]);
    const sent = packr.pack({ type: 'mq', ops: packInner(ops) });
    // what the receiving link decodes: the part is one binary of its own
    const received = packr.unpack(Buffer.concat([Buffer.alloc(10), sent]).subarray(10)) as { ops: Uint8Array };
    const back = unpackViews(received.ops) as [number, number, string, string, Uint8Array, Uint8Array][];
    expect(back).toHaveLength(50);
    back.forEach((op, i) => {
      expect(op.slice(0, 4)).toEqual([0, i, 'amq.direct', `key.${i}`]);
      expect(Buffer.from(op[5]).equals(Buffer.alloc(1024, i))).toBe(true);
      expect(op[5].buffer).toBe(received.ops.buffer);
    });
  });
});
