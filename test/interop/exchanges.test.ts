// Exchanges with amqp-client: declare/delete rules and errors, exchange-to-exchange bindings, and routing by type.
import { describe, it, expect } from 'vitest';
import { sharedTarget, rejectionCode, uniq, getAll, boundQueue, sync, waitFor, sleep } from './helpers.ts';

const { clients, ch } = sharedTarget();

describe('exchange.declare and exchange.delete', () => {
  it('passive declare of a missing exchange fails with 404 NOT_FOUND, of an existing one succeeds', async () => {
    const c = await ch();
    const name = uniq('x');
    expect(await rejectionCode(c.exchangeDeclare(name, 'direct', { passive: true }))).toBe(404);
    const c2 = await ch();
    await c2.exchangeDeclare(name, 'topic', { durable: false });
    await c2.exchangeDeclare(name, 'topic', { passive: true });
    await c2.exchangeDelete(name);
  });

  it('redeclaring with a different durable flag or type fails with 406 PRECONDITION_FAILED', async () => {
    const c = await ch();
    const name = uniq('x');
    await c.exchangeDeclare(name, 'direct', { durable: false });
    await c.exchangeDeclare(name, 'direct', { durable: false }); // same: fine
    expect(await rejectionCode(c.exchangeDeclare(name, 'direct', { durable: true }))).toBe(406);
    const c2 = await ch();
    expect(await rejectionCode(c2.exchangeDeclare(name, 'fanout', { durable: false }))).toBe(406);
    await (await ch()).exchangeDelete(name);
  });

  it('an auto-delete exchange goes away when its last binding is removed', async () => {
    const c = await ch();
    const x = uniq('xad');
    await c.exchangeDeclare(x, 'direct', { durable: false, autoDelete: true });
    const q = await boundQueue(c, x, ['a', 'b']);
    await c.queueUnbind(q, x, 'a');
    await c.exchangeDeclare(x, 'direct', { passive: true }); // one binding left
    await c.queueUnbind(q, x, 'b');
    expect(await rejectionCode(c.exchangeDeclare(x, 'direct', { passive: true }))).toBe(404);
  });

  it('publishing to an internal exchange is refused with 403, but it routes what other exchanges forward to it', async () => {
    const c = await ch();
    const internal = uniq('xint');
    const front = uniq('xfront');
    await c.exchangeDeclare(internal, 'fanout', { durable: false, internal: true });
    await c.exchangeDeclare(front, 'fanout', { durable: false });
    await c.exchangeBind(internal, front, '');
    const q = await boundQueue(c, internal, ['']);
    await c.basicPublish(front, '', 'via front');
    expect(await getAll(c, q)).toEqual(['via front']);
    await c.basicPublish(internal, '', 'direct to internal').catch(() => {});
    expect(await rejectionCode(sync(c))).toBe(403);
    const c2 = await ch();
    await c2.exchangeDelete(front);
    await c2.exchangeDelete(internal);
  });

  it('declaring an exchange with the reserved amq. prefix is refused with 403; redeclaring amq.direct as it is works', async () => {
    const c = await ch();
    expect(await rejectionCode(c.exchangeDeclare(`amq.${uniq('mine')}`, 'direct', { durable: false }))).toBe(403);
    const c2 = await ch();
    await c2.exchangeDeclare('amq.direct', 'direct', { durable: true });
    await c2.exchangeDeclare('amq.topic', 'topic', { passive: true });
  });

  // RabbitMQ checks an existing exchange's equivalence before the reserved name
  it('redeclaring amq.direct with another type or durability fails with 406', async () => {
    expect(await rejectionCode((await ch()).exchangeDeclare('amq.direct', 'fanout', { durable: true }))).toBe(406);
    expect(await rejectionCode((await ch()).exchangeDeclare('amq.direct', 'direct', { durable: false }))).toBe(406);
  });

  it('deleting a built-in amq.* exchange is refused with 403', async () => {
    const c = await ch();
    expect(await rejectionCode(c.exchangeDelete('amq.fanout'))).toBe(403);
  });

  it('an unknown exchange type is a connection error 503 COMMAND_INVALID', async () => {
    const c = await clients.amqp();
    const chan = await c.channel();
    expect(await rejectionCode(chan.exchangeDeclare(uniq('x'), 'no-such-type', { durable: false }))).toBe(503);
    await waitFor(() => c.closed, 3000, 'connection closed');
  });

  it('exchange.delete if-unused fails with 406 while the exchange has bindings, and deleting a missing exchange succeeds', async () => {
    const c = await ch();
    const x = uniq('x');
    await c.exchangeDeclare(x, 'direct', { durable: false });
    const q = await boundQueue(c, x, ['k']);
    expect(await rejectionCode(c.exchangeDelete(x, { ifUnused: true }))).toBe(406);
    const c2 = await ch();
    await c2.queueUnbind(q, x, 'k');
    await c2.exchangeDelete(x, { ifUnused: true });
    await c2.exchangeDelete(x); // already gone: still delete-ok
    expect(await rejectionCode(c2.exchangeDeclare(x, 'direct', { passive: true }))).toBe(404);
  });

  it('exchange.delete if-unused ignores exchange-to-exchange bindings that point at the exchange', async () => {
    const c = await ch();
    const src = uniq('xsrc');
    const dst = uniq('xdst');
    await c.exchangeDeclare(src, 'fanout', { durable: false });
    await c.exchangeDeclare(dst, 'fanout', { durable: false });
    await c.exchangeBind(dst, src, '');
    await c.exchangeDelete(dst, { ifUnused: true });
    expect(await rejectionCode(c.exchangeDeclare(dst, 'fanout', { passive: true }))).toBe(404);
    await (await ch()).exchangeDelete(src);
  });
});

