// What the fuzzer runs: each target takes bytes and drives one part of the project with them, in-process, and throws
// only for a bug: a crash (an exception that is not the part's own refusal), an answer that is wrong for the input
// (541 internal error where a protocol code belongs, a re-encode that changes a value), a node left wedged.
import { EventEmitter } from 'node:events';
import { Reader, type FieldTable } from '../../packages/broker/src/amqp/reader.ts';
import { Writer } from '../../packages/broker/src/amqp/writer.ts';
import { FrameReader } from '../../packages/broker/src/amqp/frame-reader.ts';
import { AmqpError } from '../../packages/broker/src/amqp/errors.ts';
import * as M from '../../packages/broker/src/amqp/methods.ts';
import { Broker } from '../../packages/broker/src/server/broker.ts';
import { Connection } from '../../packages/broker/src/server/connection.ts';
import { DirectExchange } from '../../packages/broker/src/routing/direct.ts';
import { FanoutExchange } from '../../packages/broker/src/routing/fanout.ts';
import { TopicExchange } from '../../packages/broker/src/routing/topic.ts';
import { HeadersExchange } from '../../packages/broker/src/routing/headers.ts';
import { bindingKey, type Destination, type Exchange } from '../../packages/broker/src/routing/exchange.ts';
import { importDefinitions } from '../../packages/broker/src/mgmt/definitions.ts';
import { ApiError } from '../../packages/broker/src/mgmt/http.ts';
import { FrameDecoder, FrameKind, HANDSHAKE_MAX_FRAME_BYTES, encodeFrame, packr, unpackBody } from '../../packages/cluster-peer/src/codec.ts';
import { Handshake, NONCE_BYTES } from '../../packages/cluster-peer/src/handshake.ts';
import { PeerError } from '../../packages/cluster-peer/src/errors.ts';
import type { FuzzTarget } from './engine.ts';

const AMQP_HEADER = Buffer.from('AMQP\x00\x00\x09\x01', 'latin1');

/** A refusal the part is meant to give for bad input: an AMQP error with a protocol code (not 541). */
function refused(err: unknown): boolean {
  return err instanceof AmqpError && err.code !== 541;
}

// ---- AMQP sessions, the corpus most targets start from

function handshake(w: Writer): void {
  w.raw(AMQP_HEADER);
  M.encodeConnectionStartOk(w, 0, { product: 'fuzz', capabilities: { publisher_confirms: true } }, 'PLAIN', '\u0000guest\u0000guest', 'en_US');
  M.encodeConnectionTuneOk(w, 0, 64, 16384, 0);
  M.encodeConnectionOpen(w, 0, '/', '', false);
  M.encodeChannelOpen(w, 1, '');
}

function publish(w: Writer, exchange: string, rk: string, props: M.BasicProperties, body: Buffer): void {
  M.encodeBasicPublish(w, 1, 0, exchange, rk, false, false);
  const s = w.beginFrame(2, 1);
  w.long(0x003c0000);
  w.longlong(body.length);
  M.encodeProperties(w, props);
  w.endFrame(s);
  if (body.length > 0) {
    const b = w.beginFrame(3, 1);
    w.raw(body);
    w.endFrame(b);
  }
}

