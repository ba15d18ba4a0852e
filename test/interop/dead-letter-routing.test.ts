// Dead letters produced while a message is being routed (a queue that drops its head or expires the message on
// arrival) must not disturb the routing of that message: every queue it goes to gets its copy, and a publisher's
// confirm still waits for every copy to be safe. RabbitMQ 3.10 behaves so; these ran against it too.
import { describe, it, expect, afterAll } from 'vitest';
import { AMQPClient } from '@cloudamqp/amqp-client';
import { startBroker, type RunningBroker } from '../../packages/broker/src/index.ts';
import { MemoryStore } from '../../packages/broker/src/store/memory-store.ts';
import { MemoryDefinitionsStore } from '../../packages/broker/src/store/definitions-store.ts';
import type { DurableWaiter } from '../../packages/broker/src/store/message-store.ts';
import { sharedTarget, uniq, waitFor, sleep } from './helpers.ts';

const { ch } = sharedTarget();
type Chan = Awaited<ReturnType<typeof ch>>;

async function fanoutTo(c: Chan, queues: { name: string; args: Record<string, unknown> }[]): Promise<string> {
  const ex = uniq('fan');
  await c.exchangeDeclare(ex, 'fanout', { durable: false, autoDelete: true });
  for (const q of queues) {
    await c.queueDeclare(q.name, { exclusive: true, durable: false, autoDelete: false }, q.args);
    await c.queueBind(q.name, ex, '');
  }
  return ex;
}

async function count(c: Chan, q: string): Promise<number> {
  return (await c.queueDeclare(q, { passive: true })).messageCount;
}

describe('dead-lettering while a message is routed', () => {
  it('a fanout to a capped queue with a dead-letter exchange and to an archive queue: the archive gets every message', async () => {
    const c = await ch();
    const dlx = uniq('dlx');
    await c.exchangeDeclare(dlx, 'fanout', { durable: false, autoDelete: true });
    const dead = uniq('dead');
    await c.queueDeclare(dead, { exclusive: true, durable: false, autoDelete: false });
    await c.queueBind(dead, dlx, '');
    const capped = uniq('capped');
    const archive = uniq('archive');
    const ex = await fanoutTo(c, [
      { name: capped, args: { 'x-max-length': 5, 'x-dead-letter-exchange': dlx } },
      { name: archive, args: {} },
    ]);
    await c.confirmSelect();
    for (let i = 0; i < 20; i++) await c.basicPublish(ex, '', `m${i}`);
    expect(await count(c, archive)).toBe(20);
    expect(await count(c, capped)).toBe(5);
    expect(await count(c, dead)).toBe(15);
  });

  it('x-message-ttl 0 with a dead-letter exchange, and x-max-length 0 dropping the head: the other queue keeps its copy', async () => {
    const c = await ch();
    const dlx = uniq('dlx');
    await c.exchangeDeclare(dlx, 'fanout', { durable: false, autoDelete: true });
    const dead = uniq('dead');
    await c.queueDeclare(dead, { exclusive: true, durable: false, autoDelete: false });
    await c.queueBind(dead, dlx, '');
    const [q1, q2, q3, q4] = [uniq('q1'), uniq('q2'), uniq('q3'), uniq('q4')];
    const ttl = await fanoutTo(c, [{ name: q1, args: { 'x-message-ttl': 0, 'x-dead-letter-exchange': dlx } }, { name: q2, args: {} }]);
    const len = await fanoutTo(c, [{ name: q3, args: { 'x-max-length': 0, 'x-overflow': 'drop-head', 'x-dead-letter-exchange': dlx } }, { name: q4, args: {} }]);
    await c.basicPublish(ttl, '', 'a');
    await c.basicPublish(len, '', 'b');
    await waitFor(async () => (await count(c, dead)) === 2, 5000, 'both dead letters');
    expect([await count(c, q1), await count(c, q2), await count(c, q3), await count(c, q4)]).toEqual([0, 1, 0, 1]);
  });
});

/** A message store whose disc writes complete only when the test says so (the confirm must wait for them). */
class HeldStore extends MemoryStore {
  held: { waiter: DurableWaiter; token: number }[] = [];
  override whenDurable(waiter: DurableWaiter, token: number): void {
    this.held.push({ waiter, token });
  }
  release(): void {
    for (const h of this.held.splice(0)) h.waiter.onDurable(h.token);
  }
}

describe('confirms of a message dead-lettered by one queue and stored by another', () => {
  let b: RunningBroker | null = null;
  afterAll(async () => {
    await b?.close();
  });

  it('the confirm waits for the durable queue\'s disc write', async () => {
    const store = new HeldStore();
    b = await startBroker({ port: 0, stores: { messages: store, definitions: new MemoryDefinitionsStore() } });
    const conn = await new AMQPClient(b.url).connect();
    const c = await conn.channel();
    await c.exchangeDeclare('dlx', 'fanout', { durable: true });
    await c.exchangeDeclare('fan', 'fanout', { durable: true });
    await c.queueDeclare('q1', { durable: true }, { 'x-message-ttl': 0, 'x-dead-letter-exchange': 'dlx' });
    await c.queueDeclare('q2', { durable: true });
    await c.queueBind('q1', 'fan', '');
    await c.queueBind('q2', 'fan', '');
    await c.confirmSelect();
    let confirmed = false;
    const p = c.basicPublish('fan', '', 'safe?', { deliveryMode: 2 }).then(() => {
      confirmed = true;
    });
    await waitFor(() => store.held.length > 0, 5000, 'the disc write to be asked for');
    await sleep(100);
    expect(confirmed).toBe(false);
    store.release();
    await p;
    expect(confirmed).toBe(true);
    expect((await c.queueDeclare('q2', { passive: true })).messageCount).toBe(1);
    await conn.close();
  });
});
