// The memory alarm (vm_memory_high_watermark): publishers are told connection.blocked and their publishes are held
// until the alarm clears, then everything arrives. Warren only: the alarm is driven through the embedded broker.
import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { AMQPClient, type AMQPBaseClient } from '@cloudamqp/amqp-client';
import { startBroker, type RunningBroker } from '../../packages/broker/src/index.ts';
import { RawClient, method, args, contentHeader, body, frame, isMethod, sleep, waitFor, getAll, uniq, ON_REF, FRAME_HEARTBEAT } from './helpers.ts';

let b: RunningBroker;
const raws: RawClient[] = [];
const conns: AMQPBaseClient[] = [];
const timers: NodeJS.Timeout[] = [];

beforeEach(async () => {
  // 1 MB absolute: far below the RSS of any Node process, so the first check (100 ms) raises the alarm
  b = await startBroker({ port: 0, memoryHighWatermark: 1_000_000, memoryCheckIntervalMs: 100 });
});
afterEach(async () => {
  for (const t of timers.splice(0)) clearInterval(t);
  for (const r of raws.splice(0)) r.destroy();
  for (const c of conns.splice(0)) await c.close().catch(() => {});
  await b.close();
});

function clearAlarm(): void {
  b.broker.memoryLimit = Number.MAX_SAFE_INTEGER;
  b.broker.checkMemory();
}

async function rawPublisher(heartbeat = 0): Promise<RawClient> {
  const r = await RawClient.connect(b.port);
  raws.push(r);
  await r.start();
  const tune = await r.login();
  await r.open({ ...tune, heartbeat });
  await r.openChannel(1);
  return r;
}

async function observer(): Promise<{ conn: AMQPBaseClient; ch: Awaited<ReturnType<AMQPBaseClient['channel']>> }> {
  const conn = await new AMQPClient(b.url).connect();
  conn.onerror = () => {};
  conns.push(conn);
  return { conn, ch: await conn.channel() };
}

function queued(q: string): number {
  return b.broker.vhosts.get('/')!.queues.get(q)?.messageCount ?? -1;
}

