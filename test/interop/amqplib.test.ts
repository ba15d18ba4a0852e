// amqplib (the most used Node client) against the broker: a representative set of what its users do, and errors
// surfaced with the right code.
import { describe, it, expect, beforeAll, afterAll, afterEach } from 'vitest';
import amqp from 'amqplib';
import { hashPassword } from '../../packages/broker/src/auth/users.ts';
import { startTarget, uniq, waitFor, within, sleep, ON_REF, type Target } from './helpers.ts';

let t: Target;
const open: amqp.ChannelModel[] = [];
const LONG_PW = 'p'.repeat(200);

beforeAll(async () => {
  t = await startTarget();
  if (t.warren) {
    // against a reference broker: rabbitmqctl add_user longpw <200 x p>; set_permissions -p / longpw '.*' '.*' '.*'
    t.warren.broker.putUser({ name: 'longpw', passwordHash: hashPassword(LONG_PW), tags: [] });
    t.warren.broker.setPermission({ user: 'longpw', vhost: '/', configure: '.*', write: '.*', read: '.*' });
  }
});
afterEach(async () => {
  for (const c of open.splice(0)) await within(c.close(), 2000, 'close').catch(() => {});
});
afterAll(async () => {
  await t.close();
});

async function connect(o: amqp.Options.Connect | string = t.url, socketOptions: Record<string, unknown> = {}): Promise<amqp.ChannelModel> {
  const c = await amqp.connect(o, socketOptions);
  c.on('error', () => {});
  open.push(c);
  return c;
}

/** The reply code of an amqplib error (channel/connection close, or a failed handshake). */
function code(err: unknown): number | undefined {
  const e = err as { code?: unknown; message?: string };
  if (typeof e.code === 'number') return e.code;
  const m = /\b(\d{3})\b/.exec(e.message ?? '');
  return m ? Number(m[1]) : undefined;
}

async function failure(p: Promise<unknown>): Promise<number | undefined> {
  try {
    await within(p, 5000, 'broker reply');
  } catch (e) {
    return code(e);
  }
  throw new Error('expected a failure');
}

