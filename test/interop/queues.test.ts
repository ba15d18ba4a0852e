// Queues with amqp-client: declare rules (server names, passive, exclusive, auto-delete, equivalence), bind/unbind,
// purge and delete with their preconditions.
import { describe, it, expect } from 'vitest';
import { sharedTarget, rejectionCode, uniq, getAll, sync, collect, waitFor, getOne, RawClient, method, args, isMethod, ON_REF } from './helpers.ts';

const { target, clients, ch } = sharedTarget();

describe('queue.declare', () => {
  it('an empty name gets a server-generated amq.gen-* name; declare-ok reports messages and consumers', async () => {
    const c = await ch();
    const a = await c.queueDeclare('', { exclusive: true });
    const b = await c.queueDeclare('', { exclusive: true });
    expect(a.name).toMatch(/^amq\.gen-.+/);
    expect(b.name).not.toBe(a.name);
    await c.basicPublish('', a.name, 'one');
    await c.basicPublish('', a.name, 'two');
    await sync(c);
    await collect(c, a.name, { noAck: false, tag: 'keep' });
    const again = await c.queueDeclare(a.name, { passive: true });
    expect(again.consumerCount).toBe(1);
    const named = uniq('q');
    await c.queueDeclare(named, { durable: false, autoDelete: false, exclusive: false });
    await c.basicPublish('', named, 'x');
    await c.basicPublish('', named, 'y');
    await sync(c);
    const ok = await c.queueDeclare(named, { passive: true });
    expect([ok.name, ok.messageCount, ok.consumerCount]).toEqual([named, 2, 0]);
    await c.queueDelete(named);
  });

  it('passive declare of a missing queue fails with 404 NOT_FOUND', async () => {
    const c = await ch();
    expect(await rejectionCode(c.queueDeclare(uniq('missing'), { passive: true }))).toBe(404);
  });

  it('a queue name with the reserved amq. prefix is refused with 403', async () => {
    const c = await ch();
    expect(await rejectionCode(c.queueDeclare(`amq.${uniq('mine')}`, { durable: false }))).toBe(403);
  });

  it('redeclaring with a different durable flag or x-argument fails with 406', async () => {
    const c = await ch();
    const q = uniq('q');
    await c.queueDeclare(q, { durable: false, autoDelete: false, exclusive: false }, { 'x-message-ttl': 1000 });
    expect(await rejectionCode(c.queueDeclare(q, { durable: true, autoDelete: false, exclusive: false }, { 'x-message-ttl': 1000 }))).toBe(406);
    const c2 = await ch();
    expect(await rejectionCode(c2.queueDeclare(q, { durable: false, autoDelete: false, exclusive: false }, { 'x-message-ttl': 2000 }))).toBe(406);
    const c3 = await ch();
    await c3.queueDeclare(q, { durable: false, autoDelete: false, exclusive: false }, { 'x-message-ttl': 1000 });
    await c3.queueDelete(q);
  });

  it('invalid x-arguments are refused with 406 (negative TTL, unknown overflow, DLX routing key without DLX)', async () => {
    for (const args of [{ 'x-message-ttl': -1 }, { 'x-overflow': 'explode' }, { 'x-dead-letter-routing-key': 'k' }, { 'x-max-length': -5 }]) {
      const c = await ch();
      expect(await rejectionCode(c.queueDeclare(uniq('q'), { durable: false, autoDelete: false, exclusive: false }, args)), JSON.stringify(args)).toBe(406);
    }
  });

  it('an exclusive queue is locked (405 RESOURCE_LOCKED) for other connections and deleted when its owner closes', async () => {
    const owner = await clients.amqp();
    const oc = await owner.channel();
    const q = uniq('excl');
    await oc.queueDeclare(q, { exclusive: true, durable: false, autoDelete: false });
    const other = await clients.amqp();
    expect(await rejectionCode((await other.channel()).queueDeclare(q, { passive: true }))).toBe(405);
    expect(await rejectionCode((await other.channel()).basicConsume(q, { noAck: true }, () => {}))).toBe(405);
    expect(await rejectionCode((await other.channel()).basicGet(q))).toBe(405);
    expect(await rejectionCode((await other.channel()).queueDelete(q))).toBe(405);
    // publishing to it from elsewhere is allowed
    const pc = await other.channel();
    await pc.basicPublish('', q, 'from another connection');
    await sync(pc);
    expect((await getOne(oc, q)).bodyToString()).toBe('from another connection');
    await owner.close();
    await waitFor(async () => (await rejectionCode((await other.channel()).queueDeclare(q, { passive: true }))) === 404, 3000, 'exclusive queue deleted');
  });

  it('an auto-delete queue survives until it has had a consumer, and is deleted when the last consumer goes', async () => {
    const c = await ch();
    const q = uniq('ad');
    await c.queueDeclare(q, { autoDelete: true, durable: false, exclusive: false });
    await c.queueDeclare(q, { passive: true }); // no consumer yet: still there
    const a = await collect(c, q, { noAck: true, tag: 'a' });
    const b = await collect(c, q, { noAck: true, tag: 'b' });
    await c.basicCancel(a.tag);
    await c.queueDeclare(q, { passive: true }); // one consumer left
    await c.basicCancel(b.tag);
    await waitFor(async () => (await rejectionCode((await ch()).queueDeclare(q, { passive: true }))) === 404, 3000, 'auto-delete');
  });
  it('an empty queue name refers to the queue last declared on the channel', async () => {
    const c = await ch();
    await c.queueDeclare('', { exclusive: true });
    await c.queueBind('', 'amq.direct', 'shortcut-key');
    await c.basicPublish('amq.direct', 'shortcut-key', 'via shortcut');
    await sync(c);
    expect((await c.basicGet('', { noAck: true }))?.bodyToString()).toBe('via shortcut');
  });

  it('queue.bind with an empty queue name and an empty routing key uses the queue name as the key', async () => {
    const c = await ch();
    const q = (await c.queueDeclare('', { exclusive: true })).name;
    await c.queueBind('', 'amq.direct', '');
    await c.basicPublish('amq.direct', q, 'by queue name');
    await c.basicPublish('amq.direct', '', 'by empty key');
    expect(await getAll(c, q)).toEqual(['by queue name']);
  });

  it('an empty queue name on a channel that declared no queue is 404', async () => {
    const c = await ch();
    expect(await rejectionCode(c.basicGet('', { noAck: true }))).toBe(404);
  });

  it('redeclaring an exclusive queue as non-exclusive fails with 405', async () => {
    const c = await ch();
    const q = uniq('excl');
    await c.queueDeclare(q, { exclusive: true, durable: false, autoDelete: false });
    expect(await rejectionCode(c.queueDeclare(q, { exclusive: false, durable: false, autoDelete: false }))).toBe(405);
  });
});

