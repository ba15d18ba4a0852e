// Consuming and settling with amqp-client (plus the raw client where a library hides the frames): prefetch,
// exclusive and prioritised consumers, get, ack/nack/reject/recover, confirms and transactions.
import { describe, it, expect } from 'vitest';
import { sharedTarget, rejectionCode, uniq, getAll, sync, collect, waitFor, getOne, sleep, within, RawClient, method, args, contentHeader, body, isMethod, Dec, Enc } from './helpers.ts';

const { target, clients, ch } = sharedTarget();

async function queueWith(c: Awaited<ReturnType<typeof ch>>, n: number, qArgs: Record<string, unknown> = {}): Promise<string> {
  const q = (await c.queueDeclare('', { exclusive: true, autoDelete: false }, qArgs)).name;
  for (let i = 0; i < n; i++) await c.basicPublish('', q, `m${i}`);
  await sync(c);
  return q;
}

describe('consumers and prefetch', () => {
  it('basic.qos prefetch_count limits unacked deliveries per consumer; acking lets the next one through', async () => {
    const c = await ch();
    const q = await queueWith(c, 5);
    await c.basicQos(2);
    const cons = await collect(c, q);
    await waitFor(() => cons.msgs.length === 2, 2000, 'two deliveries');
    await sleep(150);
    expect(cons.msgs.map((m) => m.bodyToString())).toEqual(['m0', 'm1']);
    await cons.msgs[0]!.ack();
    await waitFor(() => cons.msgs.length === 3, 2000, 'third delivery');
    await sleep(100);
    expect(cons.msgs).toHaveLength(3);
  });

  it('basic.qos global=true caps the whole channel while per-consumer prefetch caps each consumer', async () => {
    const c = await ch();
    const q1 = await queueWith(c, 5);
    const q2 = await queueWith(c, 5);
    await c.basicQos(2, 0, false); // per consumer
    await c.basicQos(3, 0, true); // shared by the channel
    const a = await collect(c, q1);
    const b = await collect(c, q2);
    await waitFor(() => a.msgs.length + b.msgs.length === 3, 2000, 'three deliveries');
    await sleep(150);
    expect(a.msgs.length + b.msgs.length).toBe(3);
    expect(a.msgs.length).toBeLessThanOrEqual(2);
    expect(b.msgs.length).toBeLessThanOrEqual(2);
  });

  it('an exclusive consumer keeps others out (403), and cannot join a queue that already has consumers (403)', async () => {
    const c = await ch();
    const q = await queueWith(c, 0);
    await collect(c, q, { exclusive: true, noAck: true });
    const c2 = await ch();
    expect(await rejectionCode(c2.basicConsume(q, { noAck: true }, () => {}))).toBe(403);
    const c3 = await ch();
    const q2 = await queueWith(c3, 0);
    await collect(c3, q2, { noAck: true });
    expect(await rejectionCode(c3.basicConsume(q2, { noAck: true, exclusive: true }, () => {}))).toBe(403);
  });

  it('consumer priorities: the x-priority 10 consumer gets everything while it has capacity, the rest overflow to priority 0', async () => {
    const c = await ch();
    const q = await queueWith(c, 0);
    await c.basicQos(3);
    const low = await collect(c, q, { args: { 'x-priority': 0 } });
    const high = await collect(c, q, { args: { 'x-priority': 10 } });
    for (let i = 0; i < 5; i++) await c.basicPublish('', q, `p${i}`);
    await waitFor(() => high.msgs.length + low.msgs.length === 5, 2000, 'five deliveries');
    expect(high.msgs.map((m) => m.bodyToString())).toEqual(['p0', 'p1', 'p2']);
    expect(low.msgs.map((m) => m.bodyToString())).toEqual(['p3', 'p4']);
  });

  it('round-robin between consumers of equal priority', async () => {
    const c = await ch();
    const q = await queueWith(c, 0);
    const a = await collect(c, q, { noAck: true });
    const b = await collect(c, q, { noAck: true });
    for (let i = 0; i < 6; i++) await c.basicPublish('', q, `r${i}`);
    await waitFor(() => a.msgs.length + b.msgs.length === 6, 2000, 'six deliveries');
    expect(a.msgs.length).toBe(3);
    expect(b.msgs.length).toBe(3);
  });

  it('basic.cancel stops deliveries to that consumer; its unacked messages stay unacked until acked', async () => {
    const c = await ch();
    const q = await queueWith(c, 1);
    const cons = await collect(c, q);
    await waitFor(() => cons.msgs.length === 1, 2000, 'delivery');
    await c.basicCancel(cons.tag);
    await c.basicPublish('', q, 'after cancel');
    await sync(c);
    await sleep(100);
    expect(cons.msgs).toHaveLength(1);
    await cons.msgs[0]!.ack();
    expect(await getAll(c, q)).toEqual(['after cancel']);
  });

  it('reusing a consumer tag on the same channel is refused with 530 NOT_ALLOWED', async () => {
    const c = await clients.amqp();
    const chan = await c.channel();
    const q = (await chan.queueDeclare('', { exclusive: true })).name;
    await chan.basicConsume(q, { tag: 'dup', noAck: true }, () => {});
    expect(await rejectionCode(chan.basicConsume(q, { tag: 'dup', noAck: true }, () => {}))).toBe(530);
  });

  it('consuming from a missing queue fails with 404', async () => {
    const c = await ch();
    expect(await rejectionCode(c.basicConsume(uniq('missing'), { noAck: true }, () => {}))).toBe(404);
  });
});