describe('amqplib', () => {
  it('sees RabbitMQ server properties with the capabilities it checks', async () => {
    const c = await connect();
    const props = (c.connection as unknown as { serverProperties: Record<string, unknown> }).serverProperties;
    expect(props['product']).toBe('RabbitMQ');
    expect(props['capabilities']).toMatchObject({ publisher_confirms: true, 'basic.nack': true, consumer_cancel_notify: true });
  });

  it('logs in with AMQPLAIN', async () => {
    const u = new URL(t.url);
    const c = await connect({ protocol: 'amqp', hostname: u.hostname, port: Number(u.port), vhost: '/' }, { credentials: amqp.credentials.amqplain('guest', 'guest') });
    const ch = await c.createChannel();
    const q = await ch.assertQueue('', { exclusive: true });
    expect(q.queue).toMatch(/^amq\.gen-/);
  });

  it('AMQPLAIN works with a 200-character password', async () => {
    const u = new URL(t.url);
    const c = await connect({ protocol: 'amqp', hostname: u.hostname, port: Number(u.port), vhost: '/' }, { credentials: amqp.credentials.amqplain('longpw', LONG_PW) });
    await c.createChannel();
  });

  it.skipIf(ON_REF)('logs in with PLAIN and a 200-character password', async () => {
    const u = new URL(t.url);
    const c = await connect({ protocol: 'amqp', hostname: u.hostname, port: Number(u.port), vhost: '/', username: 'longpw', password: LONG_PW });
    await c.createChannel();
  });

  it('a wrong password rejects connect with ACCESS_REFUSED (403)', async () => {
    const u = new URL(t.url);
    u.password = 'wrong';
    const err = await amqp.connect(u.toString()).then(
      (c) => {
        open.push(c);
        return null;
      },
      (e: unknown) => e,
    );
    expect(String((err as Error)?.message)).toMatch(/403|ACCESS.REFUSED/);
  });

  it('publishes, consumes with manual ack and prefetch, and redelivers a nacked message', async () => {
    const c = await connect();
    const ch = await c.createChannel();
    const q = (await ch.assertQueue('', { exclusive: true })).queue;
    await ch.prefetch(1);
    for (let i = 0; i < 3; i++) ch.sendToQueue(q, Buffer.from(`m${i}`), { persistent: true, headers: { i } });
    const got: { body: string; redelivered: boolean; i: unknown }[] = [];
    let nacked = false;
    await ch.consume(q, (m) => {
      if (!m) return;
      got.push({ body: m.content.toString(), redelivered: m.fields.redelivered, i: m.properties.headers?.['i'] });
      if (!nacked) {
        nacked = true;
        ch.nack(m, false, true);
      } else ch.ack(m);
    });
    await waitFor(() => got.length === 4, 3000, 'deliveries');
    expect(got).toEqual([
      { body: 'm0', redelivered: false, i: 0 },
      { body: 'm0', redelivered: true, i: 0 },
      { body: 'm1', redelivered: false, i: 1 },
      { body: 'm2', redelivered: false, i: 2 },
    ]);
  });

  it('a 3 MB message crosses in frame_max-sized frames and arrives intact', async () => {
    const c = await connect();
    const ch = await c.createChannel();
    const q = (await ch.assertQueue('', { exclusive: true })).queue;
    const big = Buffer.alloc(3 * 1024 * 1024);
    for (let i = 0; i < big.length; i += 4) big.writeUInt32BE(i, i);
    ch.sendToQueue(q, big);
    const got = await within(new Promise<Buffer>((r) => void ch.consume(q, (m) => { if (m) r(m.content); }, { noAck: true })), 5000, 'big message');
    expect(got.length).toBe(big.length);
    expect(got.equals(big)).toBe(true);
  });

  it('a confirm channel gets every publish confirmed (waitForConfirms)', async () => {
    const c = await connect();
    const ch = await c.createConfirmChannel();
    const q = (await ch.assertQueue('', { exclusive: true })).queue;
    const acked: number[] = [];
    for (let i = 0; i < 50; i++) ch.sendToQueue(q, Buffer.from(String(i)), {}, (err) => { if (!err) acked.push(i); });
    await within(ch.waitForConfirms(), 3000, 'confirms');
    expect(acked).toHaveLength(50);
    expect((await ch.checkQueue(q)).messageCount).toBe(50);
  });

  it('a confirm channel gets a nack for a publish refused by x-overflow reject-publish', async () => {
    const c = await connect();
    const ch = await c.createConfirmChannel();
    const q = (await ch.assertQueue('', { exclusive: true, arguments: { 'x-max-length': 0, 'x-overflow': 'reject-publish' } })).queue;
    const result = await new Promise<string>((resolve) => ch.sendToQueue(q, Buffer.from('x'), {}, (err) => resolve(err ? 'nack' : 'ack')));
    expect(result).toBe('nack');
  });

  it('mandatory unroutable publishes come back on the return event', async () => {
    const c = await connect();
    const ch = await c.createChannel();
    const returned = new Promise<amqp.Message>((r) => ch.once('return', r));
    ch.publish('amq.direct', uniq('nowhere'), Buffer.from('back'), { mandatory: true });
    const m = await within(returned, 3000, 'return');
    expect([(m.fields as unknown as { replyCode: number }).replyCode, m.content.toString()]).toEqual([312, 'back']);
  });

  it('channel errors reach the promise with the reply code and close only the channel', async () => {
    const c = await connect();
    const ch = await c.createChannel();
    ch.on('error', () => {});
    expect(await failure(ch.checkQueue(uniq('missing')))).toBe(404);
    const ch2 = await c.createChannel();
    ch2.on('error', () => {});
    await ch2.assertExchange(uniq('x'), 'direct', { durable: false }).then((x) => ch2.assertExchange(x.exchange, 'fanout', { durable: false })).catch((e: unknown) => {
      expect(code(e)).toBe(406);
    });
    const ch3 = await c.createChannel();
    await ch3.checkExchange('amq.direct');
  });

  it('a hard error closes the connection with its code (503 for an unknown exchange type)', async () => {
    const c = await connect();
    const errored = new Promise<unknown>((r) => c.once('error', r));
    const closed = new Promise<unknown>((r) => c.once('close', r));
    const ch = await c.createChannel();
    ch.on('error', () => {});
    await ch.assertExchange(uniq('x'), 'no-such-type').catch(() => {});
    expect(code(await within(errored, 3000, 'connection error'))).toBe(503);
    await within(closed, 3000, 'connection close');
  });

  it('a server-sent basic.cancel (queue deleted) calls the consumer with null', async () => {
    const c = await connect();
    const ch = await c.createChannel();
    const q = uniq('cancelme');
    await ch.assertQueue(q, { durable: false });
    const seen = new Promise<unknown>((r) => ch.consume(q, (m) => { if (m === null) r(null); }));
    const other = await c.createChannel();
    await other.deleteQueue(q);
    expect(await within(seen, 3000, 'cancel')).toBeNull();
  });

  it('assertQueue options (messageTtl, deadLetterExchange, maxLength, maxPriority) behave as RabbitMQ\'s x-arguments', async () => {
    const c = await connect();
    const ch = await c.createChannel();
    const dlx = uniq('adlx');
    await ch.assertExchange(dlx, 'fanout', { durable: false, autoDelete: true });
    const dead = (await ch.assertQueue('', { exclusive: true })).queue;
    await ch.bindQueue(dead, dlx, '');
    const q = (await ch.assertQueue('', { exclusive: true, messageTtl: 50, deadLetterExchange: dlx, maxLength: 2, maxPriority: 3 })).queue;
    ch.sendToQueue(q, Buffer.from('low'), { priority: 0 });
    ch.sendToQueue(q, Buffer.from('high'), { priority: 3 });
    ch.sendToQueue(q, Buffer.from('newest'), { priority: 1 });
    const got: string[] = [];
    await ch.consume(dead, (m) => { if (m) got.push(`${m.content.toString()}:${String((m.properties.headers?.['x-death'] as { reason: string }[] | undefined)?.[0]?.reason)}`); }, { noAck: true });
    await waitFor(() => got.length === 3, 3000, 'three dead letters');
    // max-length 2 drops the head: 'high' is the head of a priority queue; the other two expire
    expect(got.sort()).toEqual(['high:maxlen', 'low:expired', 'newest:expired']);
  });

  it('topic routing with bindings made through amqplib', async () => {
    const c = await connect();
    const ch = await c.createChannel();
    const x = uniq('tx');
    await ch.assertExchange(x, 'topic', { durable: false, autoDelete: true });
    const q = (await ch.assertQueue('', { exclusive: true })).queue;
    await ch.bindQueue(q, x, 'logs.*.error');
    await ch.bindQueue(q, x, 'audit.#');
    for (const k of ['logs.web.error', 'logs.web.info', 'audit', 'audit.a.b', 'logs.error']) ch.publish(x, k, Buffer.from(k));
    await sleep(100);
    const got: string[] = [];
    for (;;) {
      const m = await ch.get(q, { noAck: true });
      if (!m) break;
      got.push(m.content.toString());
    }
    expect(got).toEqual(['logs.web.error', 'audit', 'audit.a.b']);
  });
});
