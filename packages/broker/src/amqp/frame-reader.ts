// Splits a byte stream into AMQP frames (AMQP 0-9-1 §4.2.3: type, channel, size, payload, 0xCE).
// A frame that lies whole inside a socket chunk is handed out as a view of that chunk (zero copy); only frames split
// across chunks are copied into a reassembly buffer, a fresh one per frame, so views of emitted frames stay valid.
import { FrameError } from './errors.ts';
import { FRAME_END } from './writer.ts';

export interface FrameSink {
  /**
   * payload is buf[start, end). buf is never written again after the call (a socket chunk, or a reassembly buffer
   * that is replaced, not reused), so a sink may keep a view of it: the channel keeps whole message bodies that way.
   */
  onFrame(type: number, channel: number, buf: Buffer, start: number, end: number): void;
}

export class FrameReader {
  private pending: Buffer | null = null;
  private pendingLen = 0;
  frameMax: number;

  constructor(frameMax: number) {
    this.frameMax = frameMax;
  }

  push(chunk: Buffer, sink: FrameSink): void {
    const buf = chunk;
    let pos = 0;
    if (this.pending !== null) {
      if (this.pendingLen < 7) {
        const take = Math.min(7 - this.pendingLen, buf.length);
        this.append(buf, 0, take);
        pos = take;
        if (this.pendingLen < 7) return;
      }
      const size = this.pending.readUInt32BE(3);
      this.checkSize(size);
      const need = size + 8 - this.pendingLen;
      const take = Math.min(need, buf.length - pos);
      this.append(buf, pos, pos + take);
      pos += take;
      if (take < need) return;
      const p = this.pending;
      const len = this.pendingLen;
      this.pending = null;
      this.pendingLen = 0;
      this.emit(p, 0, len, sink);
    }
    const end = buf.length;
    while (pos < end) {
      if (end - pos < 7) {
        this.stash(buf, pos, end);
        return;
      }
      const size = buf.readUInt32BE(pos + 3);
      this.checkSize(size);
      const total = size + 8;
      if (end - pos < total) {
        this.stash(buf, pos, end, total);
        return;
      }
      this.emit(buf, pos, pos + total, sink);
      pos += total;
    }
  }

  private checkSize(size: number): void {
    // frame_max includes the 8 bytes of frame overhead (AMQP 0-9-1 §4.2.3)
    if (size + 8 > this.frameMax) throw new FrameError(`frame size ${size + 8} exceeds frame_max ${this.frameMax}`);
  }

  private stash(buf: Buffer, start: number, end: number, total = 0): void {
    const cap = Math.max(total, 4096, end - start);
    this.pending = Buffer.allocUnsafe(cap);
    buf.copy(this.pending, 0, start, end);
    this.pendingLen = end - start;
  }

  private append(buf: Buffer, start: number, end: number): void {
    const p = this.pending!;
    const n = end - start;
    if (this.pendingLen + n > p.length) {
      let cap = p.length * 2;
      if (this.pendingLen >= 7) cap = Math.max(cap, p.readUInt32BE(3) + 8);
      while (cap < this.pendingLen + n) cap *= 2;
      const next = Buffer.allocUnsafe(cap);
      p.copy(next, 0, 0, this.pendingLen);
      this.pending = next;
    }
    buf.copy(this.pending!, this.pendingLen, start, end);
    this.pendingLen += n;
  }

  private emit(buf: Buffer, start: number, end: number, sink: FrameSink): void {
    if (buf[end - 1] !== FRAME_END) throw new FrameError(`frame end octet missing (got 0x${(buf[end - 1] ?? 0).toString(16)})`);
    sink.onFrame(buf[start]!, buf.readUInt16BE(start + 1), buf, start + 7, end - 1);
  }
}
