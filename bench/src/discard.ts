/**
 * The load generator's ceiling: a TCP server that speaks just enough AMQP 0-9-1 for the client to connect
 * (handshake, channel.open, declare/bind/qos/confirm.select answered with their -ok), then throws away every
 * published message (confirming each batch with one multiple=true basic.ack when the channel is in confirm mode)
 * and, on basic.consume, streams pre-built deliveries as fast as the socket drains (bounded by the prefetch when the
 * consumer acks). No queue, no routing: whatever rate the load generator reaches here is the most it can measure.
 *
 *   node --conditions=warren-source --import tsx bench/src/discard.ts --port N [--deliver-size 16]
 */
import net from 'node:net';

const FRAME_END = 0xce;

function frame(type: number, channel: number, payload: Buffer): Buffer {
  const b = Buffer.allocUnsafe(8 + payload.length);
  b.writeUInt8(type, 0);
  b.writeUInt16BE(channel, 1);
  b.writeUInt32BE(payload.length, 3);
  payload.copy(b, 7);
  b.writeUInt8(FRAME_END, 7 + payload.length);
  return b;
}

function method(channel: number, classId: number, methodId: number, args: Buffer = Buffer.alloc(0)): Buffer {
  const p = Buffer.allocUnsafe(4 + args.length);
  p.writeUInt16BE(classId, 0);
  p.writeUInt16BE(methodId, 2);
  args.copy(p, 4);
  return frame(1, channel, p);
}

const shortstr = (s: string): Buffer => Buffer.concat([Buffer.from([Buffer.byteLength(s)]), Buffer.from(s)]);
const longstr = (s: string): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(Buffer.byteLength(s));
  return Buffer.concat([b, Buffer.from(s)]);
};
const u16 = (n: number): Buffer => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
};
const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};

interface Consumer {
  tag: string;
  noAck: boolean;
  running: boolean;
}

interface Channel {
  confirm: boolean;
  published: number;
  acked: number;
  prefetch: number;
  deliveryTag: number;
  clientAcked: number;
  consumer?: Consumer;
}