/** Sessions that reach most of the broker: every exchange type, TTL and dead-lettering, confirms, tx, get, ack, reject. */
export function sessionSeeds(): Buffer[] {
  const out: Buffer[] = [];
  {
    const w = new Writer(1024);
    handshake(w);
    M.encodeConfirmSelect(w, 1, false);
    M.encodeExchangeDeclare(w, 1, 0, 'fz.topic', 'topic', false, false, true, false, false, {});
    M.encodeExchangeDeclare(w, 1, 0, 'fz.hdr', 'headers', false, false, true, false, false, {});
    M.encodeQueueDeclare(w, 1, 0, 'fz-q', false, false, true, true, false, { 'x-max-length': 5, 'x-overflow': 'reject-publish-dlx', 'x-dead-letter-exchange': 'fz.hdr' });
    M.encodeQueueDeclare(w, 1, 0, 'fz-dead', false, false, true, true, false, { 'x-max-priority': 5 });
    M.encodeQueueBind(w, 1, 0, 'fz-q', 'fz.topic', 'a.*.#', false, {});
    M.encodeQueueBind(w, 1, 0, 'fz-dead', 'fz.hdr', '', false, { 'x-match': 'any', n: 1, s: 'x' });
    for (let i = 0; i < 3; i++) publish(w, 'fz.topic', 'a.b.c', { deliveryMode: 1 + (i % 2), priority: i, headers: { n: i, s: 'x', CC: ['a.x'] }, expiration: String(i * 10) }, Buffer.from(`m${i}`));
    M.encodeBasicGet(w, 1, 0, 'fz-q', false);
    M.encodeBasicReject(w, 1, 1, false);
    M.encodeBasicQos(w, 1, 0, 2, false);
    M.encodeBasicConsume(w, 1, 0, 'fz-dead', 'c1', false, false, false, false, { 'x-priority': 3 });
    M.encodeBasicNack(w, 1, 0, true, false);
    M.encodeBasicCancel(w, 1, 'c1', false);
    M.encodeChannelClose(w, 1, 200, 'bye', 0, 0);
    out.push(w.take());
  }
  {
    const w = new Writer(1024);
    handshake(w);
    M.encodeQueueDeclare(w, 1, 0, '', false, false, true, true, false, { 'x-message-ttl': 0, 'x-dead-letter-exchange': 'amq.headers', 'x-dead-letter-routing-key': 'd' });
    M.encodeQueueDeclare(w, 1, 0, 'fz-h', false, false, true, true, false, {});
    M.encodeQueueBind(w, 1, 0, 'fz-h', 'amq.headers', '', false, { 'x-match': 'all', n: 1 });
    M.encodeTxSelect(w, 1);
    publish(w, '', 'fz-h', { headers: { n: 1.5, big: 1e96, d: { scale: 2, value: 150 }, t: new Date(0), a: [1, 'x', null], x: Buffer.from('b') } }, Buffer.alloc(10));
    M.encodeTxCommit(w, 1);
    M.encodeExchangeDeclare(w, 1, 0, 'fz.fan', 'fanout', false, false, true, false, false, { 'alternate-exchange': 'amq.direct' });
    M.encodeExchangeBind(w, 1, 0, 'amq.fanout', 'fz.fan', '', false, {});
    M.encodeQueuePurge(w, 1, 0, 'fz-h', false);
    M.encodeQueueUnbind(w, 1, 0, 'fz-h', 'amq.headers', '', {});
    M.encodeQueueDelete(w, 1, 0, 'fz-h', false, false, false);
    M.encodeExchangeDelete(w, 1, 0, 'fz.fan', false, false);
    M.encodeBasicRecover(w, 1, true);
    out.push(w.take());
  }
  return out;
}

// ---- in-process broker over an in-memory socket

/** Just enough of net.Socket for a Connection: what it writes is kept, and close is an event as on a socket. */
class MemorySocket extends EventEmitter {
  readonly remoteAddress = '127.0.0.1';
  readonly remotePort = 40000;
  readonly localAddress = '127.0.0.1';
  readonly localPort = 5672;
  writableLength = 0;
  destroyed = false;
  private paused = false;
  readonly out: Buffer[] = [];
  setNoDelay(): this {
    return this;
  }
  write(b: Buffer, cb?: () => void): boolean {
    if (!this.destroyed) this.out.push(Buffer.from(b));
    if (cb) process.nextTick(cb);
    return true;
  }
  end(b?: Buffer): this {
    if (b) this.write(b);
    this.destroy();
    return this;
  }
  destroy(): this {
    if (this.destroyed) return this;
    this.destroyed = true;
    process.nextTick(() => this.emit('close', false));
    return this;
  }
  pause(): this {
    this.paused = true;
    return this;
  }
  resume(): this {
    this.paused = false;
    return this;
  }
  isPaused(): boolean {
    return this.paused;
  }
}

