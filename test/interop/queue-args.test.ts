// Queue arguments and the same settings through policies: TTLs, expiry, length limits and overflow, dead-lettering
// with the x-death header, priorities.
import { describe, it, expect, afterEach } from 'vitest';
import { sharedTarget, rejectionCode, uniq, getAll, sync, collect, waitFor, getOne, sleep, ON_REF } from './helpers.ts';

const { target, ch } = sharedTarget();
type Chan = Awaited<ReturnType<typeof ch>>;

async function declare(c: Chan, qArgs: Record<string, unknown> = {}, name = uniq('qa')): Promise<string> {
  await c.queueDeclare(name, { exclusive: true, autoDelete: false, durable: false }, qArgs);
  return name;
}

/** A fanout dead-letter exchange with one queue behind it. */
async function dlx(c: Chan): Promise<{ exchange: string; queue: string }> {
  const exchange = uniq('dlx');
  await c.exchangeDeclare(exchange, 'fanout', { durable: false, autoDelete: true });
  const queue = await declare(c);
  await c.queueBind(queue, exchange, '');
  return { exchange, queue };
}

type Death = Record<string, unknown>;
function deaths(m: { properties: { headers?: Record<string, unknown> } }): Death[] {
  return (m.properties.headers?.['x-death'] ?? []) as Death[];
}

describe('TTL and expiry', () => {
  it('x-message-ttl: messages not consumed in time are discarded', async () => {
    const c = await ch();
    const q = await declare(c, { 'x-message-ttl': 150 });
    await c.basicPublish('', q, 'short-lived');
    await sync(c);
    expect((await c.queueDeclare(q, { passive: true })).messageCount).toBe(1);
    await sleep(400);
    expect(await c.basicGet(q, { noAck: true })).toBeNull();
  });

  it('per-message expiration is honoured and the lower of it and x-message-ttl wins', async () => {
    const c = await ch();
    const q = await declare(c, { 'x-message-ttl': 60_000 });
    await c.basicPublish('', q, 'expires', { expiration: '100' });
    await c.basicPublish('', q, 'stays');
    const plain = await declare(c);
    await c.basicPublish('', plain, 'expires too', { expiration: '100' });
    await sleep(400);
    expect(await getAll(c, q)).toEqual(['stays']);
    expect(await getAll(c, plain)).toEqual([]);
  });

  it('x-expires deletes a queue that has had no consumers, gets or redeclarations for that long', { timeout: 10_000 }, async () => {
    const c = await ch();
    const q = uniq('exp');
    await c.queueDeclare(q, { durable: false, autoDelete: false, exclusive: false }, { 'x-expires': 1500 });
    await sleep(900);
    await c.basicGet(q, { noAck: true }); // use resets the timer
    await sleep(900);
    await c.queueDeclare(q, { passive: true }); // past the first deadline: the get renewed it
    await sleep(2000);
    expect(await rejectionCode((await ch()).queueDeclare(q, { passive: true }))).toBe(404);
  });
});

describe('TTL edge cases', () => {
  it('x-message-ttl 0 delivers to a waiting consumer and drops the message when nobody is consuming', async () => {
    const c = await ch();
    const live = await declare(c, { 'x-message-ttl': 0 });
    const cons = await collect(c, live, { noAck: true });
    await c.basicPublish('', live, 'now');
    await waitFor(() => cons.msgs.length === 1, 2000, 'delivery');
    const idle = await declare(c, { 'x-message-ttl': 0 });
    await c.basicPublish('', idle, 'nobody');
    await sync(c);
    await sleep(50);
    expect((await c.queueDeclare(idle, { passive: true })).messageCount).toBe(0);
  });

  it('a queue that dead-letters expired messages to itself drops them instead of looping', async () => {
    const c = await ch();
    const q = uniq('cycle');
    await declare(c, { 'x-message-ttl': 20, 'x-dead-letter-exchange': '' }, q);
    await c.basicPublish('', q, 'loop');
    await sleep(400);
    expect((await c.queueDeclare(q, { passive: true })).messageCount).toBe(0);
  });
});