describe('delivery under pressure and failure', () => {
  it('a consumer that stops reading its socket for a while still gets every message once it reads again', async () => {
    const c = await ch();
    const q = (await c.queueDeclare('', { exclusive: false, autoDelete: false, durable: false })).name;
    const payload = Buffer.alloc(4096, 'z');
    for (let i = 0; i < 2000; i++) c.basicPublish('', q, payload).catch(() => {});
    await sync(c);
    const r = await RawClient.connect(target().port, target().host);
    clients.track(() => r.destroy());
    await r.handshake();
    await r.openChannel(1);
    r.socket.pause();
    // basic.consume no-ack: the broker writes as fast as the socket lets it
    r.send(method(1, 60, 20, new Enc().short(0).shortstr(q).shortstr('slow').bits(false, true, false, false).table({}).buf()));
    await sleep(500);
    r.socket.resume();
    await waitFor(() => r.frames.filter(isMethod(60, 60, 1)).length === 2000, 10_000, '2000 deliveries');
    await c.queueDelete(q);
  }, 20_000);

  it('unacked messages of a consumer whose TCP connection drops are requeued as redelivered', async () => {
    const c = await ch();
    const q = (await c.queueDeclare('', { exclusive: false, autoDelete: false, durable: false })).name;
    await c.basicPublish('', q, 'first');
    await c.basicPublish('', q, 'second');
    await sync(c);
    const r = await RawClient.connect(target().port, target().host);
    await r.handshake();
    await r.openChannel(1);
    r.send(method(1, 60, 20, new Enc().short(0).shortstr(q).shortstr('dropper').bits(false, false, false, false).table({}).buf()));
    await waitFor(() => r.frames.filter(isMethod(60, 60, 1)).length === 2, 3000, 'two deliveries');
    r.destroy();
    await waitFor(async () => (await c.queueDeclare(q, { passive: true })).messageCount === 2, 3000, 'requeued');
    const a = await getOne(c, q);
    const b = await getOne(c, q);
    expect([a.bodyToString(), a.redelivered, b.bodyToString(), b.redelivered]).toEqual(['first', true, 'second', true]);
    await c.queueDelete(q);
  });

  it('100 channels publishing concurrently with confirms lose nothing', async () => {
    const c = await clients.amqp();
    const setup = await c.channel();
    const q = (await setup.queueDeclare('', { exclusive: true, autoDelete: false })).name;
    const chans = await Promise.all(Array.from({ length: 100 }, () => c.channel()));
    await Promise.all(chans.map((x) => x.confirmSelect()));
    await within(Promise.all(chans.flatMap((x, i) => Array.from({ length: 20 }, (_, j) => x.basicPublish('', q, `${i}:${j}`)))), 10_000, 'confirms');
    const got = await getAll(setup, q);
    expect(got).toHaveLength(2000);
    expect(new Set(got).size).toBe(2000);
    // per channel, publish order is kept
    const perChannel = new Map<string, number[]>();
    for (const g of got) {
      const [i, j] = g.split(':');
      perChannel.set(i!, [...(perChannel.get(i!) ?? []), Number(j)]);
    }
    for (const seq of perChannel.values()) expect(seq).toEqual([...seq].sort((a, b) => a - b));
  }, 20_000);
});

