// Shared helpers for the interop tests: a broker per test file, real clients, and a raw AMQP 0-9-1 socket client
// for the frame-level checks no library lets us make.
//
// WARREN_INTEROP_REF_URL=amqp://guest:guest@127.0.0.1:5672 runs the tests that only need a URL against another broker
// (a real RabbitMQ) instead, to check that the tests assert RabbitMQ's behaviour; tests that reach into Warren's
// internals (users, policies, memory alarm) are skipped then.
import { connect as netConnect, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { AMQPClient, type AMQPBaseClient, type AMQPChannel } from '@cloudamqp/amqp-client';
import { beforeAll, afterAll, afterEach } from 'vitest';
import { startBroker, type RunningBroker, type BrokerOptions } from '../../packages/broker/src/index.ts';

export const REF_URL = process.env['WARREN_INTEROP_REF_URL'];
export const ON_REF = REF_URL !== undefined && REF_URL !== '';

export interface Target {
  url: string;
  host: string;
  port: number;
  /** the embedded Warren broker; null when running against a reference broker */
  warren: RunningBroker | null;
  close(): Promise<void>;
}

export async function startTarget(opts: BrokerOptions = {}): Promise<Target> {
  if (ON_REF) {
    const u = new URL(REF_URL!);
    return { url: REF_URL!.replace(/\/$/, ''), host: u.hostname, port: Number(u.port || 5672), warren: null, close: async () => {} };
  }
  const b = await startBroker({ port: 0, ...opts });
  return { url: b.url, host: '127.0.0.1', port: b.port, warren: b, close: () => b.close() };
}

/** A unique name for a queue or exchange, so tests never see each other's objects. */
export function uniq(prefix = 'q'): string {
  return `${prefix}-${randomBytes(5).toString('hex')}`;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls until cond() holds or fails after timeoutMs. */
export async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs = 3000, what = 'condition'): Promise<void> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

/** Rejects after ms with a message naming what took too long. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(t)),
    new Promise<T>((_, reject) => {
      t = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    }),
  ]);
}

/** Tracks clients opened by a test so afterEach can close them all. */
export class Clients {
  private readonly conns: AMQPBaseClient[] = [];
  private readonly closers: (() => Promise<unknown> | unknown)[] = [];
  constructor(private readonly url: () => string) {}

  async amqp(query = '', url = this.url()): Promise<AMQPBaseClient> {
    const c = await new AMQPClient(url + query).connect();
    // errors are asserted through promises; keep the default console logging out of the test output
    c.onerror = () => {};
    this.conns.push(c);
    return c;
  }

  track(close: () => Promise<unknown> | unknown): void {
    this.closers.push(close);
  }

  async closeAll(): Promise<void> {
    for (const c of this.conns.splice(0)) {
      if (!c.closed) await within(c.close().catch(() => {}), 2000, 'client close').catch(() => {});
    }
    for (const f of this.closers.splice(0)) {
      try {
        await f();
      } catch {
        /* already closed */
      }
    }
  }
}

/** The AMQP reply code in an amqp-client error ("channel 1 closed: NOT_FOUND - ... (404)"). */
export function codeOf(err: unknown): number | undefined {
  const m = /\((\d{3})\)\s*$/.exec(String((err as Error)?.message ?? err));
  return m ? Number(m[1]) : undefined;
}

/** Awaits a promise that must be rejected by the broker, and returns the reply code. */
export async function rejectionCode(p: Promise<unknown>): Promise<number | undefined> {
  try {
    await within(p, 5000, 'broker reply');
  } catch (err) {
    return codeOf(err);
  }
  throw new Error('expected the broker to refuse the operation, but it succeeded');
}

export function text(body: Uint8Array | null | undefined): string {
  return body ? Buffer.from(body).toString() : '';
}

// ------------------------------------------------------------------------------------------------- raw AMQP client

export const FRAME_METHOD = 1;
export const FRAME_HEADER = 2;
export const FRAME_BODY = 3;
export const FRAME_HEARTBEAT = 8;
export const PROTOCOL_HEADER = Buffer.from([0x41, 0x4d, 0x51, 0x50, 0, 0, 9, 1]);

export type Field = string | number | bigint | boolean | null | Buffer | Date | Field[] | { [k: string]: Field };
export type Table = Record<string, Field>;

/** Builds frame payloads field by field. */
export class Enc {
  private parts: Buffer[] = [];
  octet(n: number): this {
    this.parts.push(Buffer.from([n & 0xff]));
    return this;
  }
  short(n: number): this {
    const b = Buffer.alloc(2);
    b.writeUInt16BE(n);
    this.parts.push(b);
    return this;
  }
  long(n: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n);
    this.parts.push(b);
    return this;
  }
  longlong(n: number | bigint): this {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(BigInt(n));
    this.parts.push(b);
    return this;
  }
  shortstr(s: string): this {
    const b = Buffer.from(s);
    this.octet(b.length);
    this.parts.push(b);
    return this;
  }
  longstr(s: string | Buffer): this {
    const b = Buffer.isBuffer(s) ? s : Buffer.from(s);
    this.long(b.length);
    this.parts.push(b);
    return this;
  }
  /** bits packed into one octet, first argument in the lowest bit */
  bits(...flags: boolean[]): this {
    let v = 0;
    flags.forEach((f, i) => {
      if (f) v |= 1 << i;
    });
    return this.octet(v);
  }
  table(t: Table): this {
    const inner = new Enc();
    for (const [k, v] of Object.entries(t)) {
      inner.shortstr(k);
      inner.value(v);
    }
    const b = inner.buf();
    this.long(b.length);
    this.parts.push(b);
    return this;
  }
  private value(v: Field): void {
    if (typeof v === 'string') this.octet(0x53).longstr(v);
    else if (typeof v === 'boolean') this.octet(0x74).octet(v ? 1 : 0);
    else if (typeof v === 'number') {
      const b = Buffer.alloc(4);
      b.writeInt32BE(v);
      this.octet(0x49);
      this.parts.push(b);
    } else if (v !== null && typeof v === 'object' && !Buffer.isBuffer(v) && !Array.isArray(v) && !(v instanceof Date)) this.octet(0x46).table(v);
    else if (v === null) this.octet(0x56);
    else throw new Error(`Enc: unsupported field ${String(v)}`);
  }
  raw(b: Buffer): this {
    this.parts.push(b);
    return this;
  }
  buf(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** A whole frame: type, channel, size, payload, frame-end (which a test may spoil). */
export function frame(type: number, channel: number, payload: Buffer, end = 0xce): Buffer {
  const h = Buffer.alloc(7);
  h.writeUInt8(type, 0);
  h.writeUInt16BE(channel, 1);
  h.writeUInt32BE(payload.length, 3);
  return Buffer.concat([h, payload, Buffer.from([end])]);
}

export function method(channel: number, classId: number, methodId: number, args: Buffer = Buffer.alloc(0)): Buffer {
  return frame(FRAME_METHOD, channel, Buffer.concat([new Enc().short(classId).short(methodId).buf(), args]));
}

export function contentHeader(channel: number, bodySize: number, flags = 0, props: Buffer = Buffer.alloc(0)): Buffer {
  return frame(FRAME_HEADER, channel, new Enc().short(60).short(0).longlong(bodySize).short(flags).raw(props).buf());
}

export function body(channel: number, data: Buffer | string): Buffer {
  return frame(FRAME_BODY, channel, Buffer.isBuffer(data) ? data : Buffer.from(data));
}

/** Cursor for reading received frame payloads. */
export class Dec {
  pos = 0;
  constructor(readonly b: Buffer) {}
  octet(): number {
    return this.b.readUInt8(this.pos++);
  }
  short(): number {
    const v = this.b.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }
  long(): number {
    const v = this.b.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  longlong(): number {
    const v = this.b.readBigUInt64BE(this.pos);
    this.pos += 8;
    return Number(v);
  }
  shortstr(): string {
    const n = this.octet();
    const s = this.b.toString('utf8', this.pos, this.pos + n);
    this.pos += n;
    return s;
  }
  longstr(): string {
    const n = this.long();
    const s = this.b.toString('utf8', this.pos, this.pos + n);
    this.pos += n;
    return s;
  }
  table(): Table {
    const n = this.long();
    const stop = this.pos + n;
    const t: Table = {};
    while (this.pos < stop) {
      const k = this.shortstr();
      t[k] = this.value();
    }
    return t;
  }
  private value(): Field {
    const tag = String.fromCharCode(this.octet());
    const b = this.b;
    const adv = <T>(n: number, v: T): T => {
      this.pos += n;
      return v;
    };
    switch (tag) {
      case 't': return this.octet() !== 0;
      case 'b': return adv(1, b.readInt8(this.pos));
      case 'B': return this.octet();
      case 's': return adv(2, b.readInt16BE(this.pos));
      case 'u': return this.short();
      case 'I': return adv(4, b.readInt32BE(this.pos));
      case 'i': return this.long();
      case 'l': return adv(8, b.readBigInt64BE(this.pos));
      case 'f': return adv(4, b.readFloatBE(this.pos));
      case 'd': return adv(8, b.readDoubleBE(this.pos));
      case 'D': return adv(5, b.readInt32BE(this.pos + 1));
      case 'S': return this.longstr();
      case 'x': { const n = this.long(); return adv(n, b.subarray(this.pos, this.pos + n)); }
      case 'T': return new Date(this.longlong() * 1000);
      case 'F': return this.table();
      case 'V': return null;
      case 'A': {
        const n = this.long();
        const stop = this.pos + n;
        const a: Field[] = [];
        while (this.pos < stop) a.push(this.value());
        return a;
      }
      default: throw new Error(`Dec: unknown field type ${tag}`);
    }
  }
}

export interface Frame {
  type: number;
  channel: number;
  payload: Buffer;
  /** for method frames */
  classId: number;
  methodId: number;
}

export interface Close {
  code: number;
  text: string;
  classId: number;
  methodId: number;
}

export function decodeClose(f: Frame): Close {
  const d = new Dec(f.payload);
  d.pos = 4;
  return { code: d.short(), text: d.shortstr(), classId: d.short(), methodId: d.short() };
}

export const isMethod = (classId: number, methodId: number, channel?: number) => (f: Frame): boolean =>
  f.type === FRAME_METHOD && f.classId === classId && f.methodId === methodId && (channel === undefined || f.channel === channel);

/**
 * A hand-driven AMQP 0-9-1 client over a plain socket: sends whatever bytes a test builds and records every frame the
 * broker sends back, answering nothing on its own (no heartbeats, no close-ok) unless asked.
 */
export class RawClient {
  readonly socket: Socket;
  readonly frames: Frame[] = [];
  private buf = Buffer.alloc(0);
  /** raw bytes before framing starts (a protocol header sent back on a bad header) */
  readonly rawBytes: Buffer[] = [];
  closed = false;
  private waiters: (() => void)[] = [];
  serverProperties: Table = {};
  tune = { channelMax: 0, frameMax: 0, heartbeat: 0 };

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.rawBytes.push(chunk);
      this.buf = Buffer.concat([this.buf, chunk]);
      while (this.buf.length >= 8) {
        if (this.buf.subarray(0, 4).toString() === 'AMQP') {
          this.buf = this.buf.subarray(8);
          continue;
        }
        const size = this.buf.readUInt32BE(3);
        if (this.buf.length < size + 8) break;
        const payload = Buffer.from(this.buf.subarray(7, 7 + size));
        const type = this.buf.readUInt8(0);
        const f: Frame = {
          type,
          channel: this.buf.readUInt16BE(1),
          payload,
          classId: type === FRAME_METHOD ? payload.readUInt16BE(0) : 0,
          methodId: type === FRAME_METHOD ? payload.readUInt16BE(2) : 0,
        };
        this.buf = this.buf.subarray(size + 8);
        this.frames.push(f);
      }
      this.wake();
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  static connect(port: number, host = '127.0.0.1'): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = netConnect({ port, host }, () => {
        s.off('error', reject);
        resolve(new RawClient(s));
      });
      s.once('error', reject);
    });
  }

  send(...bufs: Buffer[]): void {
    this.socket.write(Buffer.concat(bufs));
  }

  /** Waits for the first not yet consumed frame matching pred (frames before it stay for later calls). */
  async expect(pred: (f: Frame) => boolean, timeoutMs = 3000, what = 'frame'): Promise<Frame> {
    const t0 = Date.now();
    for (;;) {
      const i = this.frames.findIndex(pred);
      if (i >= 0) return this.frames.splice(i, 1)[0]!;
      if (this.closed) throw new Error(`socket closed while waiting for ${what}`);
      const left = timeoutMs - (Date.now() - t0);
      if (left <= 0) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  /** Resolves when the broker closes the TCP connection (within timeoutMs), with the time it took. */
  async waitClosed(timeoutMs = 5000): Promise<number> {
    const t0 = Date.now();
    while (!this.closed) {
      if (Date.now() - t0 > timeoutMs) throw new Error(`socket still open after ${timeoutMs} ms`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, 50);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
    return Date.now() - t0;
  }

  /** Expects connection.close from the broker and answers close-ok. */
  async expectConnectionClose(timeoutMs = 3000): Promise<Close> {
    const f = await this.expect(isMethod(10, 50, 0), timeoutMs, 'connection.close');
    this.send(method(0, 10, 51));
    return decodeClose(f);
  }

  async expectChannelClose(channel: number, timeoutMs = 3000): Promise<Close> {
    const f = await this.expect(isMethod(20, 40, channel), timeoutMs, `channel.close on ${channel}`);
    this.send(method(channel, 20, 41));
    return decodeClose(f);
  }

  /** Protocol header and connection.start; returns the server properties. */
  async start(): Promise<{ properties: Table; mechanisms: string }> {
    this.send(PROTOCOL_HEADER);
    const f = await this.expect(isMethod(10, 10, 0), 3000, 'connection.start');
    const d = new Dec(f.payload);
    d.pos = 6;
    this.serverProperties = d.table();
    return { properties: this.serverProperties, mechanisms: d.longstr() };
  }

  /** start-ok (PLAIN); returns the tune values, or throws when the broker closes instead. */
  async login(user = 'guest', pass = 'guest', capabilities: Table = { authentication_failure_close: true, 'connection.blocked': true, consumer_cancel_notify: true }): Promise<{ channelMax: number; frameMax: number; heartbeat: number }> {
    const args = new Enc()
      .table({ product: 'warren-interop-raw', capabilities })
      .shortstr('PLAIN')
      .longstr(`\u0000${user}\u0000${pass}`)
      .shortstr('en_US')
      .buf();
    this.send(method(0, 10, 11, args));
    const f = await this.expect((x) => isMethod(10, 30, 0)(x) || isMethod(10, 50, 0)(x), 3000, 'connection.tune');
    if (f.methodId === 50) {
      const c = decodeClose(f);
      throw Object.assign(new Error(`connection.close ${c.code} ${c.text}`), { close: c });
    }
    const d = new Dec(f.payload);
    d.pos = 4;
    this.tune = { channelMax: d.short(), frameMax: d.long(), heartbeat: d.short() };
    return this.tune;
  }

  /** tune-ok with the given values, then connection.open; waits for open-ok. */
  async open(tune: { channelMax: number; frameMax: number; heartbeat: number } = this.tune, vhost = '/'): Promise<void> {
    this.send(method(0, 10, 31, new Enc().short(tune.channelMax).long(tune.frameMax).short(tune.heartbeat).buf()));
    this.send(method(0, 10, 40, new Enc().shortstr(vhost).shortstr('').octet(0).buf()));
    await this.expect(isMethod(10, 41, 0), 3000, 'connection.open-ok');
  }

  /** Whole handshake with the broker's tune values (heartbeat 0 unless given). */
  async handshake(o: { heartbeat?: number; user?: string; pass?: string } = {}): Promise<void> {
    await this.start();
    const t = await this.login(o.user, o.pass);
    await this.open({ ...t, heartbeat: o.heartbeat ?? 0 });
  }

  async openChannel(ch: number): Promise<void> {
    this.send(method(ch, 20, 10, new Enc().shortstr('').buf()));
    await this.expect(isMethod(20, 11, ch), 3000, `channel.open-ok on ${ch}`);
  }

  destroy(): void {
    this.socket.destroy();
  }
}

// method argument builders used by several tests
export const args = {
  queueDeclare: (name: string, o: { passive?: boolean; durable?: boolean; exclusive?: boolean; autoDelete?: boolean } = {}, t: Table = {}): Buffer =>
    new Enc().short(0).shortstr(name).bits(!!o.passive, !!o.durable, !!o.exclusive, !!o.autoDelete, false).table(t).buf(),
  basicPublish: (exchange: string, rk: string, mandatory = false, immediate = false): Buffer =>
    new Enc().short(0).shortstr(exchange).shortstr(rk).bits(mandatory, immediate).buf(),
  basicQos: (size: number, count: number, global: boolean): Buffer => new Enc().long(size).short(count).bits(global).buf(),
  basicGet: (queue: string, noAck: boolean): Buffer => new Enc().short(0).shortstr(queue).bits(noAck).buf(),
};

// ------------------------------------------------------------------------------------------------- amqp-client helpers

type Chan = Awaited<ReturnType<AMQPBaseClient['channel']>>;
type Msg = NonNullable<Awaited<ReturnType<Chan['basicGet']>>>;

/** A round trip on the channel: everything published on it before has been routed when this resolves. */
export async function sync(ch: Chan): Promise<void> {
  await ch.exchangeDeclare('amq.direct', 'direct', { passive: true });
}

/** basic.get (no-ack) until the queue is empty; returns the bodies as strings. */
export async function getAll(ch: Chan, queue: string): Promise<string[]> {
  await sync(ch);
  const out: string[] = [];
  for (;;) {
    const m = await ch.basicGet(queue, { noAck: true });
    if (!m) return out;
    out.push(text(m.body));
  }
}

/** basic.get until a message arrives (within timeoutMs). */
export async function getOne(ch: Chan, queue: string, noAck = true, timeoutMs = 3000): Promise<Msg> {
  const t0 = Date.now();
  for (;;) {
    const m = await ch.basicGet(queue, { noAck });
    if (m) return m;
    if (Date.now() - t0 > timeoutMs) throw new Error(`no message in ${queue} within ${timeoutMs} ms`);
    await sleep(20);
  }
}

/** Declares a server-named exclusive queue bound to exchange with each key. */
export async function boundQueue(ch: Chan, exchange: string, keys: string[], bindArgs: Record<string, unknown> = {}): Promise<string> {
  const q = await ch.queueDeclare('', { exclusive: true, autoDelete: true, durable: false });
  for (const k of keys) await ch.queueBind(q.name, exchange, k, bindArgs);
  return q.name;
}

/** A consumer that records deliveries (manual ack unless noAck). */
export async function collect(ch: Chan, queue: string, o: { noAck?: boolean; args?: Record<string, unknown>; tag?: string; exclusive?: boolean } = {}): Promise<{ msgs: Msg[]; tag: string; cancelled: Promise<string> }> {
  const msgs: Msg[] = [];
  const params: { noAck: boolean; args: Record<string, unknown>; tag?: string; exclusive?: boolean } = { noAck: o.noAck ?? false, args: o.args ?? {} };
  if (o.tag !== undefined) params.tag = o.tag;
  if (o.exclusive !== undefined) params.exclusive = o.exclusive;
  const c = await ch.basicConsume(queue, params, (m) => {
    msgs.push(m);
  });
  const cancelled = c.wait().then(() => 'ended', (e: unknown) => String((e as Error)?.message ?? e));
  return { msgs, tag: c.tag, cancelled };
}

/**
 * One target for a whole test file, a client pool closed after each test, and a channel factory on a shared
 * connection (reopened when a test closed it): the setup every amqp-client interop file needs.
 */
export function sharedTarget(opts: BrokerOptions = {}): { target: () => Target; clients: Clients; ch: () => Promise<AMQPChannel> } {
  let t: Target | undefined;
  const clients = new Clients(() => t!.url);
  let conn: AMQPBaseClient | undefined;
  beforeAll(async () => {
    t = await startTarget(opts);
  });
  afterEach(async () => {
    await clients.closeAll();
  });
  afterAll(async () => {
    await t?.close();
  });
  return {
    target: () => t!,
    clients,
    ch: async () => {
      if (!conn || conn.closed) conn = await clients.amqp();
      return conn.channel();
    },
  };
}
