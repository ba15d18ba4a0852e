// Connection-level behaviour seen by real clients: handshake, authentication, vhost access, tuning, heartbeats.
import { describe, it, expect, beforeAll, afterAll, afterEach } from 'vitest';
import { networkInterfaces } from 'node:os';
import { AMQPClient } from '@cloudamqp/amqp-client';
import amqplib from 'amqplib';
import { hashPassword } from '../../packages/broker/src/auth/users.ts';
import { startTarget, Clients, RawClient, rejectionCode, sleep, within, method, Enc, args, contentHeader, body, isMethod, FRAME_BODY, FRAME_HEARTBEAT, ON_REF, type Target } from './helpers.ts';
import { startBroker, type RunningBroker } from '../../packages/broker/src/index.ts';

let t: Target;
const clients = new Clients(() => t.url);
const raws: RawClient[] = [];
const extraBrokers: RunningBroker[] = [];

async function raw(port = t.port, host = '127.0.0.1'): Promise<RawClient> {
  const r = await RawClient.connect(port, host);
  raws.push(r);
  return r;
}

beforeAll(async () => {
  t = await startTarget();
});
afterEach(async () => {
  await clients.closeAll();
  for (const r of raws.splice(0)) r.destroy();
  for (const b of extraBrokers.splice(0)) await b.close();
});
afterAll(async () => {
  await t.close();
});

const urlWith = (user: string, pass: string, vhost = '/', port = t.port, host = '127.0.0.1'): string =>
  `amqp://${encodeURIComponent(user)}:${encodeURIComponent(pass)}@${host}:${port}/${encodeURIComponent(vhost)}`;

describe('handshake', () => {
  it('connection.start announces RabbitMQ product, version and every capability clients look for', async () => {
    const r = await raw();
    const { properties, mechanisms } = await r.start();
    expect(properties['product']).toBe('RabbitMQ');
    expect(typeof properties['version']).toBe('string');
    const caps = properties['capabilities'] as Record<string, unknown>;
    for (const c of [
      'publisher_confirms', 'exchange_exchange_bindings', 'basic.nack', 'consumer_cancel_notify', 'connection.blocked',
      'per_consumer_qos', 'authentication_failure_close', 'consumer_priorities',
    ]) {
      expect(caps[c], c).toBe(true);
    }
    expect(mechanisms.split(' ')).toContain('PLAIN');
    expect(mechanisms.split(' ')).toContain('AMQPLAIN');
  });

  it('a bad protocol header is answered with the supported header and the socket is closed', async () => {
    const r = await raw();
    r.send(Buffer.from('AMQP\x01\x01\x00\x0a', 'latin1'));
    await r.waitClosed(3000);
    expect(Buffer.concat(r.rawBytes).subarray(0, 8)).toEqual(Buffer.from([0x41, 0x4d, 0x51, 0x50, 0, 0, 9, 1]));
  });

  it('PLAIN login with the right password opens a usable connection', async () => {
    const c = await clients.amqp();
    const ch = await c.channel();
    const q = await ch.queueDeclare('', { exclusive: true });
    expect(q.name).toMatch(/^amq\.gen-/);
  });

  it('a wrong password is refused with connection.close 403 ACCESS_REFUSED', async () => {
    expect(await rejectionCode(new AMQPClient(urlWith('guest', 'wrong')).connect())).toBe(403);
    const r = await raw();
    await r.start();
    const err = await r.login('guest', 'nope').catch((e: { close?: { code: number } }) => e);
    expect((err as { close?: { code: number } }).close?.code).toBe(403);
  });

  it('an unknown user is refused with 403', async () => {
    expect(await rejectionCode(new AMQPClient(urlWith('nobody-here', 'x')).connect())).toBe(403);
  });

  it('connection.open of a vhost that does not exist is refused with 530 NOT_ALLOWED', async () => {
    expect(await rejectionCode(new AMQPClient(urlWith('guest', 'guest', 'no-such-vhost')).connect())).toBe(530);
  });

  it.skipIf(ON_REF)('a user without permissions on a vhost is refused there with 530 and admitted where permitted', async () => {
    const w = t.warren!.broker;
    w.addVhost('vh-530');
    w.putUser({ name: 'carol', passwordHash: hashPassword('pw'), tags: [] });
    w.setPermission({ user: 'carol', vhost: '/', configure: '.*', write: '.*', read: '.*' });
    expect(await rejectionCode(new AMQPClient(urlWith('carol', 'pw', 'vh-530')).connect())).toBe(530);
    const ok = await clients.amqp('', urlWith('carol', 'pw', '/'));
    expect(ok.closed).toBe(false);
  });
});

describe('loopback users', () => {
  const nonLoopback = Object.values(networkInterfaces())
    .flat()
    .find((a) => a !== undefined && a.family === 'IPv4' && !a.internal)?.address;

  it.skipIf(ON_REF || nonLoopback === undefined)('guest is refused (403) from a non-loopback address, other users and loopback guest are not', async () => {
    const b = await startBroker({ port: 0, host: '0.0.0.0' });
    extraBrokers.push(b);
    b.broker.putUser({ name: 'dave', passwordHash: hashPassword('pw'), tags: [] });
    b.broker.setPermission({ user: 'dave', vhost: '/', configure: '.*', write: '.*', read: '.*' });
    expect(await rejectionCode(new AMQPClient(urlWith('guest', 'guest', '/', b.port, nonLoopback!)).connect())).toBe(403);
    const dave = await clients.amqp('', urlWith('dave', 'pw', '/', b.port, nonLoopback!));
    expect(dave.closed).toBe(false);
    const guest = await clients.amqp('', urlWith('guest', 'guest', '/', b.port, '127.0.0.1'));
    expect(guest.closed).toBe(false);
  });
});

