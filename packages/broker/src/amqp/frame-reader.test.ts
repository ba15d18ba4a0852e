import { describe, expect, it } from 'vitest';
import { FrameReader } from './frame-reader.ts';
import { Writer } from './writer.ts';
import * as M from './methods.ts';

function frames(): Buffer {
  const w = new Writer(64);
  M.encodeChannelOpen(w, 1, '');
  M.encodeBasicPublish(w, 1, 0, 'ex', 'rk', false, false);
  const s = w.beginFrame(2, 1);
  w.long(0x003c0000);
  w.longlong(5);
  w.short(0);
  w.endFrame(s);
  const b = w.beginFrame(3, 1);
  w.raw(Buffer.from('hello'));
  w.endFrame(b);
  w.heartbeat();
  return w.take();
}

function collect(chunks: Buffer[], frameMax = 4096): string[] {
  const r = new FrameReader(frameMax);
  const out: string[] = [];
  for (const c of chunks) r.push(c, { onFrame: (t, ch, buf, s, e) => out.push(`${t}/${ch}/${buf.subarray(s, e).toString('hex')}`) });
  return out;
}

describe('FrameReader', () => {
  it('gives the same frames whatever the chunk boundaries', () => {
    const all = frames();
    const whole = collect([all]);
    expect(whole).toHaveLength(5);
    for (let cut = 1; cut < all.length; cut++) expect(collect([all.subarray(0, cut), all.subarray(cut)])).toEqual(whole);
    expect(collect([...all].map((b) => Buffer.from([b])))).toEqual(whole);
  });

  it('hands whole frames out as views of the socket chunk (zero copy)', () => {
    const all = frames();
    const r = new FrameReader(4096);
    const bufs: Buffer[] = [];
    r.push(all, { onFrame: (_t, _c, buf) => bufs.push(buf) });
    expect(bufs.every((b) => b === all)).toBe(true);
  });

  it('refuses a frame larger than frame_max with a frame error (501)', () => {
    const w = new Writer(64);
    const s = w.beginFrame(3, 1);
    w.raw(Buffer.alloc(5000));
    w.endFrame(s);
    expect(() => collect([w.take()], 4096)).toThrow(expect.objectContaining({ code: 501 }));
  });

  it('refuses a frame without the frame-end octet (501)', () => {
    const all = frames();
    all[all.length - 1] = 0;
    expect(() => collect([all])).toThrow(expect.objectContaining({ code: 501 }));
  });
});