describe('exchange-to-exchange bindings', () => {
  it('messages flow through exchange.bind, stop after exchange.unbind, and follow the destination type', async () => {
    const c = await ch();
    const src = uniq('xsrc');
    const dst = uniq('xdst');
    await c.exchangeDeclare(src, 'topic', { durable: false });
    await c.exchangeDeclare(dst, 'direct', { durable: false });
    await c.exchangeBind(dst, src, 'orders.*');
    const q = await boundQueue(c, dst, ['orders.eu']);
    await c.basicPublish(src, 'orders.eu', 'eu');
    await c.basicPublish(src, 'orders.us', 'us (matches the e2e binding, not the queue binding)');
    await c.basicPublish(src, 'invoices.eu', 'not matched');
    expect(await getAll(c, q)).toEqual(['eu']);
    await c.exchangeUnbind(dst, src, 'orders.*');
    await c.basicPublish(src, 'orders.eu', 'after unbind');
    expect(await getAll(c, q)).toEqual([]);
    await c.exchangeDelete(src);
    await c.exchangeDelete(dst);
  });

  it('a cycle of exchange bindings delivers each message once per queue', async () => {
    const c = await ch();
    const a = uniq('xa');
    const b = uniq('xb');
    await c.exchangeDeclare(a, 'fanout', { durable: false });
    await c.exchangeDeclare(b, 'fanout', { durable: false });
    await c.exchangeBind(b, a, '');
    await c.exchangeBind(a, b, '');
    const qa = await boundQueue(c, a, ['']);
    const qb = await boundQueue(c, b, ['']);
    await c.basicPublish(a, '', 'once');
    expect(await getAll(c, qa)).toEqual(['once']);
    expect(await getAll(c, qb)).toEqual(['once']);
    await c.exchangeDelete(a);
    await c.exchangeDelete(b);
  });

  it('binding from or to a missing exchange fails with 404', async () => {
    const c = await ch();
    expect(await rejectionCode(c.exchangeBind('amq.fanout', uniq('missing'), ''))).toBe(404);
  });
});