describe('tuning', () => {
  it.skipIf(ON_REF)('connection.tune offers the configured frame_max and channel_max', async () => {
    const b = await startBroker({ port: 0, frameMax: 16384, channelMax: 7, heartbeat: 13 });
    extraBrokers.push(b);
    const r = await raw(b.port);
    await r.start();
    expect(await r.login()).toEqual({ channelMax: 7, frameMax: 16384, heartbeat: 13 });
  });

  it('a client that negotiates a smaller frame_max gets large messages split into frames that fit', async () => {
    const r = await raw();
    await r.start();
    const tune = await r.login();
    await r.open({ ...tune, frameMax: 4096, heartbeat: 0 });
    await r.openChannel(1);
    const q = `fm-${Date.now()}`;
    r.send(method(1, 50, 10, args.queueDeclare(q, { exclusive: true })));
    await r.expect(isMethod(50, 11, 1));
    const payload = Buffer.alloc(10_000);
    for (let i = 0; i < payload.length; i++) payload[i] = i % 251;
    r.send(method(1, 60, 40, args.basicPublish('', q)), contentHeader(1, payload.length));
    for (let off = 0; off < payload.length; off += 4088) r.send(body(1, payload.subarray(off, off + 4088)));
    r.send(method(1, 60, 70, args.basicGet(q, true)));
    await r.expect(isMethod(60, 71, 1), 3000, 'basic.get-ok');
    const parts: Buffer[] = [];
    while (Buffer.concat(parts).length < payload.length) {
      const f = await r.expect((x) => x.type === FRAME_BODY && x.channel === 1, 3000, 'body frame');
      expect(f.payload.length + 8).toBeLessThanOrEqual(4096);
      parts.push(f.payload);
    }
    expect(Buffer.concat(parts).equals(payload)).toBe(true);
  });

  it('a client asking for a frame_max above the broker\'s is refused: the connection never opens', async () => {
    const r = await raw();
    await r.start();
    const tune = await r.login();
    r.send(method(0, 10, 31, new Enc().short(tune.channelMax).long(tune.frameMax * 2).short(0).buf()));
    r.send(method(0, 10, 40, new Enc().shortstr('/').shortstr('').octet(0).buf()));
    // RabbitMQ closes the socket without connection.close for failures before connection.open; 530 is also fine
    const close = r.expectConnectionClose(6000).then((c) => c.code, () => 'socket closed');
    expect([530, 'socket closed']).toContain(await close);
    expect(r.frames.some(isMethod(10, 41, 0))).toBe(false);
  }, 10_000);

  it('opening more channels than the negotiated channel_max is refused with 530 NOT_ALLOWED', async () => {
    const r = await raw();
    await r.start();
    const tune = await r.login();
    await r.open({ ...tune, channelMax: 3, heartbeat: 0 });
    for (let ch = 1; ch <= 3; ch++) await r.openChannel(ch);
    r.send(method(4, 20, 10, new Enc().shortstr('').buf()));
    expect((await r.expectConnectionClose()).code).toBe(530);
  });

  it('amqp-client with a small frameMax publishes and receives a 100 kB message intact', async () => {
    const c = await clients.amqp('?frameMax=8192');
    const ch = await c.channel();
    const q = await ch.queueDeclare('', { exclusive: true });
    const data = Buffer.alloc(100_000, 'x');
    data.write('head', 0);
    data.write('tail', data.length - 4);
    await ch.basicPublish('', q.name, data);
    const m = await within((async () => { for (;;) { const g = await ch.basicGet(q.name, { noAck: true }); if (g) return g; await sleep(10); } })(), 3000, 'get');
    expect(Buffer.from(m.body!).equals(data)).toBe(true);
  });
});

describe('heartbeats', () => {
  it('a client with a 1 s heartbeat (amqplib) stays connected through 3 s of idleness', async () => {
    // amqplib sends its own heartbeats and tolerates one missed interval; amqp-client instead drops the socket after
    // 1 s without a frame, which even RabbitMQ's heartbeat cadence (a check every T/2) does not promise under load.
    const c = await amqplib.connect(`${t.url}?heartbeat=1`);
    clients.track(() => c.close());
    const events: string[] = [];
    c.on('error', (e: Error) => events.push(`error ${e.message}`));
    c.on('close', () => events.push('close'));
    const ch = await c.createChannel();
    await sleep(3200);
    expect(events).toEqual([]);
    const q = await ch.assertQueue('', { exclusive: true });
    expect(q.queue).toMatch(/^amq\.gen-/);
  }, 10_000);

  it('amqp-client negotiates the lower of its and the broker\'s heartbeat', async () => {
    const c = await clients.amqp('?heartbeat=5');
    expect(c.heartbeat).toBe(5);
  });

  it('the broker sends heartbeats and drops a client that negotiated 1 s and then went silent', async () => {
    const r = await raw();
    await r.handshake({ heartbeat: 1 });
    const ms = await r.waitClosed(6000);
    expect(ms).toBeGreaterThanOrEqual(1000);
    expect(r.frames.some((f) => f.type === FRAME_HEARTBEAT && f.channel === 0)).toBe(true);
  }, 10_000);

  it('a silent client that negotiated heartbeat 0 is not dropped', async () => {
    const r = await raw();
    await r.handshake({ heartbeat: 0 });
    await sleep(2500);
    expect(r.closed).toBe(false);
    await r.openChannel(1);
  }, 10_000);
});