describe('bind, unbind, purge, delete', () => {
  it('queue.bind to a missing exchange or of a missing queue fails with 404; unbind stops routing', async () => {
    const c = await ch();
    const q = await c.queueDeclare('', { exclusive: true });
    expect(await rejectionCode(c.queueBind(q.name, uniq('nox'), 'k'))).toBe(404);
    const c2 = await ch();
    expect(await rejectionCode(c2.queueBind(uniq('noq'), 'amq.direct', 'k'))).toBe(404);
    const c3 = await ch();
    const rk = uniq('rk');
    await c3.queueBind(q.name, 'amq.direct', rk);
    await c3.queueBind(q.name, 'amq.direct', rk); // idempotent
    await c3.basicPublish('amq.direct', rk, 'bound');
    await c3.queueUnbind(q.name, 'amq.direct', rk);
    await c3.basicPublish('amq.direct', rk, 'unbound');
    expect(await getAll(c3, q.name)).toEqual(['bound']);
  });

  it('queue.purge removes ready messages, reports how many, and leaves unacked ones alone', async () => {
    const c = await ch();
    const q = (await c.queueDeclare('', { exclusive: true })).name;
    for (let i = 0; i < 5; i++) await c.basicPublish('', q, `m${i}`);
    await sync(c);
    const held = await getOne(c, q, false);
    expect((await c.queuePurge(q)).messageCount).toBe(4);
    expect((await c.queueDeclare(q, { passive: true })).messageCount).toBe(0);
    await held.nack(true);
    await sync(c);
    expect(await getAll(c, q)).toEqual(['m0']);
  });

  it('queue.delete if-unused fails with 406 while consumed, if-empty with 406 while holding messages; delete reports the count', async () => {
    const c = await ch();
    const q = uniq('del');
    await c.queueDeclare(q, { durable: false, autoDelete: false, exclusive: false });
    await c.basicPublish('', q, 'a');
    await c.basicPublish('', q, 'b');
    await sync(c);
    expect(await rejectionCode(c.queueDelete(q, { ifEmpty: true }))).toBe(406);
    const c2 = await ch();
    const cons = await collect(c2, q, { noAck: false, tag: 'holder' });
    await waitFor(() => cons.msgs.length === 2, 2000, 'deliveries');
    const c3 = await ch();
    expect(await rejectionCode(c3.queueDelete(q, { ifUnused: true }))).toBe(406);
    await c2.close(); // messages back to ready
    const c4 = await ch();
    expect((await c4.queueDelete(q)).messageCount).toBe(2);
    expect((await c4.queueDelete(q)).messageCount).toBe(0); // deleting a missing queue is fine
  });

  it('deleting a queue cancels its consumers with a server-sent basic.cancel', async () => {
    const c = await ch();
    const q = uniq('gone');
    await c.queueDeclare(q, { durable: false, autoDelete: false, exclusive: false });
    const cons = await collect(c, q, { noAck: true });
    const other = await ch();
    await other.queueDelete(q);
    const why = await Promise.race([cons.cancelled, new Promise<string>((r) => setTimeout(() => r('no cancel'), 3000))]);
    expect(why).toMatch(/cancel/i);
    expect(c.closed).toBe(false);
  });
});

describe.skipIf(ON_REF)('cleanup when connections go away', () => {
  it('50 connections with exclusive queues and consumers, half closed cleanly and half cut off, leave nothing behind', async () => {
    const vh = target().warren!.broker.vhosts.get('/')!;
    const before = vh.queues.size;
    const raws: RawClient[] = [];
    for (let i = 0; i < 25; i++) {
      const c = await clients.amqp();
      const chan = await c.channel();
      const q = await chan.queueDeclare('', { exclusive: true });
      await chan.basicConsume(q.name, { noAck: false }, () => {});
      await chan.basicPublish('', q.name, 'x');
      const r = await RawClient.connect(target().port, target().host);
      raws.push(r);
      await r.handshake();
      await r.openChannel(1);
      r.send(method(1, 50, 10, args.queueDeclare(`cut-${i}-${uniq()}`, { exclusive: true })));
      await r.expect(isMethod(50, 11, 1));
    }
    expect(vh.queues.size).toBe(before + 50);
    await clients.closeAll();
    for (const r of raws) r.destroy();
    await waitFor(() => vh.queues.size === before && target().warren!.broker.connections.size === 0, 5000, 'cleanup');
  }, 20_000);
});

