// Feeds the broker random and mutated frame streams split at random chunk boundaries (STYLE: nats-server's
// parser fuzzing). The broker must never crash or hang, must answer a bad stream with connection.close carrying a
// protocol reply code (never 541 internal error), and must keep serving well-behaved clients afterwards.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from 'node:net';
import { AMQPClient } from '@cloudamqp/amqp-client';
import { startBroker, type RunningBroker } from '../../packages/broker/src/index.ts';
import { Writer } from '../../packages/broker/src/amqp/writer.ts';
import * as M from '../../packages/broker/src/amqp/methods.ts';

const SEED = Number(process.env['FUZZ_SEED'] ?? 0x5eed);
const CASES = Number(process.env['FUZZ_CASES'] ?? 160);
const PROTOCOL_CODES = new Set([320, 402, 403, 501, 502, 503, 504, 505, 506, 530, 540]);

/** mulberry32: small, seeded, reproducible */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function validSession(rand: () => number): Buffer {
  const w = new Writer(1024);
  w.raw(Buffer.from('AMQP\x00\x00\x09\x01', 'latin1'));
  M.encodeConnectionStartOk(w, 0, { product: 'fuzz' }, 'PLAIN', '\u0000guest\u0000guest', 'en_US');
  M.encodeConnectionTuneOk(w, 0, 16, 8192, 0);
  M.encodeConnectionOpen(w, 0, '/', '', false);
  M.encodeChannelOpen(w, 1, '');
  M.encodeQueueDeclare(w, 1, 0, `fz-${Math.floor(rand() * 4)}`, false, false, false, true, false, { 'x-max-length': 10 });
  M.encodeExchangeDeclare(w, 1, 0, 'fx', 'topic', false, false, true, false, false, {});
  M.encodeQueueBind(w, 1, 0, 'fz-0', 'fx', 'a.#', false, {});
  M.encodeBasicQos(w, 1, 0, 5, false);
  M.encodeConfirmSelect(w, 1, false);
  for (let i = 0; i < 3; i++) {
    M.encodeBasicPublish(w, 1, 0, rand() < 0.5 ? 'fx' : '', rand() < 0.5 ? 'a.b' : 'fz-0', rand() < 0.3, false);
    const body = Buffer.alloc(Math.floor(rand() * 300), 0x61);
    const s = w.beginFrame(2, 1);
    w.long(0x003c0000);
    w.longlong(body.length);
    M.encodeProperties(w, { deliveryMode: rand() < 0.5 ? 2 : 1, headers: { i } });
    w.endFrame(s);
    if (body.length > 0) {
      const b = w.beginFrame(3, 1);
      w.raw(body);
      w.endFrame(b);
    }
  }
  M.encodeBasicConsume(w, 1, 0, 'fz-0', '', false, false, false, false, {});
  M.encodeBasicGet(w, 1, 0, 'fz-1', false);
  M.encodeBasicAck(w, 1, 1, true);
  M.encodeTxSelect(w, 1);
  M.encodeChannelClose(w, 1, 200, 'bye', 0, 0);
  return w.take();
}

function mutate(buf: Buffer, rand: () => number): Buffer {
  const out = Buffer.from(buf);
  const kind = Math.floor(rand() * 5);
  const header = 8; // keep the protocol header intact most of the time so the frame parser is reached
  const pos = (): number => header + Math.floor(rand() * (out.length - header));
  if (kind === 0) {
    for (let i = 0, n = 1 + Math.floor(rand() * 8); i < n; i++) out[pos()] = Math.floor(rand() * 256);
    return out;
  }
  if (kind === 1) return out.subarray(0, pos());
  if (kind === 2) {
    const at = pos();
    const junk = Buffer.alloc(1 + Math.floor(rand() * 40));
    for (let i = 0; i < junk.length; i++) junk[i] = Math.floor(rand() * 256);
    return Buffer.concat([out.subarray(0, at), junk, out.subarray(at)]);
  }
  if (kind === 3) {
    // a well-formed frame of random type/channel/payload
    const at = pos();
    const payload = Buffer.alloc(Math.floor(rand() * 64));
    for (let i = 0; i < payload.length; i++) payload[i] = Math.floor(rand() * 256);
    const f = Buffer.alloc(8 + payload.length);
    f[0] = [1, 2, 3, 8, 4, 0][Math.floor(rand() * 6)]!;
    f.writeUInt16BE(Math.floor(rand() * 4), 1);
    f.writeUInt32BE(payload.length, 3);
    payload.copy(f, 7);
    f[7 + payload.length] = 0xce;
    return Buffer.concat([out.subarray(0, at), f, out.subarray(at)]);
  }
  // swap two byte ranges
  const a = pos();
  const b = pos();
  const [lo, hi] = a < b ? [a, b] : [b, a];
  return Buffer.concat([out.subarray(0, lo), out.subarray(hi), out.subarray(lo, hi)]);
}