/** The first connection.close or channel.close with 541 the broker sent: [code, text], or null. */
function closeOf(out: Buffer[]): [number, string] | null {
  const b = Buffer.concat(out);
  let pos = 0;
  while (pos + 7 <= b.length) {
    if (pos === 0 && b.subarray(0, 4).toString('latin1') === 'AMQP') return null;
    const size = b.readUInt32BE(pos + 3);
    if (pos + 8 + size > b.length) break;
    if (b[pos] === 1 && size >= 6 && (b.readUInt32BE(pos + 7) === M.CONNECTION_CLOSE || b.readUInt32BE(pos + 7) === M.CHANNEL_CLOSE)) {
      const code = b.readUInt16BE(pos + 11);
      const len = b[pos + 13]!;
      if (code === 541) return [code, b.toString('utf8', pos + 14, pos + 14 + len)];
    }
    pos += 8 + size;
  }
  return null;
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

/** A broker in memory that AMQP byte streams are fed to; its log is watched for internal errors. */
class SessionHost {
  broker: Broker | null = null;
  private nextId = 1;
  internal: string[] = [];

  async start(): Promise<Broker> {
    const b = new Broker({ port: 0, host: '127.0.0.1', heartbeat: 0, log: (line) => {
      if (/internal error|failed, message dropped|expiring messages failed|x-expires deletion failed/i.test(line)) this.internal.push(line);
    } });
    await b.start();
    this.broker = b;
    return b;
  }

  async feed(stream: Buffer, split: number): Promise<void> {
    const broker = this.broker ?? (await this.start());
    this.internal.length = 0;
    const socket = new MemorySocket();
    const conn = new Connection(broker, socket as never, 1_000_000 + this.nextId++);
    broker.connections.add(conn);
    // random chunk boundaries (nats-server's parser fuzzing): the split byte picks them
    let at = 0;
    let s = split | 1;
    while (at < stream.length && !socket.destroyed) {
      s = (s * 1103515245 + 12345) >>> 0;
      const n = 1 + (s % 97);
      socket.emit('data', stream.subarray(at, at + n));
      at += n;
    }
    await tick();
    await tick();
    const close = closeOf(socket.out);
    if (!socket.destroyed) socket.destroy();
    await tick();
    broker.connections.delete(conn);
    if (close !== null && close[0] === 541) throw new Error(`541 INTERNAL_ERROR answered: ${close[1]} | ${this.internal.join(' | ')}`);
    if (this.internal.length > 0) throw new Error(`internal error logged: ${this.internal.join(' | ')}`);
  }

  async reset(): Promise<void> {
    const b = this.broker;
    this.broker = null;
    if (b !== null) {
      b.connections.clear();
      await b.stop();
    }
  }
}

export function sessionTarget(): FuzzTarget {
  const host = new SessionHost();
  return {
    name: 'session',
    cover: ['/packages/broker/src/'],
    maxLen: 4096,
    seeds: () => sessionSeeds().map((s) => Buffer.concat([Buffer.from([7]), s])),
    run: (input) => (input.length === 0 ? undefined : host.feed(input.subarray(1), input[0]!)),
    reset: () => host.reset(),
    close: () => host.reset(),
  };
}

/**
 * The dead-letter path with hostile header values: the input is a binding's argument table and a message's header
 * table (as clients encode them); the message expires on arrival into a headers exchange bound with that table,
 * and is rejected from a second queue into it.
 */
export function deadLetterTarget(): FuzzTarget {
  const host = new SessionHost();
  const build = (bindArgs: Buffer, headers: Buffer): Buffer => {
    const w = new Writer(1024);
    handshake(w);
    M.encodeExchangeDeclare(w, 1, 0, 'dl.h', 'headers', false, false, true, false, false, {});
    M.encodeQueueDeclare(w, 1, 0, 'dl-ttl', false, false, true, true, false, { 'x-message-ttl': 0, 'x-dead-letter-exchange': 'dl.h' });
    M.encodeQueueDeclare(w, 1, 0, 'dl-rej', false, false, true, true, false, { 'x-dead-letter-exchange': 'dl.h' });
    M.encodeQueueDeclare(w, 1, 0, 'dl-out', false, false, true, true, false, {});
    // queue.bind with the fuzzed argument table, written as raw bytes
    const s = w.beginFrame(1, 1);
    w.long(M.QUEUE_BIND);
    w.short(0);
    w.shortstr('dl-out');
    w.shortstr('dl.h');
    w.shortstr('');
    w.octet(0);
    w.raw(bindArgs);
    w.endFrame(s);
    for (const q of ['dl-ttl', 'dl-rej']) {
      M.encodeBasicPublish(w, 1, 0, '', q, false, false);
      const h = w.beginFrame(2, 1);
      w.long(0x003c0000);
      w.longlong(1);
      w.short(0x2000 | 0x1000); // headers, delivery mode
      w.raw(headers);
      w.octet(2);
      w.endFrame(h);
      const b = w.beginFrame(3, 1);
      w.octet(0x78);
      w.endFrame(b);
    }
    M.encodeBasicGet(w, 1, 0, 'dl-rej', false);
    M.encodeBasicReject(w, 1, 1, false);
    M.encodeBasicGet(w, 1, 0, 'dl-out', true);
    M.encodeBasicGet(w, 1, 0, 'dl-out', true);
    return w.take();
  };
  const table = (t: FieldTable): Buffer => {
    const w = new Writer(64);
    w.table(t);
    return w.take();
  };
  /** input: the binding table's length (2 bytes), the binding table, the header table */
  const pair = (bind: Buffer, headers: Buffer): Buffer => {
    const len = Buffer.alloc(2);
    len.writeUInt16BE(bind.length);
    return Buffer.concat([len, bind, headers]);
  };
  return {
    name: 'deadletter',
    cover: ['/packages/broker/src/server/vhost.ts', '/packages/broker/src/routing/', '/packages/broker/src/queue/', '/packages/broker/src/amqp/'],
    maxLen: 2048,
    seeds: () => [
      pair(table({ 'x-match': 'all', n: 1 }), table({ n: 1.5, 'x-death': [null, 1, { queue: 'dl-ttl', count: 1e96 }] })),
      pair(table({ 'x-match': 'any-with-x', 'x-d': { scale: 1, value: 10 }, t: new Date(1000) }), table({ 'x-d': 1, t: 1, big: 2n ** 62n, CC: ['dl-out'], BCC: 'x' })),
      pair(table({ 'x-match': 'all' }), table({ f: 1e96, 'x-death': [{ queue: 'dl-rej', reason: 'rejected', count: 2 }] })),
    ],
    run: (input) => {
      if (input.length < 2) return undefined;
      const cut = Math.min(input.length - 2, input.readUInt16BE(0));
      return host.feed(build(input.subarray(2, 2 + cut), input.subarray(2 + cut)), 5);
    },
    reset: () => host.reset(),
    close: () => host.reset(),
  };
}

// ---- codec targets (no broker)

/** The frame reader and the method and content-header decoders, over random chunk boundaries. */
export function frameTarget(): FuzzTarget {
  const r = new Reader(Buffer.alloc(0));
  const sink = {
    onFrame(type: number, _channel: number, buf: Buffer, start: number, end: number): void {
      if (type === 1) {
        if (end - start < 4) return;
        const info = M.METHODS.get(buf.readUInt32BE(start));
        if (info) info.decode(r.reset(buf, start + 4, end));
      } else if (type === 2) {
        if (end - start < 14) return;
        M.decodeProperties(r.reset(buf, start + 14, end), buf.readUInt16BE(start + 12));
      }
    },
  };
  return {
    name: 'frame',
    cover: ['/packages/broker/src/amqp/'],
    maxLen: 4096,
    seeds: () => sessionSeeds().map((s) => Buffer.concat([Buffer.from([3]), s.subarray(8)])),
    run: (input) => {
      const fr = new FrameReader(8192);
      let s = input[0] ?? 1;
      let at = 1;
      try {
        while (at < input.length) {
          s = (s * 1103515245 + 12345) >>> 0;
          const n = 1 + (s % 61);
          fr.push(input.subarray(at, at + n), sink);
          at += n;
        }
      } catch (err) {
        if (!refused(err)) throw err;
      }
    },
  };
}

/** Every method's decoder on its own: a class-method id and its arguments. */
export function methodTarget(): FuzzTarget {
  const r = new Reader(Buffer.alloc(0));
  return {
    name: 'method',
    cover: ['/packages/broker/src/amqp/'],
    maxLen: 1024,
    seeds: () => {
      const out: Buffer[] = [];
      for (const s of sessionSeeds()) {
        const b = s.subarray(8);
        for (let pos = 0; pos + 7 < b.length; ) {
          const size = b.readUInt32BE(pos + 3);
          if (b[pos] === 1) out.push(Buffer.from(b.subarray(pos + 7, pos + 7 + size)));
          pos += size + 8;
        }
      }
      return out;
    },
    run: (input) => {
      if (input.length < 4) return;
      const info = M.METHODS.get(input.readUInt32BE(0));
      if (!info) return;
      try {
        info.decode(r.reset(input, 4, input.length));
      } catch (err) {
        if (!refused(err)) throw err;
      }
    },
  };
}

/** The field-table codec: whatever decodes re-encodes to bytes that decode to the same encoding again. */
export function tableTarget(): FuzzTarget {
  const enc = (t: FieldTable): Buffer => {
    const w = new Writer(256);
    w.table(t);
    return w.take();
  };
  return {
    name: 'table',
    cover: ['/packages/broker/src/amqp/reader.ts', '/packages/broker/src/amqp/writer.ts'],
    maxLen: 2048,
    seeds: () => [
      enc({ a: 1, b: 'x', c: true, d: null, e: [1, [2, { f: 3 }]], g: { scale: 2, value: -5 }, h: new Date(5000), i: Buffer.from('z'), j: 1.5, k: 2n ** 60n, l: 1e96 }),
      Buffer.from([0, 0, 0, 20, 1, 0x61, 0x66, 0x3f, 0xc0, 0, 0, 1, 0x62, 0x64, 0x40, 0, 0, 0, 0, 0, 0, 0]),
    ],
    run: (input) => {
      let t: FieldTable;
      try {
        t = new Reader(input).table();
      } catch (err) {
        if (refused(err)) return;
        throw err;
      }
      const once = enc(t);
      const twice = enc(new Reader(once).table());
      if (!once.equals(twice)) throw new Error(`re-encoding is not stable: ${once.toString('hex')} then ${twice.toString('hex')}`);
    },
  };
}

/** Every exchange type with bindings and messages drawn from the input (routing keys, patterns, header tables). */
export function routingTarget(): FuzzTarget {
  const enc = (t: FieldTable): Buffer => {
    const w = new Writer(64);
    w.table(t);
    return w.take();
  };
  return {
    name: 'routing',
    cover: ['/packages/broker/src/routing/'],
    maxLen: 2048,
    seeds: () => [
      Buffer.concat([Buffer.from([4, 3, 0x61, 0x2e, 0x23, 3, 0x2a, 0x2e, 0x62, 1, 0x23]), enc({ 'x-match': 'all', n: 1 }), enc({ n: 1.5, s: 'x' }), enc({ 'x-match': 'any-with-x', 'x-a': null })]),
    ],
    run: (input) => {
      // bytes: a count of bindings, shortstr keys, then tables until the input runs out
      const r = new Reader(input);
      const keys: string[] = [];
      const tables: FieldTable[] = [];
      try {
        const n = r.octet() % 16;
        for (let i = 0; i < n; i++) keys.push(r.shortstr());
        while (r.pos < r.end && tables.length < 16) tables.push(r.table());
      } catch (err) {
        if (!refused(err)) throw err;
      }
      const exchanges: Exchange[] = [
        new DirectExchange('/', 'd', opts()), new FanoutExchange('/', 'f', opts()), new TopicExchange('/', 't', opts()), new HeadersExchange('/', 'h', opts()),
      ];
      const dests: Destination[] = Array.from({ length: 4 }, (_, i) => ({ kind: 'queue' as const, name: `q${i}` }));
      for (const ex of exchanges) {
        keys.forEach((k, i) => {
          const args = tables[i % Math.max(1, tables.length)] ?? {};
          const destination = dests[i % dests.length]!;
          ex.bind({ source: ex.name, destination, routingKey: k, arguments: args, key: bindingKey(destination, k, args) });
        });
        const out = new Set<Destination>();
        for (const k of [...keys, 'a.b', '', '#']) for (const h of [undefined, ...tables]) ex.route(k, h, out);
        // unbinding leaves an exchange that routes nothing
        for (const key of [...ex.bindings.keys()]) ex.unbind(key);
        out.clear();
        for (const k of keys) for (const h of [undefined, ...tables]) ex.route(k, h, out);
        if (out.size !== 0) throw new Error(`${ex.type} exchange routed ${out.size} destinations with no bindings`);
      }
    },
  };
}

function opts(): { durable: boolean; autoDelete: boolean; internal: boolean; arguments: FieldTable } {
  return { durable: false, autoDelete: false, internal: false, arguments: {} };
}

// ---- the peer protocol

/** The peer frame decoder (handshake-sized and link-sized), msgpack bodies, and the acceptor's handshake steps. */
export function peerTarget(): FuzzTarget {
  return {
    name: 'peer',
    cover: ['/packages/cluster-peer/src/'],
    maxLen: 4096,
    seeds: () => {
      const dialer = new Handshake({ role: 'initiator', localNode: 'rabbit@a', localIncarnation: 1, cookie: Buffer.from('C'), nonce: Buffer.alloc(NONCE_BYTES, 1), expectedRemote: 'rabbit@b' });
      return [
        Buffer.concat([Buffer.from([5]), dialer.start()!, encodeFrame(FrameKind.MESSAGE, packr.pack({ a: [1, 'x', { b: null }] }))]),
        Buffer.concat([Buffer.from([9]), encodeFrame(FrameKind.MESSAGE, packr.pack([1, 2n ** 40n, Buffer.from('q'), 1.5]))]),
      ];
    },
    run: (input) => {
      const acceptor = new Handshake({ role: 'acceptor', localNode: 'rabbit@b', localIncarnation: 2, cookie: Buffer.from('C'), nonce: Buffer.alloc(NONCE_BYTES, 2) });
      let done = false;
      const hs = new FrameDecoder({
        onFrame(kind, body) {
          if (done) return;
          const step = acceptor.receive(kind, body);
          if (step.failure !== null || step.done !== null) done = true;
        },
      }, HANDSHAKE_MAX_FRAME_BYTES);
      const link = new FrameDecoder({
        onFrame(kind, body) {
          try {
            unpackBody(body, kind);
          } catch (err) {
            if (!(err instanceof PeerError)) throw err;
          }
        },
      }, 1 << 20);
      const split = (input[0] ?? 1) | 1;
      for (const d of [hs, link]) {
        try {
          for (let at = 1; at < input.length; at += split) d.push(input.subarray(at, at + split));
        } catch (err) {
          if (!(err instanceof PeerError)) throw err;
        }
      }
    },
  };
}

// ---- the management API's JSON

/** A definitions import (the JSON a POST /api/definitions carries) into a broker in memory. */
export function mgmtJsonTarget(): FuzzTarget {
  let broker: Broker | null = null;
  const seed = {
    users: [{ name: 'u1', password: 'p', tags: 'management' }, { name: 'u2', password_hash: 'kI3GCqW5JLMJa4iX1lo7X4D6XbYqlLgxIs30+P6tENUV2POR', hashing_algorithm: 'rabbit_password_hashing_sha256', tags: ['monitoring'] }],
    vhosts: [{ name: 'v1' }],
    permissions: [{ user: 'u1', vhost: 'v1', configure: '.*', write: '.*', read: '.*' }],
    policies: [{ vhost: 'v1', name: 'p', pattern: '^q', 'apply-to': 'queues', definition: { 'message-ttl': 1000, 'ha-mode': 'all' }, priority: 1 }],
    queues: [{ name: 'q1', vhost: 'v1', durable: true, auto_delete: false, arguments: { 'x-max-length': 10, 'x-dead-letter-exchange': 'e1', n: [1, { a: 1.5 }] } }],
    exchanges: [{ name: 'e1', vhost: 'v1', type: 'headers', durable: true, auto_delete: false, internal: false, arguments: {} }],
    bindings: [{ source: 'e1', vhost: 'v1', destination: 'q1', destination_type: 'queue', routing_key: 'k', arguments: { 'x-match': 'any', n: 1e96 } }],
    parameters: [], global_parameters: [{ name: 'cluster_name', value: 'c' }], topic_permissions: [],
  };
  return {
    name: 'mgmt-json',
    cover: ['/packages/broker/src/mgmt/', '/packages/broker/src/policy/', '/packages/broker/src/server/vhost.ts'],
    maxLen: 4096,
    seeds: () => [Buffer.from(JSON.stringify(seed)), Buffer.from('{"vhosts":[{"name":"v2"}],"queues":[{"name":"x","vhost":"v2","arguments":{"x-message-ttl":-1}}]}')],
    run: async (input) => {
      let defs: unknown;
      try {
        defs = JSON.parse(input.toString('utf8'));
      } catch {
        return;
      }
      if (typeof defs !== 'object' || defs === null || Array.isArray(defs)) return;
      if (broker === null) {
        broker = new Broker({ port: 0, host: '127.0.0.1', log: () => {} });
        await broker.start();
      }
      try {
        await importDefinitions(broker, defs as Record<string, unknown>);
      } catch (err) {
        if (!(err instanceof ApiError) || err.status >= 500) throw err;
      }
    },
    reset: async () => {
      const b = broker;
      broker = null;
      await b?.stop();
    },
    close: async () => {
      const b = broker;
      broker = null;
      await b?.stop();
    },
  };
}

export const TARGETS: Record<string, () => FuzzTarget> = {
  frame: frameTarget,
  method: methodTarget,
  table: tableTarget,
  routing: routingTarget,
  session: sessionTarget,
  deadletter: deadLetterTarget,
  peer: peerTarget,
  'mgmt-json': mgmtJsonTarget,
};