describe.skipIf(ON_REF)('memory alarm', () => {
  it('amqp-client is notified with connection.blocked and connection.unblocked', async () => {
    const conn = await new AMQPClient(b.url).connect();
    conns.push(conn);
    const events: string[] = [];
    conn.onblocked = (reason) => events.push(`blocked:${reason}`);
    conn.onunblocked = () => events.push('unblocked');
    await waitFor(() => b.broker.memoryAlarm, 3000, 'alarm');
    // RabbitMQ notifies a connection when it publishes during the alarm (Warren may tell it earlier)
    const ch = await conn.channel();
    await ch.basicPublish('amq.fanout', '', 'during the alarm').catch(() => {});
    // the notification may arrive with open-ok, before onblocked is assigned: amqp-client records it in conn.blocked
    await waitFor(() => events.length === 1 || conn.blocked !== undefined, 3000, 'connection.blocked');
    expect(events[0]?.slice(8) ?? conn.blocked).toMatch(/.+/);
    clearAlarm();
    await waitFor(() => events.includes('unblocked'), 3000, 'connection.unblocked');
    expect(conn.blocked).toBeUndefined();
  });

  it('a publish made while blocked is held until the alarm clears, then arrives with the ones after it', async () => {
    const { ch } = await observer();
    const q = uniq('held');
    await ch.queueDeclare(q, { durable: false, autoDelete: false, exclusive: false });
    await waitFor(() => b.broker.memoryAlarm, 3000, 'alarm');
    const r = await rawPublisher();
    for (let i = 0; i < 3; i++) r.send(method(1, 60, 40, args.basicPublish('', q)), contentHeader(1, 2), body(1, `m${i}`));
    await r.expect(isMethod(10, 60, 0), 3000, 'connection.blocked');
    await sleep(500);
    expect(queued(q)).toBe(0);
    clearAlarm();
    await r.expect(isMethod(10, 61, 0), 3000, 'connection.unblocked');
    await waitFor(() => queued(q) === 3, 3000, 'held messages delivered');
    expect(await getAll(ch, q)).toEqual(['m0', 'm1', 'm2']);
  });

  it('publishes made while blocked are all delivered, in order, once the alarm clears', async () => {
    const { ch } = await observer();
    const q = uniq('later');
    await ch.queueDeclare(q, { durable: false, autoDelete: false, exclusive: false });
    await waitFor(() => b.broker.memoryAlarm, 3000, 'alarm');
    const r = await rawPublisher();
    for (let i = 0; i < 20; i++) {
      r.send(method(1, 60, 40, args.basicPublish('', q)), contentHeader(1, 3), body(1, `m${String(i).padStart(2, '0')}`));
      await sleep(5);
    }
    await r.expect(isMethod(10, 60, 0), 3000, 'connection.blocked');
    await sleep(300);
    expect(queued(q)).toBeLessThan(20); // the socket is no longer read
    clearAlarm();
    await waitFor(() => queued(q) === 20, 3000, 'all publishes delivered');
    expect(await getAll(ch, q)).toEqual(Array.from({ length: 20 }, (_, i) => `m${String(i).padStart(2, '0')}`));
  });

  it('a connection opened during the alarm is blocked when it publishes', async () => {
    await waitFor(() => b.broker.memoryAlarm, 3000, 'alarm');
    const r = await rawPublisher();
    r.send(method(1, 60, 40, args.basicPublish('amq.fanout', '')), contentHeader(1, 1), body(1, 'x'));
    await r.expect(isMethod(10, 60, 0), 3000, 'connection.blocked');
  });

  it('a client without the connection.blocked capability is throttled silently (no blocked frame)', async () => {
    await waitFor(() => b.broker.memoryAlarm, 3000, 'alarm');
    const r = await RawClient.connect(b.port);
    raws.push(r);
    await r.start();
    const tune = await r.login('guest', 'guest', {});
    await r.open({ ...tune, heartbeat: 0 });
    await r.openChannel(1);
    r.send(method(1, 60, 40, args.basicPublish('amq.fanout', '')), contentHeader(1, 1), body(1, 'x'));
    await sleep(400);
    expect(r.frames.some(isMethod(10, 60, 0))).toBe(false);
    expect(r.closed).toBe(false);
  });

  it('a connection that does not publish is not sent connection.blocked', async () => {
    const r = await rawPublisher();
    await waitFor(() => b.broker.memoryAlarm, 3000, 'alarm');
    await sleep(400);
    expect(r.frames.some(isMethod(10, 60, 0))).toBe(false);
  });

  it('consumers keep receiving during the alarm', async () => {
    await waitFor(() => b.broker.memoryAlarm, 3000, 'alarm');
    const q = uniq('cons');
    b.broker.vhosts.get('/')!.declareQueue({ name: q, durable: false, exclusive: false, autoDelete: false, arguments: {}, passive: false, owner: 0 });
    b.broker.publishLocal('/', '', q, {}, Buffer.from('during alarm'));
    const { ch } = await observer();
    const m = await ch.basicGet(q, { noAck: true });
    expect(m?.bodyToString()).toBe('during alarm');
  });

  it('a blocked publisher with a 1 s heartbeat that keeps sending heartbeats is not disconnected', async () => {
    const { ch } = await observer();
    const q = uniq('hb');
    await ch.queueDeclare(q, { durable: false, autoDelete: false, exclusive: false });
    const r = await rawPublisher(1);
    timers.push(setInterval(() => r.send(frame(FRAME_HEARTBEAT, 0, Buffer.alloc(0))), 400));
    await waitFor(() => b.broker.memoryAlarm, 3000, 'alarm');
    r.send(method(1, 60, 40, args.basicPublish('', q)), contentHeader(1, 1), body(1, 'x'));
    await r.expect(isMethod(10, 60, 0), 3000, 'connection.blocked');
    await sleep(3500);
    expect(r.closed).toBe(false);
    clearAlarm();
    await waitFor(() => queued(q) === 1, 3000, 'message delivered');
  }, 10_000);
});