interface Outcome {
  closeCode: number | null;
  socketClosed: boolean;
}

function runCase(port: number, data: Buffer, rand: () => number): Promise<Outcome> {
  return new Promise((resolve) => {
    const sock = connect({ port, host: '127.0.0.1' });
    let received = Buffer.alloc(0);
    let done = false;
    const finish = (closed: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve({ closeCode: findClose(received), socketClosed: closed });
    };
    // a stream the broker accepts as valid simply stays open: stop waiting after a while
    const timer = setTimeout(() => finish(false), 400);
    sock.on('data', (d: Buffer) => (received = Buffer.concat([received, d])));
    sock.on('error', () => finish(true));
    sock.on('close', () => finish(true));
    sock.on('connect', () => {
      let off = 0;
      const chunks: Buffer[] = [];
      while (off < data.length) {
        const n = 1 + Math.floor(rand() * 64);
        chunks.push(data.subarray(off, off + n));
        off += n;
      }
      for (const c of chunks) sock.write(c);
    });
  });
}

/** The reply code of the first connection.close the server sent, if any. */
function findClose(b: Buffer): number | null {
  let pos = 0;
  while (pos + 7 <= b.length) {
    if (pos === 0 && b.subarray(0, 4).toString('latin1') === 'AMQP') return null; // version mismatch answer
    const type = b[pos]!;
    const size = b.readUInt32BE(pos + 3);
    if (pos + 8 + size > b.length) break;
    if (type === 1 && size >= 6 && b.readUInt32BE(pos + 7) === M.CONNECTION_CLOSE) return b.readUInt16BE(pos + 11);
    pos += 8 + size;
  }
  return null;
}

describe('frame fuzzing', () => {
  let broker: RunningBroker;
  beforeAll(async () => {
    broker = await startBroker({ port: 0, heartbeat: 0 });
  });
  afterAll(async () => {
    await broker.close();
  });

  it('the unmutated session is accepted (the fuzz corpus is valid to begin with)', async () => {
    const out = await runCase(broker.port, validSession(prng(1)), prng(2));
    expect(out.closeCode).toBeNull();
  });

  it(`answers ${CASES} mutated streams with protocol close codes only, and keeps serving (seed ${SEED})`, async () => {
    const rand = prng(SEED);
    const codes = new Map<number, number>();
    const failures: string[] = [];
    const pending: Promise<void>[] = [];
    for (let i = 0; i < CASES; i++) {
      const caseSeed = Math.floor(rand() * 2 ** 31);
      const r = prng(caseSeed);
      const data = mutate(validSession(r), r);
      pending.push(
        runCase(broker.port, data, r).then((o) => {
          if (o.closeCode !== null) {
            codes.set(o.closeCode, (codes.get(o.closeCode) ?? 0) + 1);
            if (!PROTOCOL_CODES.has(o.closeCode)) failures.push(`case seed ${caseSeed}: close code ${o.closeCode}`);
          }
        }),
      );
      if (pending.length >= 16) await Promise.all(pending.splice(0));
    }
    await Promise.all(pending);
    expect(failures).toEqual([]);
    // the mutations do reach the error paths
    expect([...codes.keys()].filter((c) => c >= 500).length).toBeGreaterThanOrEqual(3);
    const conn = await new AMQPClient(broker.url).connect();
    const ch = await conn.channel();
    const q = await ch.queueDeclare('after-fuzz');
    await ch.basicPublish('', q.name, 'still alive');
    expect((await ch.basicGet(q.name, { noAck: true }))?.bodyString()).toBe('still alive');
    await conn.close();
  }, 60_000);
});