describe('length limits and overflow', () => {
  it('x-max-length with the default drop-head keeps the newest messages', async () => {
    const c = await ch();
    const q = await declare(c, { 'x-max-length': 2 });
    for (const b of ['a', 'b', 'c', 'd']) await c.basicPublish('', q, b);
    expect(await getAll(c, q)).toEqual(['c', 'd']);
  });

  it('x-max-length still holds after an unacked message is requeued', async () => {
    const c = await ch();
    const q = await declare(c, { 'x-max-length': 2 });
    await c.basicPublish('', q, 'm0');
    await c.basicPublish('', q, 'm1');
    await sync(c);
    const held = await getOne(c, q, false);
    await c.basicPublish('', q, 'm2');
    await c.basicPublish('', q, 'm3');
    await sync(c);
    await held.nack(true);
    expect(await getAll(c, q)).toEqual(['m2', 'm3']);
  });

  it('x-max-length-bytes counts body bytes', async () => {
    const c = await ch();
    const q = await declare(c, { 'x-max-length-bytes': 10 });
    for (const b of ['12345', '67890', 'abcde']) await c.basicPublish('', q, b);
    expect(await getAll(c, q)).toEqual(['67890', 'abcde']);
  });

  it('x-overflow reject-publish keeps the oldest messages and refuses new ones', async () => {
    const c = await ch();
    const q = await declare(c, { 'x-max-length': 2, 'x-overflow': 'reject-publish' });
    for (const b of ['a', 'b', 'c']) await c.basicPublish('', q, b);
    expect(await getAll(c, q)).toEqual(['a', 'b']);
  });

  it('x-overflow reject-publish-dlx refuses the new message (nack) and dead-letters it with reason maxlen', async () => {
    const c = await ch();
    const d = await dlx(c);
    const q = await declare(c, { 'x-max-length': 1, 'x-overflow': 'reject-publish-dlx', 'x-dead-letter-exchange': d.exchange });
    await c.confirmSelect();
    await c.basicPublish('', q, 'kept');
    await expect(c.basicPublish('', q, 'refused')).rejects.toThrow(/rejected/i);
    expect(await getAll(c, q)).toEqual(['kept']);
    const m = await getOne(c, d.queue);
    expect(m.bodyToString()).toBe('refused');
    expect(deaths(m)[0]).toMatchObject({ reason: 'maxlen', queue: q });
  });

  it('x-overflow drop-head dead-letters the dropped head with reason maxlen', async () => {
    const c = await ch();
    const d = await dlx(c);
    const q = await declare(c, { 'x-max-length': 1, 'x-overflow': 'drop-head', 'x-dead-letter-exchange': d.exchange });
    await c.basicPublish('', q, 'first');
    await c.basicPublish('', q, 'second');
    const m = await getOne(c, d.queue);
    expect(m.bodyToString()).toBe('first');
    expect(deaths(m)[0]).toMatchObject({ reason: 'maxlen', queue: q, count: 1 });
  });
});