describe('message bodies at frame boundaries', () => {
  it('bodies of 0, 1 and around one and two frame payloads round-trip intact (frame_max 8192)', async () => {
    const c = await clients.amqp('?frameMax=8192');
    const chan = await c.channel();
    const q = (await chan.queueDeclare('', { exclusive: true })).name;
    const payload = 8192 - 8;
    const sizes = [0, 1, payload - 1, payload, payload + 1, 2 * payload, 2 * payload + 1, 100_003];
    const bodies = sizes.map((n) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + n) % 256)));
    for (const b of bodies) await chan.basicPublish('', q, b);
    const cons = await collect(chan, q, { noAck: true });
    await waitFor(() => cons.msgs.length === sizes.length, 3000, 'deliveries');
    expect(cons.msgs.map((m) => m.bodySize)).toEqual(sizes);
    cons.msgs.forEach((m, i) => expect(Buffer.from(m.body ?? new Uint8Array()).equals(bodies[i]!), `size ${sizes[i]}`).toBe(true));
  });

  it('frames split across many small TCP segments are reassembled', async () => {
    const r = await RawClient.connect(target().port, target().host);
    clients.track(() => r.destroy());
    await r.handshake();
    const q = uniq('split');
    const data = Buffer.alloc(3000, 'y');
    const wire = Buffer.concat([
      method(1, 20, 10, new Enc().shortstr('').buf()),
      method(1, 50, 10, args.queueDeclare(q, { exclusive: true })),
      method(1, 60, 40, args.basicPublish('', q)), contentHeader(1, data.length), body(1, data),
      method(1, 60, 70, args.basicGet(q, true)),
    ]);
    r.socket.setNoDelay(true);
    for (let off = 0; off < wire.length; off += 7) {
      r.socket.write(wire.subarray(off, off + 7));
      if (off % 700 === 0) await sleep(1);
    }
    await r.expect(isMethod(60, 71, 1), 5000, 'basic.get-ok');
    const parts: Buffer[] = [];
    while (Buffer.concat(parts).length < data.length) parts.push((await r.expect((f) => f.type === 3, 3000, 'body')).payload);
    expect(Buffer.concat(parts).equals(data)).toBe(true);
  });
});

