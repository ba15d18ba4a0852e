// A confirm channel's basic.acks all go out before its channel.close-ok, as RabbitMQ 3.10 sends them: a client forgets
// the channel at close-ok, and amqplib fails the whole connection ("Frame on unknown channel") on a later ack.
import { describe, it, expect, afterAll } from 'vitest';
import amqp from 'amqplib';
import { startBroker } from '../../packages/broker/src/index.ts';
import { MemoryStore } from '../../packages/broker/src/store/memory-store.ts';
import { MemoryDefinitionsStore } from '../../packages/broker/src/store/definitions-store.ts';
import type { DurableWaiter } from '../../packages/broker/src/store/message-store.ts';
import { startTarget, RawClient, method, Enc, args, contentHeader, body, isMethod, uniq, sleep, waitFor, type Target } from './helpers.ts';

let t: Target | null = null;
const onChannel1 = (r: RawClient): string[] => r.frames.filter((f) => f.channel === 1).map((f) => `${f.classId}.${f.methodId}`);
afterAll(async () => {
  await t?.close();
});

describe('confirms before channel.close-ok', () => {
  it('amqplib: 1,000 publishes on a confirm channel, then close, leave the connection working', async () => {
    t = await startTarget();
    const conn = await amqp.connect(t.url);
    const errors: unknown[] = [];
    conn.on('error', (e) => errors.push(e));
    try {
      const setup = await conn.createChannel();
      const q = uniq('cc');
      await setup.assertQueue(q, { durable: false, exclusive: true });
      for (let round = 0; round < 3; round++) {
        const c = await conn.createConfirmChannel();
        for (let i = 0; i < 1000; i++) c.sendToQueue(q, Buffer.from(`m${i}`));
        await c.close();
      }
      // the connection is still usable: the acks came while amqplib still knew the channel
      expect((await setup.checkQueue(q)).messageCount).toBe(3000);
      expect(errors).toEqual([]);
    } finally {
      await conn.close().catch(() => {});
    }
  }, 20_000);

  it('one publish and the close in one read: the ack precedes the close-ok', async () => {
    t ??= await startTarget();
    const r = await RawClient.connect(t.port, t.host);
    try {
      await r.handshake();
      await r.openChannel(1);
      r.send(method(1, 85, 10, new Enc().bits(false).buf())); // confirm.select
      await r.expect(isMethod(85, 11, 1));
      const q = uniq('cc1');
      r.send(method(1, 50, 10, args.queueDeclare(q, { exclusive: true })));
      await r.expect(isMethod(50, 11, 1));
      r.send(
        method(1, 60, 40, args.basicPublish('', q)),
        contentHeader(1, 2),
        body(1, 'hi'),
        method(1, 20, 40, new Enc().short(200).shortstr('bye').short(0).short(0).buf()),
      );
      await waitFor(() => r.frames.some(isMethod(20, 41, 1)), 3000, 'channel.close-ok');
      await sleep(50);
      // basic.ack, then close-ok, and nothing after it
      expect(onChannel1(r)).toEqual(['60.80', '20.41']);
    } finally {
      r.destroy();
    }
  });
});

/** A message store whose disc writes complete only when the test says so. */
class HeldStore extends MemoryStore {
  held: { waiter: DurableWaiter; token: number }[] = [];
  override whenDurable(waiter: DurableWaiter, token: number): void {
    this.held.push({ waiter, token });
  }
  release(): void {
    for (const h of this.held.splice(0)) h.waiter.onDurable(h.token);
  }
}

describe('a close while persistent messages are on their way to disc', () => {
  it('close-ok waits for their confirms, which come first', async () => {
    const store = new HeldStore();
    const b = await startBroker({ port: 0, stores: { messages: store, definitions: new MemoryDefinitionsStore() } });
    const r = await RawClient.connect(b.port);
    try {
      await r.handshake();
      await r.openChannel(1);
      r.send(method(1, 85, 10, new Enc().bits(false).buf()));
      await r.expect(isMethod(85, 11, 1));
      r.send(method(1, 50, 10, args.queueDeclare('dq', { durable: true })));
      await r.expect(isMethod(50, 11, 1));
      const persistent = new Enc().octet(2).buf(); // delivery-mode 2
      r.send(
        method(1, 60, 40, args.basicPublish('', 'dq')),
        contentHeader(1, 1, 0x1000, persistent),
        body(1, 'x'),
        method(1, 20, 40, new Enc().short(200).shortstr('bye').short(0).short(0).buf()),
      );
      await waitFor(() => store.held.length > 0, 5000, 'the disc write');
      await sleep(100);
      expect(onChannel1(r)).toEqual([]);
      store.release();
      await waitFor(() => r.frames.some(isMethod(20, 41, 1)), 3000, 'channel.close-ok');
      await sleep(50);
      expect(onChannel1(r)).toEqual(['60.80', '20.41']);
    } finally {
      r.destroy();
      await b.close();
    }
  });
});
