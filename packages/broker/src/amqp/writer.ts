// A growable output buffer that frames are encoded into back to back; the connection flushes it with one socket
// write per batch (STYLE: one write per batch of outgoing frames).
import { Float, type FieldTable, type FieldValue } from './reader.ts';

export const FRAME_METHOD = 1;
export const FRAME_HEADER = 2;
export const FRAME_BODY = 3;
export const FRAME_HEARTBEAT = 8;
export const FRAME_END = 0xce;
export const FRAME_OVERHEAD = 8;

const INITIAL_SIZE = 64 * 1024;
/** A buffer given back after a write is kept for reuse up to this size; bigger ones (a rare burst) go to the GC. */
const MAX_SPARE_BYTES = 1024 * 1024;
/** shortstrs up to this many characters are tried as ASCII in a JS loop first */
const SHORTSTR_FAST_MAX = 64;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

export class Writer {
  buf: Buffer;
  pos = 0;
  private readonly initialSize: number;
  /** buffers handed out by handOut() whose bytes are still being written, oldest first */
  private readonly lent: Buffer[] = [];
  private spare: Buffer | null = null;

  constructor(size = INITIAL_SIZE) {
    this.initialSize = size;
    this.buf = Buffer.allocUnsafe(size);
  }

  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  /** Hands the encoded bytes out (a copy when small, so the big buffer is reused) and empties the writer. */
  take(): Buffer {
    const out = Buffer.allocUnsafe(this.pos);
    this.buf.copy(out, 0, 0, this.pos);
    this.pos = 0;
    return out;
  }

  /**
   * Hands the encoded bytes out as a view of the buffer itself (no copy, no allocation) and goes on in a spare buffer.
   * The caller calls written() once those bytes are written (in the order handed out); the buffer is then the next
   * spare, so a steady stream of batches ping-pongs between two buffers instead of allocating one per batch (each
   * allocation is external memory, and external memory drives V8's major GCs).
   */
  handOut(): Buffer {
    const full = this.buf;
    const out = full.subarray(0, this.pos);
    this.lent.push(full);
    this.buf = this.spare ?? Buffer.allocUnsafe(this.initialSize);
    this.spare = null;
    this.pos = 0;
    return out;
  }

  /** The oldest buffer handed out is written: reuse it. */
  written(): void {
    const b = this.lent.shift();
    if (b !== undefined && this.spare === null && b.length <= MAX_SPARE_BYTES) this.spare = b;
  }

  octet(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }

  short(v: number): void {
    this.ensure(2);
    this.buf.writeUInt16BE(v, this.pos);
    this.pos += 2;
  }

  long(v: number): void {
    this.ensure(4);
    this.buf.writeUInt32BE(v >>> 0, this.pos);
    this.pos += 4;
  }

  longlong(v: number): void {
    this.ensure(8);
    this.buf.writeUInt32BE(Math.floor(v / 0x1_0000_0000) >>> 0, this.pos);
    this.buf.writeUInt32BE(v >>> 0, this.pos + 4);
    this.pos += 8;
  }

  timestamp(v: Date | number): void {
    this.longlong(typeof v === 'number' ? v : Math.floor(v.getTime() / 1000));
  }

