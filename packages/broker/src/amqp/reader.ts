// Decoding of AMQP 0-9-1 primitive types (AMQP 0-9-1 §4.2.5) from a buffer slice, with RabbitMQ's field-table
// tags (the "errata" set RabbitMQ and every mainstream client use instead of the spec's table).
import { SyntaxError } from './errors.ts';

export type FieldValue =
  | string
  | number
  | bigint
  | boolean
  | null
  | Buffer
  | Date
  | FieldValue[]
  | FieldTable
  | Decimal
  | Float;
export interface FieldTable {
  [key: string]: FieldValue;
}
export interface Decimal {
  readonly scale: number;
  readonly value: number;
}

/**
 * A float ('f') or a double ('d') whose type a plain JS number cannot keep: every float, and every double with an
 * integral value (1.0, 1e96), which would otherwise be re-encoded as an int or a long, or not at all. RabbitMQ
 * re-encodes a value with the type it arrived with (dead-lettering, the message store); so does the Writer. A double
 * with a fractional part stays a plain number (the Writer encodes those as doubles). Compares and prints as its
 * number (valueOf, toJSON).
 */
export class Float {
  readonly value: number;
  /** 32 for a float ('f'), 64 for a double ('d') */
  readonly bits: 32 | 64;
  constructor(value: number, bits: 32 | 64) {
    this.value = value;
    this.bits = bits;
  }
  valueOf(): number {
    return this.value;
  }
  toJSON(): number {
    return this.value;
  }
}

/**
 * Nesting of tables and arrays inside a field value, in levels. RabbitMQ's parser has no limit of its own (the
 * frame size bounds it); a recursive decoder here would overflow the stack a few thousand levels down, so deeper
 * values are a syntax error (502). Clients nest a handful of levels (x-death: 2).
 */
export const MAX_FIELD_DEPTH = 100;

/** A cursor over one frame payload; methods throw SyntaxError (502) on truncation. */
export class Reader {
  buf: Buffer;
  pos: number;
  end: number;
  /** tables and arrays open around the value being read */
  private depth = 0;

  constructor(buf: Buffer, pos = 0, end = buf.length) {
    this.buf = buf;
    this.pos = pos;
    this.end = end;
  }

  reset(buf: Buffer, pos: number, end: number): this {
    this.buf = buf;
    this.pos = pos;
    this.end = end;
    this.depth = 0;
    return this;
  }

  need(n: number): void {
    if (this.pos + n > this.end) throw new SyntaxError(`truncated frame: need ${n} bytes at offset ${this.pos}`);
  }

  octet(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }

  short(): number {
    this.need(2);
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  long(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  /** longlong as a JS number: delivery tags and sizes stay far below 2^53. */
  longlong(): number {
    this.need(8);
    const hi = this.buf.readUInt32BE(this.pos);
    const lo = this.buf.readUInt32BE(this.pos + 4);
    this.pos += 8;
    return hi * 0x1_0000_0000 + lo;
  }

  timestamp(): Date {
    return new Date(this.longlong() * 1000);
  }

  shortstr(): string {
    const len = this.octet();
    this.need(len);
    const s = this.buf.toString('utf8', this.pos, this.pos + len);
    this.pos += len;
    return s;
  }

  longstrBytes(): Buffer {
    const len = this.long();
    this.need(len);
    const b = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return b;
  }

  longstr(): string {
    const len = this.long();
    this.need(len);
    const s = this.buf.toString('utf8', this.pos, this.pos + len);
    this.pos += len;
    return s;
  }

  table(): FieldTable {
    const len = this.long();
    this.need(len);
    const stop = this.pos + len;
    const outer = this.end;
    // a value inside the table cannot run past it
    this.end = stop;
    if (++this.depth > MAX_FIELD_DEPTH) throw new SyntaxError(`field table nested deeper than ${MAX_FIELD_DEPTH} levels`);
    const t: FieldTable = {};
    while (this.pos < stop) {
      const key = this.shortstr();
      t[key] = this.fieldValue();
    }
    this.depth--;
    this.end = outer;
    return t;
  }

  array(): FieldValue[] {
    const len = this.long();
    this.need(len);
    const stop = this.pos + len;
    const outer = this.end;
    this.end = stop;
    if (++this.depth > MAX_FIELD_DEPTH) throw new SyntaxError(`field array nested deeper than ${MAX_FIELD_DEPTH} levels`);
    const a: FieldValue[] = [];
    while (this.pos < stop) a.push(this.fieldValue());
    this.depth--;
    this.end = outer;
    return a;
  }

  // RabbitMQ field types: https://www.rabbitmq.com/amqp-0-9-1-errata.html#section_3
  fieldValue(): FieldValue {
    const tag = this.octet();
    const b = this.buf;
    switch (tag) {
      case 0x74: /* t */ return this.octet() !== 0;
      case 0x62: /* b */ this.need(1); return b.readInt8(this.pos++);
      case 0x42: /* B */ return this.octet();
      case 0x73: /* s */ { this.need(2); const v = b.readInt16BE(this.pos); this.pos += 2; return v; }
      case 0x75: /* u */ return this.short();
      case 0x49: /* I */ { this.need(4); const v = b.readInt32BE(this.pos); this.pos += 4; return v; }
      case 0x69: /* i */ return this.long();
      case 0x6c: /* l */ {
        this.need(8);
        const v = b.readBigInt64BE(this.pos);
        this.pos += 8;
        return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
      }
      case 0x66: /* f */ { this.need(4); const v = b.readFloatBE(this.pos); this.pos += 4; return new Float(v, 32); }
      case 0x64: /* d */ { this.need(8); const v = b.readDoubleBE(this.pos); this.pos += 8; return Number.isInteger(v) ? new Float(v, 64) : v; }
      case 0x44: /* D */ { const scale = this.octet(); this.need(4); const value = b.readInt32BE(this.pos); this.pos += 4; return { scale, value }; }
      case 0x53: /* S */ return this.longstr();
      case 0x78: /* x */ return Buffer.from(this.longstrBytes());
      case 0x41: /* A */ return this.array();
      case 0x54: /* T */ return this.timestamp();
      case 0x46: /* F */ return this.table();
      case 0x56: /* V */ return null;
      default:
        throw new SyntaxError(`unknown field value type 0x${tag.toString(16)}`);
    }
  }
}