export function serve(port: number, deliverSize: number): net.Server {
  const server = net.createServer((sock) => {
    sock.setNoDelay(true);
    const channels = new Map<number, Channel>();
    let buf: Buffer = Buffer.alloc(0);
    let started = false;
    const bodies = new Map<number, Buffer>();

    const pump = (chId: number): void => {
      const ch = channels.get(chId);
      const c = ch?.consumer;
      if (!ch || !c || !c.running || sock.destroyed) return;
      const parts: Buffer[] = [];
      const body = bodies.get(chId) ?? Buffer.alloc(Math.max(16, deliverSize), 0x61);
      const ts = process.hrtime.bigint();
      body.writeBigInt64LE(ts, 0);
      const bodyFrame = frame(3, chId, body);
      const header = Buffer.alloc(14);
      header.writeUInt16BE(60, 0);
      header.writeUInt16BE(0, 2);
      header.writeBigUInt64BE(BigInt(body.length), 4);
      header.writeUInt16BE(0, 12);
      const headerFrame = frame(2, chId, header);
      for (let i = 0; i < 256; i++) {
        if (!c.noAck && ch.prefetch > 0 && ch.deliveryTag - ch.clientAcked >= ch.prefetch) break;
        ch.deliveryTag++;
        const tagBuf = Buffer.alloc(8);
        tagBuf.writeBigUInt64BE(BigInt(ch.deliveryTag));
        const args = Buffer.concat([shortstr(c.tag), tagBuf, Buffer.from([0]), shortstr(''), shortstr('discard')]);
        parts.push(method(chId, 60, 60, args), headerFrame, bodyFrame);
      }
      if (parts.length === 0) return; // waiting for acks
      const more = sock.write(Buffer.concat(parts));
      if (more) setImmediate(() => pump(chId));
      else sock.once('drain', () => pump(chId));
    };

    const onMethod = (chId: number, classId: number, methodId: number, p: Buffer): void => {
      const key = classId * 1000 + methodId;
      switch (key) {
        case 10011: // connection.start-ok
          sock.write(method(0, 10, 30, Buffer.concat([u16(2047), u32(131072), u16(0)])));
          return;
        case 10031: // tune-ok
          return;
        case 10040: // connection.open
          sock.write(method(0, 10, 41, shortstr('')));
          return;
        case 10050: // connection.close
          sock.end(method(0, 10, 51));
          return;
        case 10051:
          sock.end();
          return;
        case 20010: // channel.open
          channels.set(chId, { confirm: false, published: 0, acked: 0, prefetch: 0, deliveryTag: 0, clientAcked: 0 });
          sock.write(method(chId, 20, 11, u32(0)));
          return;
        case 20040: // channel.close
          {
            const c = channels.get(chId)?.consumer;
            if (c) c.running = false;
          }
          channels.delete(chId);
          sock.write(method(chId, 20, 41));
          return;
        case 20041:
          return;
        case 85010: // confirm.select
          {
            const ch = channels.get(chId);
            if (ch) ch.confirm = true;
            if ((p[0] ?? 0) & 1) return;
            sock.write(method(chId, 85, 11));
          }
          return;
        case 60010: // basic.qos
          {
            const ch = channels.get(chId);
            if (ch) ch.prefetch = p.readUInt16BE(4);
            sock.write(method(chId, 60, 11));
          }
          return;
        case 60040: // basic.publish: discard
          {
            const ch = channels.get(chId);
            if (ch) ch.published++;
          }
          return;
        case 60080: // basic.ack from a consumer
          {
            const ch = channels.get(chId);
            if (!ch) return;
            const tag = Number(p.readBigUInt64BE(0));
            const multiple = (p[8] ?? 0) & 1;
            ch.clientAcked = multiple ? Math.max(ch.clientAcked, tag) : ch.clientAcked + 1;
            if (ch.consumer && !ch.consumer.noAck) setImmediate(() => pump(chId));
          }
          return;
        case 60020: // basic.consume
          {
            const ch = channels.get(chId);
            let o = 2;
            const qlen = p[o] ?? 0;
            // A queue name with -s<bytes>- in it asks for deliveries of that size (the ceiling scenarios use it).
            const size = /-s(\d+)-/.exec(p.subarray(o + 1, o + 1 + qlen).toString())?.[1];
            if (size) bodies.set(chId, Buffer.alloc(Math.max(16, Number(size)), 0x61));
            o += 1 + qlen;
            const tlen = p[o] ?? 0;
            const tag = p.subarray(o + 1, o + 1 + tlen).toString() || `ctag-${chId}`;
            o += 1 + tlen;
            const bits = p[o] ?? 0;
            if (!ch) return;
            ch.consumer = { tag, noAck: (bits & 2) !== 0, running: true };
            sock.write(method(chId, 60, 21, shortstr(tag)));
            setImmediate(() => pump(chId));
          }
          return;
        case 60030: // basic.cancel
          {
            const ch = channels.get(chId);
            const tag = ch?.consumer?.tag ?? '';
            if (ch?.consumer) ch.consumer.running = false;
            sock.write(method(chId, 60, 31, shortstr(tag)));
          }
          return;
        case 50010: // queue.declare
          {
            const qlen = p[2] ?? 0;
            const name = p.subarray(3, 3 + qlen).toString() || `amq.gen-${chId}`;
            sock.write(method(chId, 50, 11, Buffer.concat([shortstr(name), u32(0), u32(0)])));
          }
          return;
        case 50020: // queue.bind
        case 50050: // queue.unbind
        case 40010: // exchange.declare
        case 40020: // exchange.delete
          sock.write(method(chId, classId, methodId + 1));
          return;
        case 50030: // queue.purge
        case 50040: // queue.delete
          sock.write(method(chId, classId, methodId + 1, u32(0)));
          return;
        default:
          return;
      }
    };

    sock.on('data', (chunk: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      let o = 0;
      if (!started) {
        if (buf.length < 8) return;
        started = true;
        o = 8;
        const props = u32(0); // empty server-properties table
        sock.write(
          method(0, 10, 10, Buffer.concat([Buffer.from([0, 9]), props, longstr('PLAIN'), longstr('en_US')])),
        );
      }
      while (buf.length - o >= 7) {
        const type = buf[o]!;
        const chId = buf.readUInt16BE(o + 1);
        const size = buf.readUInt32BE(o + 3);
        if (buf.length - o < size + 8) break;
        if (type === 1) {
          const classId = buf.readUInt16BE(o + 7);
          const methodId = buf.readUInt16BE(o + 9);
          // Publishes are the hot path: count them without slicing.
          if (classId === 60 && methodId === 40) {
            const ch = channels.get(chId);
            if (ch) ch.published++;
          } else {
            onMethod(chId, classId, methodId, buf.subarray(o + 11, o + 7 + size));
          }
        }
        o += size + 8;
      }
      buf = o < buf.length ? Buffer.from(buf.subarray(o)) : Buffer.alloc(0);
      for (const [chId, ch] of channels) {
        if (ch.confirm && ch.published > ch.acked) {
          ch.acked = ch.published;
          const tag = Buffer.alloc(8);
          tag.writeBigUInt64BE(BigInt(ch.acked));
          sock.write(method(chId, 60, 80, Buffer.concat([tag, Buffer.from([1])])));
        }
      }
    });
    sock.on('error', () => sock.destroy());
  });
  server.listen(port, '127.0.0.1');
  return server;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const get = (k: string, d: number): number => {
    const i = args.indexOf(k);
    return i >= 0 ? Number(args[i + 1]) : d;
  };
  const server = serve(get('--port', 5673), get('--deliver-size', 16));
  server.on('listening', () => console.log(`discard server listening on 127.0.0.1:${get('--port', 5673)}`));
  process.on('SIGTERM', () => process.exit(0));
}