describe('routing by exchange type', () => {
  it('the default exchange routes to the queue named by the routing key and refuses bindings with 403', async () => {
    const c = await ch();
    const q = await c.queueDeclare('', { exclusive: true });
    await c.basicPublish('', q.name, 'hello');
    await c.basicPublish('', 'no-such-queue-anywhere', 'dropped');
    expect(await getAll(c, q.name)).toEqual(['hello']);
    expect(await rejectionCode(c.queueBind(q.name, '', 'x'))).toBe(403);
  });

  it('direct: exact routing-key match, several queues per key, several keys per queue', async () => {
    const c = await ch();
    const x = uniq('xd');
    await c.exchangeDeclare(x, 'direct', { durable: false });
    const q1 = await boundQueue(c, x, ['red', 'green']);
    const q2 = await boundQueue(c, x, ['red']);
    for (const k of ['red', 'green', 'blue', 'Red', 'red.dark']) await c.basicPublish(x, k, k);
    expect(await getAll(c, q1)).toEqual(['red', 'green']);
    expect(await getAll(c, q2)).toEqual(['red']);
    await c.exchangeDelete(x);
  });

  it('fanout: every bound queue gets every message whatever the key', async () => {
    const c = await ch();
    const x = uniq('xf');
    await c.exchangeDeclare(x, 'fanout', { durable: false });
    const q1 = await boundQueue(c, x, ['ignored']);
    const q2 = await boundQueue(c, x, ['']);
    await c.basicPublish(x, 'anything', 'm1');
    await c.basicPublish(x, '', 'm2');
    expect(await getAll(c, q1)).toEqual(['m1', 'm2']);
    expect(await getAll(c, q2)).toEqual(['m1', 'm2']);
    await c.exchangeDelete(x);
  });

  it('topic: * matches exactly one word, # zero or more, overlapping bindings deliver once', async () => {
    const c = await ch();
    const x = uniq('xt');
    await c.exchangeDeclare(x, 'topic', { durable: false });
    const star = await boundQueue(c, x, ['stock.*.nyse']);
    const hashTail = await boundQueue(c, x, ['stock.#']);
    const hashMid = await boundQueue(c, x, ['*.#.nyse']);
    const all = await boundQueue(c, x, ['#']);
    const many = await boundQueue(c, x, ['a.b.c', 'a.*.c', 'a.#', '#.c']);
    const keys = ['stock.ibm.nyse', 'stock.nyse', 'stock', 'stock.a.b.nyse', 'bond.x.nyse', 'a.b.c', 'a.c', 'x.c', 'a'];
    for (const k of keys) await c.basicPublish(x, k, k);
    expect(await getAll(c, star)).toEqual(['stock.ibm.nyse']);
    expect(await getAll(c, hashTail)).toEqual(['stock.ibm.nyse', 'stock.nyse', 'stock', 'stock.a.b.nyse']);
    expect(await getAll(c, hashMid)).toEqual(['stock.ibm.nyse', 'stock.nyse', 'stock.a.b.nyse', 'bond.x.nyse']);
    expect(await getAll(c, all)).toEqual(keys);
    expect(await getAll(c, many)).toEqual(['a.b.c', 'a.c', 'x.c', 'a']);
    await c.exchangeDelete(x);
  });

  it('topic: after unbinding one of two overlapping bindings the other still routes', async () => {
    const c = await ch();
    const x = uniq('xt');
    await c.exchangeDeclare(x, 'topic', { durable: false });
    const q = await boundQueue(c, x, ['a.*', 'a.#']);
    await c.queueUnbind(q, x, 'a.*');
    await c.basicPublish(x, 'a.b', 'still');
    expect(await getAll(c, q)).toEqual(['still']);
    await c.exchangeDelete(x);
  });

  it('topic: an empty routing key matches # but not *', async () => {
    const c = await ch();
    const x = uniq('xt');
    await c.exchangeDeclare(x, 'topic', { durable: false });
    const star = await boundQueue(c, x, ['*']);
    const hash = await boundQueue(c, x, ['#']);
    await c.basicPublish(x, '', 'empty key');
    expect(await getAll(c, hash)).toEqual(['empty key']);
    expect(await getAll(c, star)).toEqual([]);
    await c.exchangeDelete(x);
  });

  it('headers: x-match all needs every header, x-match any needs one; the routing key is ignored', async () => {
    const c = await ch();
    const x = uniq('xh');
    await c.exchangeDeclare(x, 'headers', { durable: false });
    const all = await boundQueue(c, x, [''], { 'x-match': 'all', format: 'pdf', type: 'report' });
    const any = await boundQueue(c, x, [''], { 'x-match': 'any', format: 'pdf', type: 'report' });
    const dflt = await boundQueue(c, x, ['ignored'], { format: 'zip' }); // default is all
    await c.basicPublish(x, 'k', 'both', { headers: { format: 'pdf', type: 'report', extra: 1 } });
    await c.basicPublish(x, 'k', 'format only', { headers: { format: 'pdf' } });
    await c.basicPublish(x, 'k', 'wrong value', { headers: { format: 'doc', type: 'memo' } });
    await c.basicPublish(x, 'k', 'zip', { headers: { format: 'zip' } });
    await c.basicPublish(x, 'k', 'no headers');
    expect(await getAll(c, all)).toEqual(['both']);
    expect(await getAll(c, any)).toEqual(['both', 'format only']);
    expect(await getAll(c, dflt)).toEqual(['zip']);
    await c.exchangeDelete(x);
  });

  it('headers: numeric header values match numerically bound values', async () => {
    const c = await ch();
    const x = uniq('xh');
    await c.exchangeDeclare(x, 'headers', { durable: false });
    const q = await boundQueue(c, x, [''], { 'x-match': 'all', version: 2 });
    await c.basicPublish(x, '', 'v2', { headers: { version: 2 } });
    await c.basicPublish(x, '', 'v3', { headers: { version: 3 } });
    expect(await getAll(c, q)).toEqual(['v2']);
    await c.exchangeDelete(x);
  });

  it('alternate-exchange receives what the exchange cannot route, and a mandatory publish then is not returned', async () => {
    const c = await ch();
    const ae = uniq('xae');
    const x = uniq('xmain');
    await c.exchangeDeclare(ae, 'fanout', { durable: false });
    await c.exchangeDeclare(x, 'direct', { durable: false }, { 'alternate-exchange': ae });
    const routed = await boundQueue(c, x, ['known']);
    const unrouted = await boundQueue(c, ae, ['']);
    const returned: string[] = [];
    c.onReturn = (m) => {
      returned.push(String(m.replyCode));
    };
    await c.basicPublish(x, 'known', 'k');
    await c.basicPublish(x, 'unknown', 'u', {}, true);
    expect(await getAll(c, routed)).toEqual(['k']);
    expect(await getAll(c, unrouted)).toEqual(['u']);
    expect(returned).toEqual([]);
    await c.exchangeDelete(x);
    await c.exchangeDelete(ae);
  });

  it('a mandatory publish that reaches no queue comes back as basic.return 312 NO_ROUTE with its body and properties', async () => {
    const c = await ch();
    const returned: { code: number | undefined; text: string | undefined; body: string; rk: string; ct: string | undefined }[] = [];
    c.onReturn = (m) => {
      returned.push({ code: m.replyCode, text: m.replyText, body: m.bodyToString() ?? '', rk: m.routingKey, ct: m.properties.contentType });
    };
    await c.basicPublish('amq.direct', uniq('nobody'), 'lost', { contentType: 'text/plain' }, true);
    await c.basicPublish('amq.direct', uniq('nobody'), 'not mandatory', {}, false);
    await sync(c);
    await waitFor(() => returned.length > 0, 2000, 'basic.return');
    expect(returned).toHaveLength(1);
    expect(returned[0]).toMatchObject({ code: 312, text: 'NO_ROUTE', body: 'lost', ct: 'text/plain' });
  });

  it('sender-selected distribution: CC and BCC headers add routing keys, and each queue gets the message once', async () => {
    const c = await ch();
    const x = uniq('xcc');
    await c.exchangeDeclare(x, 'direct', { durable: false });
    const main = await boundQueue(c, x, ['main']);
    const cc = await boundQueue(c, x, ['copy']);
    const bcc = await boundQueue(c, x, ['blind']);
    await c.basicPublish(x, 'main', 'memo', { headers: { CC: ['copy', 'main'], BCC: ['blind'] } });
    for (const q of [main, cc, bcc]) expect(await getAll(c, q)).toEqual(['memo']);
    await c.exchangeDelete(x);
  });

  it('the BCC header is removed from delivered messages, CC is kept', async () => {
    const c = await ch();
    const a = (await c.queueDeclare('', { exclusive: true })).name;
    const b = (await c.queueDeclare('', { exclusive: true })).name;
    const hidden = (await c.queueDeclare('', { exclusive: true })).name;
    await c.basicPublish('', a, 'memo', { headers: { CC: [b], BCC: [hidden] } });
    await sync(c);
    for (const q of [a, b, hidden]) {
      const m = await c.basicGet(q, { noAck: true });
      expect(m?.properties.headers).toEqual({ CC: [b] });
    }
  });

  it('publishing to a missing exchange closes the channel with 404', async () => {
    const c = await ch();
    await c.basicPublish(uniq('missing'), 'k', 'x').catch(() => {});
    expect(await rejectionCode(sync(c))).toBe(404);
  });
});

