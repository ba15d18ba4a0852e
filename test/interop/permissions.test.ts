// Access control: a user whose configure/write/read regexes allow some names gets 403 ACCESS_REFUSED for the rest.
// Against a reference broker (WARREN_INTEROP_REF_URL) the users must exist already:
//   rabbitmqctl add_user erin pw;  rabbitmqctl set_permissions -p / erin '^perm-cfg-' '^perm-w-' '^perm-r-'
//   rabbitmqctl add_user frank pw; rabbitmqctl set_permissions -p / frank '' '.*' '.*'
import { describe, it, expect, beforeAll, afterAll, afterEach } from 'vitest';
import type { AMQPBaseClient } from '@cloudamqp/amqp-client';
import { hashPassword } from '../../packages/broker/src/auth/users.ts';
import { startTarget, Clients, rejectionCode, uniq, getAll, sync, type Target } from './helpers.ts';

let t: Target;
const clients = new Clients(() => t.url);
let admin: AMQPBaseClient;
let erin: AMQPBaseClient;
const userUrl = (user: string): string => {
  const u = new URL(t.url);
  u.username = user;
  u.password = 'pw';
  return u.toString().replace(/\/$/, '');
};

beforeAll(async () => {
  t = await startTarget();
  if (t.warren) {
    const b = t.warren.broker;
    b.putUser({ name: 'erin', passwordHash: hashPassword('pw'), tags: [] });
    b.setPermission({ user: 'erin', vhost: '/', configure: '^perm-cfg-', write: '^perm-w-', read: '^perm-r-' });
    b.putUser({ name: 'frank', passwordHash: hashPassword('pw'), tags: [] });
    b.setPermission({ user: 'frank', vhost: '/', configure: '', write: '.*', read: '.*' });
  }
});
afterEach(async () => {
  await clients.closeAll();
});
afterAll(async () => {
  await t.close();
});

async function asErin() {
  if (!erin || erin.closed) erin = await clients.amqp('', userUrl('erin'));
  return erin.channel();
}
async function asAdmin() {
  if (!admin || admin.closed) admin = await clients.amqp();
  return admin.channel();
}

describe('configure permission', () => {
  it('declaring and deleting queues and exchanges is allowed only for names matching configure', async () => {
    const c = await asErin();
    const q = uniq('perm-cfg-q');
    const x = uniq('perm-cfg-x');
    await c.queueDeclare(q, { durable: false, autoDelete: false, exclusive: false });
    await c.exchangeDeclare(x, 'fanout', { durable: false });
    await c.queueDelete(q);
    await c.exchangeDelete(x);
    expect(await rejectionCode((await asErin()).queueDeclare(uniq('other-q'), { durable: false }))).toBe(403);
    expect(await rejectionCode((await asErin()).exchangeDeclare(uniq('other-x'), 'fanout', { durable: false }))).toBe(403);
    const a = await asAdmin();
    const theirs = uniq('admin-q');
    await a.queueDeclare(theirs, { durable: false, autoDelete: false, exclusive: false });
    expect(await rejectionCode((await asErin()).queueDelete(theirs))).toBe(403);
    await a.queueDeclare(theirs, { passive: true });
    await a.queueDelete(theirs);
  });

  it('passive declares need no configure permission', async () => {
    const a = await asAdmin();
    const q = uniq('admin-q');
    await a.queueDeclare(q, { durable: false, autoDelete: false, exclusive: false });
    const c = await asErin();
    await c.queueDeclare(q, { passive: true });
    await c.exchangeDeclare('amq.topic', 'topic', { passive: true });
    await a.queueDelete(q);
  });

  it('a server-named queue is checked against configure with its generated name', async () => {
    const c = await asErin();
    expect(await rejectionCode(c.queueDeclare('', { exclusive: true }))).toBe(403);
  });

  it('an empty configure permission refuses every declare', async () => {
    const frank = await clients.amqp('', userUrl('frank'));
    const c = await frank.channel();
    expect(await rejectionCode(c.queueDeclare(uniq('frank-q'), { durable: false }))).toBe(403);
    const c2 = await frank.channel();
    expect(await rejectionCode(c2.exchangeDeclare(uniq('frank-x'), 'fanout', { durable: false }))).toBe(403);
  });
});

describe('write and read permissions', () => {
  it('basic.publish needs write on the exchange (the default exchange is checked as amq.default)', async () => {
    const a = await asAdmin();
    const x = uniq('perm-w-x');
    await a.exchangeDeclare(x, 'fanout', { durable: false });
    const q = uniq('perm-r-q');
    await a.queueDeclare(q, { durable: false, autoDelete: false, exclusive: false });
    await a.queueBind(q, x, '');
    const c = await asErin();
    await c.basicPublish(x, '', 'allowed');
    await sync(c);
    await c.basicPublish('amq.fanout', '', 'refused').catch(() => {});
    expect(await rejectionCode(sync(c))).toBe(403);
    const c2 = await asErin();
    await c2.basicPublish('', q, 'refused').catch(() => {});
    expect(await rejectionCode(sync(c2))).toBe(403);
    expect(await getAll(a, q)).toEqual(['allowed']);
    await a.queueDelete(q);
    await a.exchangeDelete(x);
  });

  it('basic.get, basic.consume and queue.purge need read on the queue', async () => {
    const a = await asAdmin();
    const readable = uniq('perm-r-q');
    const unreadable = uniq('perm-w-q');
    for (const q of [readable, unreadable]) {
      await a.queueDeclare(q, { durable: false, autoDelete: false, exclusive: false });
      await a.basicPublish('', q, 'm');
    }
    await sync(a);
    const c = await asErin();
    expect((await c.basicGet(readable, { noAck: true }))?.bodyToString()).toBe('m');
    await c.basicConsume(readable, { noAck: true }, () => {});
    await c.queuePurge(readable);
    expect(await rejectionCode((await asErin()).basicGet(unreadable, { noAck: true }))).toBe(403);
    expect(await rejectionCode((await asErin()).basicConsume(unreadable, { noAck: true }, () => {}))).toBe(403);
    expect(await rejectionCode((await asErin()).queuePurge(unreadable))).toBe(403);
    expect((await a.queueDeclare(unreadable, { passive: true })).messageCount).toBe(1);
    await a.queueDelete(readable);
    await a.queueDelete(unreadable);
  });

  it('queue.bind needs write on the queue and read on the exchange', async () => {
    const a = await asAdmin();
    const wq = uniq('perm-w-q');
    const rq = uniq('perm-r-q');
    const rx = uniq('perm-r-x');
    await a.queueDeclare(wq, { durable: false, autoDelete: false, exclusive: false });
    await a.queueDeclare(rq, { durable: false, autoDelete: false, exclusive: false });
    await a.exchangeDeclare(rx, 'direct', { durable: false });
    const c = await asErin();
    await c.queueBind(wq, rx, 'k');
    expect(await rejectionCode((await asErin()).queueBind(rq, rx, 'k'))).toBe(403); // no write on the queue
    expect(await rejectionCode((await asErin()).queueBind(wq, 'amq.direct', 'k'))).toBe(403); // no read on the exchange
    await a.queueDelete(wq);
    await a.queueDelete(rq);
    await a.exchangeDelete(rx);
  });
});