describe('basic.get and settlement', () => {
  it('basic.get returns messages in order with the remaining count, then get-empty', async () => {
    const c = await ch();
    const q = await queueWith(c, 3);
    const m0 = await c.basicGet(q, { noAck: true });
    expect([m0?.bodyToString(), m0?.messageCount, m0?.redelivered, m0?.routingKey, m0?.exchange]).toEqual(['m0', 2, false, q, '']);
    expect((await c.basicGet(q, { noAck: true }))?.messageCount).toBe(1);
    expect((await c.basicGet(q, { noAck: true }))?.messageCount).toBe(0);
    expect(await c.basicGet(q, { noAck: true })).toBeNull();
  });

  it('message properties and headers travel unchanged', async () => {
    const c = await ch();
    const q = await queueWith(c, 0);
    const ts = new Date(Math.floor(Date.now() / 1000) * 1000);
    await c.basicPublish('', q, 'props', {
      contentType: 'application/json', contentEncoding: 'utf-8', deliveryMode: 2, priority: 3, correlationId: 'corr',
      replyTo: 'rt', messageId: 'mid', timestamp: ts, type: 'typ', appId: 'app', userId: 'guest',
      headers: { s: 'str', n: 42, b: true, nested: { k: 'v' }, list: [1, 'two'] },
    });
    const m = await getOne(c, q);
    expect(m.properties).toMatchObject({
      contentType: 'application/json', contentEncoding: 'utf-8', deliveryMode: 2, priority: 3, correlationId: 'corr',
      replyTo: 'rt', messageId: 'mid', type: 'typ', appId: 'app', userId: 'guest',
    });
    expect(m.properties.timestamp?.getTime()).toBe(ts.getTime());
    expect(m.properties.headers).toMatchObject({ s: 'str', n: 42, b: true, nested: { k: 'v' }, list: [1, 'two'] });
  });

  it('ack multiple settles every delivery up to the tag', async () => {
    const c = await ch();
    const q = await queueWith(c, 4);
    const cons = await collect(c, q);
    await waitFor(() => cons.msgs.length === 4, 2000, 'deliveries');
    await cons.msgs[2]!.ack(true);
    await c.basicCancel(cons.tag);
    await c.close();
    const c2 = await ch();
    expect(await getAll(c2, q)).toEqual(['m3']);
  });

  it('nack multiple with requeue puts messages back in order, flagged redelivered', async () => {
    const c = await ch();
    const q = await queueWith(c, 3);
    const cons = await collect(c, q);
    await waitFor(() => cons.msgs.length === 3, 2000, 'deliveries');
    await c.basicCancel(cons.tag);
    await cons.msgs[2]!.nack(true, true);
    await sync(c);
    const again = [await getOne(c, q), await getOne(c, q), await getOne(c, q)];
    expect(again.map((m) => [m.bodyToString(), m.redelivered])).toEqual([['m0', true], ['m1', true], ['m2', true]]);
  });

  it('messages requeued one by one go back to their original positions', async () => {
    const c = await ch();
    const q = await queueWith(c, 4);
    const ms = [await getOne(c, q, false), await getOne(c, q, false), await getOne(c, q, false)];
    for (const m of ms) await m.nack(true);
    expect(await getAll(c, q)).toEqual(['m0', 'm1', 'm2', 'm3']);
  });

  it('reject without requeue drops the message; reject with requeue redelivers it', async () => {
    const c = await ch();
    const q = await queueWith(c, 2);
    const a = await getOne(c, q, false);
    const b = await getOne(c, q, false);
    await a.reject(false);
    await b.reject(true);
    await sync(c);
    const r = await getOne(c, q);
    expect([r.bodyToString(), r.redelivered]).toEqual(['m1', true]);
    expect(await c.basicGet(q, { noAck: true })).toBeNull();
  });

  it('basic.recover redelivers every unacked message with the redelivered flag', async () => {
    const c = await ch();
    const q = await queueWith(c, 2);
    const cons = await collect(c, q);
    await waitFor(() => cons.msgs.length === 2, 2000, 'deliveries');
    await c.basicRecover(true);
    await waitFor(() => cons.msgs.length === 4, 2000, 'redeliveries');
    expect(cons.msgs.slice(2).map((m) => [m.bodyToString(), m.redelivered])).toEqual([['m0', true], ['m1', true]]);
  });

  it('closing a channel requeues its unacked messages for other consumers, marked redelivered', async () => {
    const c = await ch();
    const q = await queueWith(c, 1);
    const c2 = await ch();
    const m = await getOne(c2, q, false);
    expect(m.redelivered).toBe(false);
    await c2.close();
    const again = await getOne(c, q);
    expect([again.bodyToString(), again.redelivered]).toEqual(['m0', true]);
  });

  it('acking an unknown delivery tag closes the channel with 406; so does acking the same tag twice', async () => {
    const c = await ch();
    await c.basicAck(999);
    expect(await rejectionCode(sync(c))).toBe(406);
    const c2 = await ch();
    const q = await queueWith(c2, 1);
    const m = await getOne(c2, q, false);
    await m.ack();
    await c2.basicAck(m.deliveryTag).catch(() => {});
    expect(await rejectionCode(sync(c2))).toBe(406);
  });

  it('ack multiple=true naming an already-acked tag closes the channel with 406', async () => {
    const c = await ch();
    const q = await queueWith(c, 3);
    const ms = [await getOne(c, q, false), await getOne(c, q, false), await getOne(c, q, false)];
    await ms[1]!.ack();
    await c.basicAck(ms[1]!.deliveryTag, true).catch(() => {});
    expect(await rejectionCode(sync(c))).toBe(406);
  });

  it('a publish with an invalid expiration property closes the channel with 406', async () => {
    for (const expiration of ['abc', '-5']) {
      const c = await ch();
      const q = await queueWith(c, 0);
      await c.basicPublish('', q, 'x', { expiration }).catch(() => {});
      expect(await rejectionCode(sync(c)), expiration).toBe(406);
    }
  });

  it('a user_id property that is not the authenticated user closes only the channel with 406', async () => {
    const c = await clients.amqp();
    const chan = await c.channel();
    await chan.basicPublish('amq.direct', 'x', 'forged', { userId: 'mallory' }).catch(() => {});
    expect(await rejectionCode(sync(chan))).toBe(406);
    await sleep(100);
    expect(c.closed).toBe(false);
    const ok = await c.channel();
    await sync(ok);
  });
});