describe('topic routing against an oracle', () => {
  /** RabbitMQ's topic matching, written the obvious way: '*' one word, '#' zero or more. */
  function topicMatch(pattern: string[], key: string[]): boolean {
    if (pattern.length === 0) return key.length === 0;
    const [p, ...pr] = pattern;
    if (p === '#') return topicMatch(pr, key) || (key.length > 0 && topicMatch(pattern, key.slice(1)));
    if (key.length === 0) return false;
    return (p === '*' || p === key[0]) && topicMatch(pr, key.slice(1));
  }

  it('random bindings and routing keys route exactly as the reference matcher says', async () => {
    let seed = 0x5eed;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const words = (alphabet: string[], max: number): string => Array.from({ length: 1 + rnd(max) }, () => alphabet[rnd(alphabet.length)]!).join('.');
    const c = await ch();
    const x = uniq('xfuzz');
    await c.exchangeDeclare(x, 'topic', { durable: false });
    const queues: { name: string; patterns: string[]; got: string[] }[] = [];
    for (let i = 0; i < 30; i++) {
      const patterns = Array.from({ length: 1 + rnd(3) }, () => words(['a', 'b', 'c', '*', '#'], 4));
      const name = await boundQueue(c, x, patterns);
      const entry = { name, patterns, got: [] as string[] };
      await c.basicConsume(name, { noAck: true }, (m) => {
        entry.got.push(m.bodyToString() ?? '');
      });
      queues.push(entry);
    }
    const keys = Array.from({ length: 150 }, () => words(['a', 'b', 'c'], 4));
    for (const k of keys) await c.basicPublish(x, k, k);
    const expected = queues.map((q) => keys.filter((k) => q.patterns.some((p) => topicMatch(p.split('.'), k.split('.')))));
    const total = expected.reduce((n, e) => n + e.length, 0);
    await waitFor(() => queues.reduce((n, q) => n + q.got.length, 0) >= total, 5000, `${total} deliveries`);
    await sleep(100);
    for (let i = 0; i < queues.length; i++) expect(queues[i]!.got, queues[i]!.patterns.join(' | ')).toEqual(expected[i]);
    await c.exchangeDelete(x);
  });
});