describe('dead-lettering', () => {
  it('a rejected message goes to the DLX with an x-death entry naming reason, count, queue, exchange and routing keys', async () => {
    const c = await ch();
    const d = await dlx(c);
    const src = uniq('src');
    await c.exchangeDeclare(src, 'direct', { durable: false, autoDelete: true });
    const q = await declare(c, { 'x-dead-letter-exchange': d.exchange });
    await c.queueBind(q, src, 'orders');
    await c.basicPublish(src, 'orders', 'bad order', { headers: { mine: 'kept' } });
    await sync(c);
    await (await getOne(c, q, false)).reject(false);
    const m = await getOne(c, d.queue);
    expect(m.bodyToString()).toBe('bad order');
    expect(m.exchange).toBe(d.exchange);
    expect(m.routingKey).toBe('orders');
    expect(m.properties.headers?.['mine']).toBe('kept');
    const [death] = deaths(m);
    expect(death).toMatchObject({ reason: 'rejected', count: 1, queue: q, exchange: src, 'routing-keys': ['orders'] });
    expect(death?.['time']).toBeInstanceOf(Date);
    expect(m.properties.headers?.['x-first-death-reason']).toBe('rejected');
    expect(m.properties.headers?.['x-first-death-queue']).toBe(q);
  });

  it('nack without requeue dead-letters too; x-dead-letter-routing-key replaces the routing key', async () => {
    const c = await ch();
    const x = uniq('dlxd');
    await c.exchangeDeclare(x, 'direct', { durable: false, autoDelete: true });
    const target = await declare(c);
    await c.queueBind(target, x, 'dead');
    const q = await declare(c, { 'x-dead-letter-exchange': x, 'x-dead-letter-routing-key': 'dead' });
    await c.basicPublish('', q, 'nacked');
    await sync(c);
    await (await getOne(c, q, false)).nack(false);
    const m = await getOne(c, target);
    expect([m.bodyToString(), m.routingKey]).toEqual(['nacked', 'dead']);
    expect(deaths(m)[0]).toMatchObject({ reason: 'rejected', queue: q, exchange: '', 'routing-keys': [q] });
  });

  it('an expired message is dead-lettered with reason expired and its original expiration, without an expiration of its own', async () => {
    const c = await ch();
    const d = await dlx(c);
    const q = await declare(c, { 'x-dead-letter-exchange': d.exchange });
    await c.basicPublish('', q, 'too late', { expiration: '50' });
    const m = await getOne(c, d.queue, true, 3000);
    expect(m.properties.expiration).toBeUndefined();
    expect(deaths(m)[0]).toMatchObject({ reason: 'expired', queue: q, 'original-expiration': '50' });
  });

  it('a retry loop through a TTL queue counts deaths per queue and reason in x-death', async () => {
    const c = await ch();
    const work = uniq('work');
    const retry = uniq('retry');
    // work --reject--> (default exchange, rk=retry) retry --expire--> (default exchange, rk=work) work
    await declare(c, { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': retry }, work);
    await declare(c, { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': work, 'x-message-ttl': 30 }, retry);
    await c.basicPublish('', work, 'job');
    await sync(c);
    await (await getOne(c, work, false)).reject(false);
    await (await getOne(c, work, false)).reject(false);
    const m = await getOne(c, work, true);
    const ds = deaths(m);
    const byKey = Object.fromEntries(ds.map((x) => [`${String(x['queue'])}/${String(x['reason'])}`, x['count']]));
    expect(byKey).toEqual({ [`${work}/rejected`]: 2, [`${retry}/expired`]: 2 });
    expect(ds).toHaveLength(2);
    expect(m.redelivered).toBe(false);
  });
});

describe('single active consumer', () => {
  it('x-single-active-consumer: only one consumer receives; the next one takes over when it is cancelled', async () => {
    const c = await ch();
    const q = await declare(c, { 'x-single-active-consumer': true });
    const first = await collect(c, q, { noAck: true });
    const second = await collect(c, q, { noAck: true });
    for (let i = 0; i < 4; i++) await c.basicPublish('', q, `s${i}`);
    await waitFor(() => first.msgs.length + second.msgs.length === 4, 2000, 'deliveries');
    expect(first.msgs.map((m) => m.bodyToString())).toEqual(['s0', 's1', 's2', 's3']);
    await c.basicCancel(first.tag);
    for (let i = 4; i < 6; i++) await c.basicPublish('', q, `s${i}`);
    await waitFor(() => second.msgs.length === 2, 2000, 'takeover');
    expect(second.msgs.map((m) => m.bodyToString())).toEqual(['s4', 's5']);
  });

  it('redeclaring with a different x-single-active-consumer fails with 406', async () => {
    const c = await ch();
    const q = await declare(c, { 'x-single-active-consumer': true });
    expect(await rejectionCode(c.queueDeclare(q, { exclusive: true, autoDelete: false, durable: false }, { 'x-single-active-consumer': false }))).toBe(406);
  });
});

describe('priorities', () => {
  it('x-max-priority delivers higher priorities first, FIFO within a priority, and caps priorities above the max', async () => {
    const c = await ch();
    const q = await declare(c, { 'x-max-priority': 5 });
    const sends: [string, number | undefined][] = [['low1', 1], ['none', undefined], ['high', 5], ['low2', 1], ['huge', 200], ['mid', 3]];
    for (const [b, p] of sends) await c.basicPublish('', q, b, p === undefined ? {} : { priority: p });
    expect(await getAll(c, q)).toEqual(['high', 'huge', 'mid', 'low1', 'low2', 'none']);
  });

  it('a consumer attached to a priority queue with a backlog receives the highest priority first', async () => {
    const c = await ch();
    const q = await declare(c, { 'x-max-priority': 10 });
    for (let i = 0; i < 5; i++) await c.basicPublish('', q, `p${i}`, { priority: i * 2 });
    await sync(c);
    const cons = await collect(c, q, { noAck: true });
    await waitFor(() => cons.msgs.length === 5, 2000, 'deliveries');
    expect(cons.msgs.map((m) => m.bodyToString())).toEqual(['p4', 'p3', 'p2', 'p1', 'p0']);
  });
});

describe.skipIf(ON_REF)('the same settings through policies', () => {
  const policy = (name: string, pattern: string, definition: Record<string, unknown>, applyTo: 'queues' | 'exchanges' = 'queues', priority = 0): void => {
    target().warren!.broker.setPolicy({ vhost: '/', name, pattern, 'apply-to': applyTo, priority, definition: definition as never });
  };
  afterEach(() => {
    const vh = target().warren!.broker.vhosts.get('/')!;
    for (const p of [...vh.policies.keys()]) target().warren!.broker.clearPolicy('/', p);
  });

  it('message-ttl and max-length from a policy apply to matching queues only', async () => {
    policy('limits', '^pol-limited\\.', { 'message-ttl': 150, 'max-length': 2 });
    const c = await ch();
    const q = await declare(c, {}, `pol-limited.${uniq()}`);
    const other = await declare(c, {}, `pol-free.${uniq()}`);
    for (const b of ['a', 'b', 'c']) {
      await c.basicPublish('', q, b);
      await c.basicPublish('', other, b);
    }
    expect((await c.queueDeclare(q, { passive: true })).messageCount).toBe(2);
    await sleep(400);
    expect(await getAll(c, q)).toEqual([]);
    expect(await getAll(c, other)).toEqual(['a', 'b', 'c']);
  });

  it('a policy set after the queue exists applies to it at once (max-length trims the backlog)', async () => {
    const c = await ch();
    const q = await declare(c, {}, `pol-late.${uniq()}`);
    for (const b of ['a', 'b', 'c', 'd']) await c.basicPublish('', q, b);
    await sync(c);
    policy('late', '^pol-late\\.', { 'max-length': 1 });
    expect(await getAll(c, q)).toEqual(['d']);
  });

  it('dead-letter-exchange and dead-letter-routing-key from a policy dead-letter rejected messages with x-death', async () => {
    const c = await ch();
    const x = uniq('pdlx');
    await c.exchangeDeclare(x, 'direct', { durable: false, autoDelete: true });
    const target = await declare(c);
    await c.queueBind(target, x, 'parked');
    policy('dl', '^pol-dl\\.', { 'dead-letter-exchange': x, 'dead-letter-routing-key': 'parked' });
    const q = await declare(c, {}, `pol-dl.${uniq()}`);
    await c.basicPublish('', q, 'reject me');
    await sync(c);
    await (await getOne(c, q, false)).reject(false);
    const m = await getOne(c, target);
    expect(m.bodyToString()).toBe('reject me');
    expect(deaths(m)[0]).toMatchObject({ reason: 'rejected', queue: q, count: 1 });
  });

  it('overflow reject-publish from a policy refuses publishes beyond max-length', async () => {
    policy('rp', '^pol-rp\\.', { 'max-length': 1, overflow: 'reject-publish' });
    const c = await ch();
    const q = await declare(c, {}, `pol-rp.${uniq()}`);
    await c.confirmSelect();
    await c.basicPublish('', q, 'first');
    await expect(c.basicPublish('', q, 'second')).rejects.toThrow(/rejected/i);
    expect(await getAll(c, q)).toEqual(['first']);
  });

  it('alternate-exchange from a policy catches unroutable messages of matching exchanges', async () => {
    const c = await ch();
    const ae = uniq('pae');
    await c.exchangeDeclare(ae, 'fanout', { durable: false });
    const caught = await declare(c);
    await c.queueBind(caught, ae, '');
    policy('ae', '^pol-x\\.', { 'alternate-exchange': ae }, 'exchanges');
    const x = `pol-x.${uniq()}`;
    await c.exchangeDeclare(x, 'direct', { durable: false });
    await c.basicPublish(x, 'nowhere', 'caught');
    expect(await getAll(c, caught)).toEqual(['caught']);
    await c.exchangeDelete(x);
    await c.exchangeDelete(ae);
  });

  it('the higher-priority policy wins when two match; queue x-arguments and policy limits combine to the lower', async () => {
    policy('weak', '^pol-prio\\.', { 'max-length': 5 }, 'queues', 1);
    policy('strong', '^pol-prio\\.', { 'max-length': 2 }, 'queues', 10);
    const c = await ch();
    const q = await declare(c, {}, `pol-prio.${uniq()}`);
    const q2 = await declare(c, { 'x-max-length': 1 }, `pol-prio.${uniq()}`);
    for (const b of ['a', 'b', 'c']) {
      await c.basicPublish('', q, b);
      await c.basicPublish('', q2, b);
    }
    expect(await getAll(c, q)).toEqual(['b', 'c']);
    expect(await getAll(c, q2)).toEqual(['c']);
  });
});