describe('direct reply-to', () => {
  it('a reply published to the amq.rabbitmq.reply-to address reaches the requester', async () => {
    const c = await ch();
    const server = (await c.queueDeclare('', { exclusive: true })).name;
    const replies = await collect(c, 'amq.rabbitmq.reply-to', { noAck: true });
    const s = await ch();
    await s.basicConsume(server, { noAck: true }, async (m) => {
      await s.basicPublish('', m.properties.replyTo ?? '', `pong:${m.bodyToString() ?? ''}`);
    });
    await c.basicPublish('', server, 'ping', { replyTo: 'amq.rabbitmq.reply-to' });
    await waitFor(() => replies.msgs.length === 1, 2000, 'reply');
    expect(replies.msgs[0]!.bodyToString()).toBe('pong:ping');
  });
});

describe('publisher confirms', () => {
  it('every publish on a confirm channel is acked, including an unroutable mandatory one after its basic.return', async () => {
    const c = await ch();
    await c.confirmSelect();
    const q = (await c.queueDeclare('', { exclusive: true })).name;
    const events: string[] = [];
    c.onReturn = () => {
      events.push('return');
    };
    const seqs = await Promise.all([c.basicPublish('', q, 'a'), c.basicPublish('', q, 'b'), c.basicPublish('', q, 'c', { deliveryMode: 2 })]);
    expect(seqs).toEqual([1, 2, 3]);
    await c.basicPublish('amq.direct', uniq('nobody'), 'unroutable', {}, true).then(() => events.push('ack'));
    expect(events).toEqual(['return', 'ack']);
    expect(await getAll(c, q)).toEqual(['a', 'b', 'c']);
  });

  it('persistent messages to a durable queue are confirmed, mixed with transient ones', async () => {
    const c = await ch();
    await c.confirmSelect();
    const q = uniq('durable-confirm');
    await c.queueDeclare(q, { durable: true, autoDelete: false, exclusive: false });
    const order: number[] = [];
    const pubs = Array.from({ length: 50 }, (_, i) => c.basicPublish('', q, `d${i}`, { deliveryMode: i % 3 === 0 ? 1 : 2 }).then((seq) => order.push(seq)));
    await within(Promise.all(pubs), 5000, 'confirms');
    // brokers may confirm out of order (RabbitMQ acks transient messages before earlier persistent ones)
    expect([...order].sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect((await c.queueDelete(q)).messageCount).toBe(50);
  });

  it('x-overflow reject-publish: the publish that does not fit is nacked, the ones before it are acked', async () => {
    const c = await ch();
    await c.confirmSelect();
    const q = (await c.queueDeclare('', { exclusive: true }, { 'x-max-length': 1, 'x-overflow': 'reject-publish' })).name;
    expect(await c.basicPublish('', q, 'fits')).toBe(1);
    await expect(c.basicPublish('', q, 'refused')).rejects.toThrow(/rejected/i);
    expect(await getAll(c, q)).toEqual(['fits']);
  });

  it('reject-publish: two publishes in one write get exactly one confirm each (ack 1, nack 2)', async () => {
    const r = await RawClient.connect(target().port, target().host);
    clients.track(() => r.destroy());
    await r.handshake();
    await r.openChannel(1);
    r.send(method(1, 85, 10, Buffer.from([0])));
    await r.expect(isMethod(85, 11, 1));
    const q = uniq('rp');
    r.send(method(1, 50, 10, args.queueDeclare(q, { exclusive: true }, { 'x-max-length': 1, 'x-overflow': 'reject-publish' })));
    await r.expect(isMethod(50, 11, 1));
    r.send(
      method(1, 60, 40, args.basicPublish('', q)), contentHeader(1, 1), body(1, 'a'),
      method(1, 60, 40, args.basicPublish('', q)), contentHeader(1, 1), body(1, 'b'),
    );
    await waitFor(() => r.frames.some(isMethod(60, 120, 1)), 2000, 'basic.nack');
    await sleep(300);
    // every confirm frame, expanded to the sequence numbers it settles; a frame naming an already settled tag is a
    // second confirm for it
    const settled = new Map<number, string>();
    const dup: number[] = [];
    for (const f of r.frames.filter((x) => isMethod(60, 80, 1)(x) || isMethod(60, 120, 1)(x))) {
      const d = new Dec(f.payload.subarray(4));
      const tag = d.longlong();
      const multiple = (d.octet() & 1) === 1;
      if (settled.has(tag)) dup.push(tag);
      for (let s = multiple ? 1 : tag; s <= tag; s++) if (!settled.has(s)) settled.set(s, f.methodId === 80 ? 'ack' : 'nack');
    }
    expect(dup).toEqual([]);
    expect([...settled].sort()).toEqual([[1, 'ack'], [2, 'nack']]);
  });

  it('confirm.select on a transactional channel is refused with 406', async () => {
    const c = await ch();
    await c.txSelect();
    expect(await rejectionCode(c.confirmSelect())).toBe(406);
  });
});

describe('transactions', () => {
  it('publishes become visible only at tx.commit; tx.rollback discards them', async () => {
    const c = await ch();
    const q = await queueWith(c, 0);
    await c.txSelect();
    await c.basicPublish('', q, 'committed');
    const obs = await ch();
    expect((await obs.queueDeclare(q, { passive: true })).messageCount).toBe(0);
    await c.txCommit();
    await c.basicPublish('', q, 'rolled back');
    await c.txRollback();
    expect(await getAll(obs, q)).toEqual(['committed']);
  });

  it('acks in a transaction take effect at commit; a rolled-back ack leaves the message unacked', async () => {
    const c = await ch();
    const q = await queueWith(c, 2);
    await c.txSelect();
    const a = await getOne(c, q, false);
    const b = await getOne(c, q, false);
    await a.ack();
    await c.txRollback();
    await b.ack();
    await c.txCommit();
    // a's ack was rolled back: it is still unacked on this channel and comes back when the channel closes
    const obs = await ch();
    expect((await obs.queueDeclare(q, { passive: true })).messageCount).toBe(0);
    await c.close();
    const back = await getOne(obs, q);
    expect([back.bodyToString(), back.redelivered]).toEqual(['m0', true]);
    expect(await obs.basicGet(q, { noAck: true })).toBeNull();
  });

  it('an ack of an unknown tag inside a transaction fails at once and nothing of the transaction is applied', async () => {
    const c = await ch();
    const q = await queueWith(c, 0);
    await c.txSelect();
    await c.basicPublish('', q, 'must not be routed');
    await c.basicAck(42);
    expect(await rejectionCode(sync(c))).toBe(406);
    const obs = await ch();
    expect((await obs.queueDeclare(q, { passive: true })).messageCount).toBe(0);
  });

  it('tx.commit without tx.select is refused with 406', async () => {
    const c = await ch();
    expect(await rejectionCode(c.txCommit())).toBe(406);
  });
});