  shortstr(s: string): void {
    const n = s.length;
    if (n <= SHORTSTR_FAST_MAX) {
      // short ASCII (exchange names, routing keys, consumer tags: several per delivery) written in place; a native
      // byteLength + utf8 write costs more than the loop
      this.ensure(1 + n);
      const b = this.buf;
      const at = this.pos + 1;
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        b[at + i] = c;
      }
      if (i === n) {
        b[this.pos] = n;
        this.pos = at + n;
        return;
      }
    }
    const len = Buffer.byteLength(s);
    if (len > 255) throw new RangeError(`shortstr too long (${len} bytes)`);
    this.ensure(1 + len);
    this.buf[this.pos++] = len;
    this.pos += this.buf.write(s, this.pos, 'utf8');
  }

  longstr(s: string | Buffer): void {
    if (typeof s === 'string') {
      const len = Buffer.byteLength(s);
      this.ensure(4 + len);
      this.buf.writeUInt32BE(len, this.pos);
      this.pos += 4;
      this.pos += this.buf.write(s, this.pos, 'utf8');
    } else {
      this.bytes32(s);
    }
  }

  bytes32(b: Buffer): void {
    this.ensure(4 + b.length);
    this.buf.writeUInt32BE(b.length, this.pos);
    this.pos += 4;
    b.copy(this.buf, this.pos);
    this.pos += b.length;
  }

  raw(b: Buffer, start = 0, end = b.length): void {
    this.ensure(end - start);
    b.copy(this.buf, this.pos, start, end);
    this.pos += end - start;
  }

  table(t: FieldTable | undefined): void {
    const start = this.pos;
    this.long(0);
    if (t) {
      for (const key of Object.keys(t)) {
        const v = t[key];
        if (v === undefined) continue;
        this.shortstr(key);
        this.fieldValue(v);
      }
    }
    this.buf.writeUInt32BE(this.pos - start - 4, start);
  }

  /**
   * Encodes a value with the type it was decoded with (reader.ts: Float keeps floats and integral doubles), so a
   * message re-encoded by dead-lettering or the store carries the headers its publisher sent, as in RabbitMQ. Plain
   * numbers pick a type: int, long, or a double for fractions and for integers beyond a long. Never throws for a
   * value the Reader or the management API's JSON can produce.
   */
  fieldValue(v: FieldValue): void {
    if (typeof v === 'string') {
      this.octet(0x53);
      this.longstr(v);
    } else if (typeof v === 'number') {
      if (Number.isInteger(v) && v >= -0x8000_0000 && v <= 0x7fff_ffff) {
        this.octet(0x49);
        this.ensure(4);
        this.buf.writeInt32BE(v, this.pos);
        this.pos += 4;
      } else if (Number.isInteger(v) && v >= -0x8000_0000_0000_0000 && v < 0x8000_0000_0000_0000) {
        this.int64(BigInt(v));
      } else {
        this.double(v);
      }
    } else if (typeof v === 'bigint') {
      if (v >= INT64_MIN && v <= INT64_MAX) this.int64(v);
      else this.double(Number(v));
    } else if (typeof v === 'boolean') {
      this.octet(0x74);
      this.octet(v ? 1 : 0);
    } else if (v === null) {
      this.octet(0x56);
    } else if (v instanceof Float) {
      if (v.bits === 32) {
        this.octet(0x66);
        this.ensure(4);
        this.buf.writeFloatBE(v.value, this.pos);
        this.pos += 4;
      } else this.double(v.value);
    } else if (Buffer.isBuffer(v)) {
      this.octet(0x78);
      this.bytes32(v);
    } else if (v instanceof Date) {
      this.octet(0x54);
      const t = v.getTime();
      this.timestamp(Number.isFinite(t) && t >= 0 ? Math.floor(t / 1000) : 0);
    } else if (Array.isArray(v)) {
      this.octet(0x41);
      const start = this.pos;
      this.long(0);
      for (const item of v) this.fieldValue(item);
      this.buf.writeUInt32BE(this.pos - start - 4, start);
    } else if (isDecimal(v)) {
      this.octet(0x44);
      this.octet(v.scale);
      this.ensure(4);
      this.buf.writeInt32BE(v.value, this.pos);
      this.pos += 4;
    } else {
      this.octet(0x46);
      this.table(v as FieldTable);
    }
  }

  private int64(v: bigint): void {
    this.octet(0x6c);
    this.ensure(8);
    this.buf.writeBigInt64BE(v, this.pos);
    this.pos += 8;
  }

  private double(v: number): void {
    this.octet(0x64);
    this.ensure(8);
    this.buf.writeDoubleBE(v, this.pos);
    this.pos += 8;
  }

  /** Starts a frame; returns its start offset for endFrame. */
  beginFrame(type: number, channel: number): number {
    this.ensure(7);
    const start = this.pos;
    this.buf[this.pos] = type;
    this.buf.writeUInt16BE(channel, this.pos + 1);
    this.pos += 7;
    return start;
  }

  endFrame(start: number): void {
    this.buf.writeUInt32BE(this.pos - start - 7, start + 3);
    this.octet(FRAME_END);
  }

  heartbeat(): void {
    this.ensure(8);
    this.buf[this.pos] = FRAME_HEARTBEAT;
    this.buf.writeUInt16BE(0, this.pos + 1);
    this.buf.writeUInt32BE(0, this.pos + 3);
    this.buf[this.pos + 7] = FRAME_END;
    this.pos += 8;
  }
}

/** A decimal as the Reader makes it (scale 0-255, a signed 32-bit value); any other object is a table. */
function isDecimal(v: object): v is { scale: number; value: number } {
  const o = v as Record<string, unknown>;
  const scale = o['scale'];
  const value = o['value'];
  return Object.keys(o).length === 2 && Number.isInteger(scale) && (scale as number) >= 0 && (scale as number) <= 255 &&
    Number.isInteger(value) && (value as number) >= -0x8000_0000 && (value as number) <= 0x7fff_ffff;
}
