// The management HTTP API driven directly: status codes, error bodies, auth and tags, and effects checked over AMQP.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { amqp, http, startEnv, until, type Env } from './helpers.ts';
import { localCounts, type ClusterView } from '../../packages/broker/src/mgmt/index.ts';
import { NoDiscNodeError } from '../../packages/broker/src/cluster/metadata.ts';

let env: Env;
beforeAll(async () => {
  env = await startEnv();
});
afterAll(async () => {
  await env.close();
});

describe('authentication and user tags', () => {
  it('asks for basic auth, refuses bad passwords and users without a management tag', async () => {
    const anon = await http(env, 'GET', '/api/overview', undefined, null);
    expect(anon.status).toBe(401);
    expect(anon.headers.get('www-authenticate')).toMatch(/^Basic realm=/);
    expect(anon.json).toHaveProperty('error');
    const bad = await http(env, 'GET', '/api/overview', undefined, ['guest', 'nope']);
    expect(bad.status).toBe(401);
    expect(bad.json.reason).toBe('Login failed');

    expect((await http(env, 'PUT', '/api/users/plain', { password: 'pw', tags: '' })).status).toBe(201);
    const plain = await http(env, 'GET', '/api/overview', undefined, ['plain', 'pw']);
    expect(plain.status).toBe(401);
    expect(plain.json).toEqual({ error: 'not_authorised', reason: 'Not management user' });
  });

  it('management users see their own vhosts only; monitoring sees nodes; only administrators manage users', async () => {
    expect((await http(env, 'PUT', '/api/vhosts/private')).status).toBe(201);
    expect((await http(env, 'PUT', '/api/users/mgr', { password: 'pw', tags: 'management' })).status).toBe(201);
    expect((await http(env, 'PUT', '/api/users/mon', { password: 'pw', tags: ['monitoring'] })).status).toBe(201);
    expect((await http(env, 'PUT', '/api/permissions/private/mgr', { configure: '.*', write: '.*', read: '.*' })).status).toBe(201);

    const who = await http(env, 'GET', '/api/whoami', undefined, ['mgr', 'pw']);
    expect(who.json).toEqual({ name: 'mgr', tags: ['management'] });
    const vhosts = await http(env, 'GET', '/api/vhosts', undefined, ['mgr', 'pw']);
    expect(vhosts.json.map((v: { name: string }) => v.name)).toEqual(['private']);
    expect((await http(env, 'GET', '/api/queues/%2F', undefined, ['mgr', 'pw'])).status).toBe(401);
    expect((await http(env, 'GET', '/api/nodes', undefined, ['mgr', 'pw'])).status).toBe(401);
    expect((await http(env, 'GET', '/api/users', undefined, ['mgr', 'pw'])).status).toBe(401);
    expect((await http(env, 'PUT', '/api/queues/private/mine', {}, ['mgr', 'pw'])).status).toBe(201);
    expect((await http(env, 'PUT', '/api/queues/%2F/theirs', {}, ['mgr', 'pw'])).status).toBe(401);

    const mon = await http(env, 'GET', '/api/nodes', undefined, ['mon', 'pw']);
    expect(mon.status).toBe(200);
    expect((await http(env, 'GET', '/api/vhosts', undefined, ['mon', 'pw'])).json.length).toBeGreaterThanOrEqual(2);
    expect((await http(env, 'GET', '/api/users', undefined, ['mon', 'pw'])).status).toBe(401);
    // monitoring without permissions in the vhost cannot change it
    expect((await http(env, 'PUT', '/api/queues/%2F/x', {}, ['mon', 'pw'])).status).toBe(401);
    expect((await http(env, 'DELETE', '/api/vhosts/private')).status).toBe(204);
    expect((await http(env, 'DELETE', '/api/users/mgr')).status).toBe(204);
    expect((await http(env, 'DELETE', '/api/users/mon')).status).toBe(204);
    expect((await http(env, 'DELETE', '/api/users/plain')).status).toBe(204);
  });

  it('password_hash round-trips: a user made from an exported hash logs in over AMQP', async () => {
    await http(env, 'PUT', '/api/users/alice', { password: 's3cret', tags: 'administrator' });
    const hash = (await http(env, 'GET', '/api/users/alice')).json.password_hash as string;
    await http(env, 'PUT', '/api/users/bob', { password_hash: hash, hashing_algorithm: 'rabbit_password_hashing_sha256', tags: '' });
    await http(env, 'PUT', '/api/permissions/%2F/bob', { configure: '', write: '', read: '' });
    const { conn } = await amqp(env, 'bob', 's3cret');
    await conn.close();
    const md5 = await http(env, 'PUT', '/api/users/carol', { password_hash: 'x', hashing_algorithm: 'rabbit_password_hashing_md5', tags: '' });
    expect(md5.status).toBe(400);
    await http(env, 'DELETE', '/api/users/alice');
    await http(env, 'DELETE', '/api/users/bob');
  });
});

describe('listener', () => {
  it('binds loopback by default and reports a port in use', async () => {
    // the kernel's table of listening sockets: ours is on 127.0.0.1 only
    const hexPort = env.m.port.toString(16).toUpperCase().padStart(4, '0');
    const listening = readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1).map((l) => l.trim().split(/\s+/))
      .filter((f) => f[1]?.endsWith(`:${hexPort}`) && f[3] === '0A').map((f) => f[1]!.split(':')[0]);
    expect(listening).toEqual(['0100007F']);
    expect(readFileSync('/proc/net/tcp6', 'utf8')).not.toMatch(new RegExp(`:${hexPort} [0-9A-F:]+ 0A `));
    const { startManagement } = await import('../../packages/broker/src/mgmt/index.ts');
    await expect(startManagement(env.b.broker, { port: env.m.port })).rejects.toThrow(/EADDRINUSE/);
  });
});

describe('static page', () => {
  it('serves the one-page UI without credentials, and nothing of RabbitMQ\'s', async () => {
    const r = await fetch(`${env.base}/`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await r.text();
    expect(html).toContain('id="login-form"');
    expect(html).not.toMatch(/<script[^>]+src=["']https?:/); // no CDN
    expect((await fetch(`${env.base}/index.html`, { method: 'HEAD' })).status).toBe(200);
    expect((await fetch(`${env.base}/cli/rabbitmqadmin`)).status).toBe(404);
    expect((await fetch(`${env.base}/js/main.js`)).status).toBe(404);
  });
});

describe('errors', () => {
  it('answers unknown paths with 404 and wrong methods with 405, in RabbitMQ error JSON', async () => {
    const nf = await http(env, 'GET', '/api/queues/%2F/does-not-exist');
    expect(nf.status).toBe(404);
    expect(nf.json).toEqual({ error: 'Object Not Found', reason: 'Not Found' });
    expect((await http(env, 'GET', '/api/no-such-thing')).status).toBe(404);
    expect((await http(env, 'GET', '/api/queues/no-such-vhost')).status).toBe(404);
    const m = await http(env, 'POST', '/api/overview', {});
    expect(m.status).toBe(405);
    expect(m.json.error).toBeDefined();
    const badJson = await http(env, 'PUT', '/api/queues/%2F/q', '{not json');
    expect(badJson.status).toBe(400);
    expect(badJson.json.error).toBe('bad_request');
  });

  it('reports inequivalent re-declarations and reserved names as 400 with the broker reason', async () => {
    expect((await http(env, 'PUT', '/api/queues/%2F/eq', { durable: true })).status).toBe(201);
    expect((await http(env, 'PUT', '/api/queues/%2F/eq', { durable: true })).status).toBe(204);
    const r = await http(env, 'PUT', '/api/queues/%2F/eq', { durable: false });
    expect(r.status).toBe(400);
    expect(r.json.reason).toMatch(/inequivalent arg 'durable'/);
    const amq = await http(env, 'PUT', '/api/exchanges/%2F/amq.mine', { type: 'direct' });
    expect(amq.status).toBe(401);
    const badType = await http(env, 'PUT', '/api/exchanges/%2F/weird', { type: 'no-such-type' });
    expect(badType.status).toBe(400);
    const noType = await http(env, 'PUT', '/api/exchanges/%2F/weird', {});
    expect(noType.status).toBe(400);
    const badArg = await http(env, 'PUT', '/api/queues/%2F/badarg', { arguments: { 'x-max-length': -1 } });
    expect(badArg.status).toBe(400);
    expect(badArg.json.reason).toMatch(/x-max-length/);
    await http(env, 'DELETE', '/api/queues/%2F/eq');
  });
});

describe('queues, exchanges, bindings, publish and get', () => {
  it('declares through HTTP and the objects are there over AMQP', async () => {
    expect((await http(env, 'PUT', '/api/exchanges/%2F/orders', { type: 'topic', durable: true })).status).toBe(201);
    expect((await http(env, 'PUT', '/api/queues/%2F/orders.eu', { durable: true, arguments: { 'x-max-length': 100 } })).status).toBe(201);
    const bind = await http(env, 'POST', '/api/bindings/%2F/e/orders/q/orders.eu', { routing_key: 'eu.*', arguments: {} });
    expect(bind.status).toBe(201);
    expect(bind.headers.get('location')).toBe('eu.%2A'); // RabbitMQ's quote_plus of the routing key

    const q = (await http(env, 'GET', '/api/queues/%2F/orders.eu')).json;
    expect(q).toMatchObject({ name: 'orders.eu', vhost: '/', durable: true, auto_delete: false, exclusive: false, arguments: { 'x-max-length': 100 }, node: env.b.broker.opts.nodeName, state: 'running', type: 'classic', messages: 0 });

    const { conn } = await amqp(env);
    const ch = await conn.channel();
    // passive declares succeed because the objects exist
    await ch.exchangeDeclare('orders', 'topic', { passive: true });
    const ok = await ch.queueDeclare('orders.eu', { passive: true });
    expect(ok.messageCount).toBe(0);
    await ch.basicPublish('orders', 'eu.paris', 'p1');
    await ch.basicPublish('orders', 'us.nyc', 'p2');
    await until(() => http(env, 'GET', '/api/queues/%2F/orders.eu'), (r) => r.json.messages === 1);
    const after = (await http(env, 'GET', '/api/queues/%2F/orders.eu')).json;
    expect(after.messages_ready).toBe(1);
    expect(after.message_stats.publish).toBe(1);

    const bindings = (await http(env, 'GET', '/api/bindings/%2F/e/orders/q/orders.eu')).json;
    expect(bindings).toEqual([{ source: 'orders', vhost: '/', destination: 'orders.eu', destination_type: 'queue', routing_key: 'eu.*', arguments: {}, properties_key: 'eu.%2A' }]);
    const qb = (await http(env, 'GET', '/api/queues/%2F/orders.eu/bindings')).json;
    expect(qb.map((x: { source: string }) => x.source)).toEqual(['', 'orders']);
    const src = (await http(env, 'GET', '/api/exchanges/%2F/orders/bindings/source')).json;
    expect(src).toHaveLength(1);

    // unbind by properties key: the next publish is not routed
    expect((await http(env, 'DELETE', `/api/bindings/%2F/e/orders/q/orders.eu/${encodeURIComponent('eu.%2A')}`)).status).toBe(204);
    expect((await http(env, 'DELETE', `/api/bindings/%2F/e/orders/q/orders.eu/${encodeURIComponent('eu.%2A')}`)).status).toBe(404);
    const pub = await http(env, 'POST', '/api/exchanges/%2F/orders/publish', { routing_key: 'eu.rome', payload: 'x', payload_encoding: 'string', properties: {} });
    expect(pub.json).toEqual({ routed: false });
    await conn.close();
  });

  it('binds exchange to exchange with arguments and deletes by the hashed properties key', async () => {
    await http(env, 'PUT', '/api/exchanges/%2F/e1', { type: 'headers' });
    await http(env, 'PUT', '/api/exchanges/%2F/e2', { type: 'fanout' });
    await http(env, 'PUT', '/api/queues/%2F/e2q', {});
    await http(env, 'POST', '/api/bindings/%2F/e/e2/q/e2q', {});
    const r = await http(env, 'POST', '/api/bindings/%2F/e/e1/e/e2', { routing_key: '', arguments: { 'x-match': 'all', kind: 'a' } });
    expect(r.status).toBe(201);
    const list = (await http(env, 'GET', '/api/bindings/%2F/e/e1/e/e2')).json;
    expect(list).toHaveLength(1);
    expect(list[0].destination_type).toBe('exchange');
    const key = list[0].properties_key as string;
    expect(key).toMatch(/^~.+/);
    const routed = await http(env, 'POST', '/api/exchanges/%2F/e1/publish', { routing_key: '', payload: 'h', payload_encoding: 'string', properties: { headers: { kind: 'a' } } });
    expect(routed.json).toEqual({ routed: true });
    expect((await http(env, 'GET', `/api/bindings/%2F/e/e1/e/e2/${encodeURIComponent(key)}`)).status).toBe(200);
    expect((await http(env, 'DELETE', `/api/bindings/%2F/e/e1/e/e2/${encodeURIComponent(key)}`)).status).toBe(204);
    const dest = (await http(env, 'GET', '/api/exchanges/%2F/e2/bindings/destination')).json;
    expect(dest).toEqual([]);
    for (const p of ['/api/exchanges/%2F/e1', '/api/exchanges/%2F/e2', '/api/queues/%2F/e2q']) expect((await http(env, 'DELETE', p)).status).toBe(204);
  });

  it('publishes with properties and gets with every ack mode, checked over AMQP', async () => {
    await http(env, 'PUT', '/api/queues/%2F/getq', { durable: false });
    const props = { delivery_mode: 2, headers: { 'x-trace': 'abc', n: 5 }, content_type: 'text/plain', message_id: 'm-1', priority: 3 };
    for (const p of ['one', 'two', 'three', 'four']) {
      const r = await http(env, 'POST', '/api/exchanges/%2F/amq.default/publish', { routing_key: 'getq', payload: p, payload_encoding: 'string', properties: props });
      expect(r.json).toEqual({ routed: true });
    }
    const bin = Buffer.from([0, 255, 1, 2]);
    await http(env, 'POST', '/api/exchanges/%2F/amq.default/publish', { routing_key: 'getq', payload: bin.toString('base64'), payload_encoding: 'base64', properties: {} });

    // ack_requeue_true: nothing leaves the queue, messages come back redelivered
    const peek = await http(env, 'POST', '/api/queues/%2F/getq/get', { count: 2, ackmode: 'ack_requeue_true', encoding: 'auto' });
    expect(peek.status).toBe(200);
    expect(peek.json).toHaveLength(2);
    expect(peek.json[0]).toMatchObject({ payload: 'one', payload_encoding: 'string', payload_bytes: 3, redelivered: false, exchange: '', routing_key: 'getq', message_count: 4 });
    expect(peek.json[0].properties).toEqual(props);
    const again = await http(env, 'POST', '/api/queues/%2F/getq/get', { count: 1, ackmode: 'reject_requeue_true', encoding: 'auto' });
    expect(again.json[0]).toMatchObject({ payload: 'one', redelivered: true });
    expect((await http(env, 'GET', '/api/queues/%2F/getq')).json.messages).toBe(5);

    // ack_requeue_false removes it
    const take = await http(env, 'POST', '/api/queues/%2F/getq/get', { count: 1, ackmode: 'ack_requeue_false', encoding: 'auto' });
    expect(take.json[0].payload).toBe('one');
    // reject_requeue_false removes it too (dead-letters when the queue has a DLX)
    const rej = await http(env, 'POST', '/api/queues/%2F/getq/get', { count: 1, ackmode: 'reject_requeue_false', encoding: 'auto', truncate: 2 });
    expect(rej.json[0]).toMatchObject({ payload: 'tw', payload_bytes: 3 });
    expect((await http(env, 'GET', '/api/queues/%2F/getq')).json.messages).toBe(3);

    // over AMQP the next message is "three", redelivered flag clear, properties intact
    const { conn } = await amqp(env);
    const ch = await conn.channel();
    const m = await ch.basicGet('getq', { noAck: true });
    expect(m?.bodyToString()).toBe('three');
    expect(m?.properties.messageId).toBe('m-1');
    expect(m?.properties.headers?.['x-trace']).toBe('abc');
    await conn.close();

    // base64 encoding and binary payloads
    const rest = await http(env, 'POST', '/api/queues/%2F/getq/get', { count: 10, ackmode: 'ack_requeue_false', encoding: 'auto' });
    expect(rest.json).toHaveLength(2);
    expect(rest.json[1]).toMatchObject({ payload: bin.toString('base64'), payload_encoding: 'base64', payload_bytes: 4 });
    const empty = await http(env, 'POST', '/api/queues/%2F/getq/get', { count: 1, ackmode: 'ack_requeue_false', encoding: 'auto' });
    expect(empty.json).toEqual([]);
    expect((await http(env, 'POST', '/api/queues/%2F/getq/get', { count: 1, ackmode: 'nope', encoding: 'auto' })).status).toBe(400);
    expect((await http(env, 'POST', '/api/queues/%2F/getq/get', { count: 0, ackmode: 'ack_requeue_true', encoding: 'auto' })).status).toBe(400);
    expect((await http(env, 'POST', '/api/exchanges/%2F/amq.default/publish', { routing_key: 'getq', payload: 'x', properties: { bogus: 1 } })).status).toBe(400);
    expect((await http(env, 'POST', '/api/exchanges/%2F/nope/publish', { routing_key: 'getq', payload: 'x', properties: {} })).status).toBe(404);
  });

  it('reject_requeue_false dead-letters through the queue dead-letter exchange', async () => {
    await http(env, 'PUT', '/api/exchanges/%2F/dlx', { type: 'fanout' });
    await http(env, 'PUT', '/api/queues/%2F/dead', {});
    await http(env, 'POST', '/api/bindings/%2F/e/dlx/q/dead', {});
    await http(env, 'PUT', '/api/queues/%2F/live', { arguments: { 'x-dead-letter-exchange': 'dlx' } });
    await http(env, 'POST', '/api/exchanges/%2F/amq.default/publish', { routing_key: 'live', payload: 'bye', payload_encoding: 'string', properties: {} });
    await http(env, 'POST', '/api/queues/%2F/live/get', { count: 1, ackmode: 'reject_requeue_false', encoding: 'auto' });
    const got = await http(env, 'POST', '/api/queues/%2F/dead/get', { count: 1, ackmode: 'ack_requeue_false', encoding: 'auto' });
    expect(got.json[0].payload).toBe('bye');
    expect(got.json[0].properties.headers['x-death'][0]).toMatchObject({ reason: 'rejected', queue: 'live' });
    for (const p of ['/api/queues/%2F/live', '/api/queues/%2F/dead', '/api/exchanges/%2F/dlx']) await http(env, 'DELETE', p);
  });

  it('purges, deletes with if-empty / if-unused, and refuses to delete system exchanges', async () => {
    await http(env, 'PUT', '/api/queues/%2F/pq', {});
    for (let i = 0; i < 3; i++) await http(env, 'POST', '/api/exchanges/%2F/amq.default/publish', { routing_key: 'pq', payload: `m${i}`, payload_encoding: 'string', properties: {} });
    expect((await http(env, 'DELETE', '/api/queues/%2F/pq?if-empty=true')).status).toBe(400);
    expect((await http(env, 'DELETE', '/api/queues/%2F/pq/contents')).status).toBe(204);
    expect((await http(env, 'GET', '/api/queues/%2F/pq')).json.messages).toBe(0);
    const { conn } = await amqp(env);
    const ch = await conn.channel();
    await ch.basicConsume('pq', { noAck: true }, () => {});
    expect((await http(env, 'DELETE', '/api/queues/%2F/pq?if-unused=true')).status).toBe(400);
    const one = (await http(env, 'GET', '/api/queues/%2F/pq')).json;
    expect(one.consumers).toBe(1);
    expect(one.consumer_details).toHaveLength(1);
    const chName = one.consumer_details[0].channel_details.name as string;
    expect((await http(env, 'GET', `/api/channels/${encodeURIComponent(chName)}`)).json.consumer_details[0].queue).toEqual({ name: 'pq', vhost: '/' });
    const consumers = (await http(env, 'GET', '/api/consumers/%2F')).json;
    expect(consumers.find((c: { queue: { name: string } }) => c.queue.name === 'pq')).toMatchObject({ ack_required: false, active: true, channel_details: { number: ch.id } });
    expect((await http(env, 'DELETE', '/api/queues/%2F/pq')).status).toBe(204);
    expect((await http(env, 'GET', '/api/queues/%2F/pq')).status).toBe(404);
    await conn.close();
    expect((await http(env, 'DELETE', '/api/exchanges/%2F/amq.direct')).status).toBe(401);
    expect((await http(env, 'DELETE', '/api/exchanges/%2F/never-there')).status).toBe(404);
  });
});

describe('connections and channels', () => {
  it('lists AMQP connections with channels and closes one with DELETE', async () => {
    const { client, conn } = await amqp(env);
    const ch = await conn.channel();
    await ch.prefetch(7);
    // an exclusive queue shows its owner and is locked for management
    const { name: excl } = await ch.queueDeclare('', { exclusive: true });
    const eq = (await http(env, 'GET', `/api/queues/%2F/${encodeURIComponent(excl)}`)).json;
    expect(eq).toMatchObject({ exclusive: true, owner_pid_details: { peer_host: '127.0.0.1' } });
    const locked = await http(env, 'POST', `/api/queues/%2F/${encodeURIComponent(excl)}/get`, { count: 1, ackmode: 'ack_requeue_true', encoding: 'auto' });
    expect(locked.status).toBe(400);
    expect(locked.json.reason).toMatch(/exclusive/);
    expect((await http(env, 'DELETE', `/api/queues/%2F/${encodeURIComponent(excl)}`)).status).toBe(400);
    const list = await until(() => http(env, 'GET', '/api/connections'), (r) => r.json.length === 1);
    const c = list.json[0];
    expect(c).toMatchObject({ user: 'guest', vhost: '/', protocol: 'AMQP 0-9-1', state: 'running', channels: 1, peer_host: '127.0.0.1', node: env.b.broker.opts.nodeName });
    expect(c.client_properties.product).toBeDefined();
    const chans = (await http(env, 'GET', '/api/channels')).json;
    expect(chans).toHaveLength(1);
    expect(chans[0]).toMatchObject({ number: ch.id, prefetch_count: 7, user: 'guest', connection_details: { name: c.name } });
    expect((await http(env, 'GET', `/api/channels/${encodeURIComponent(chans[0].name)}`)).status).toBe(200);
    expect((await http(env, 'GET', `/api/connections/${encodeURIComponent(c.name)}/channels`)).json).toHaveLength(1);

    const closed = new Promise<string>((resolve) => {
      client.onerror = (err) => resolve(err.message);
    });
    const del = await http(env, 'DELETE', `/api/connections/${encodeURIComponent(c.name)}`, undefined, ['guest', 'guest'], { 'x-reason': 'maintenance window' });
    expect(del.status).toBe(204);
    expect(await closed).toMatch(/maintenance window/);
    await until(() => http(env, 'GET', '/api/connections'), (r) => r.json.length === 0);
    expect((await http(env, 'GET', '/api/connections')).json).toEqual([]);
    expect((await http(env, 'DELETE', `/api/connections/${encodeURIComponent(c.name)}`)).status).toBe(404);
    expect((await http(env, 'GET', `/api/queues/%2F/${encodeURIComponent(excl)}`)).status).toBe(404);
  });
});

describe('vhosts, permissions, policies, parameters', () => {
  it('creates a vhost, grants permissions, and AMQP access follows', async () => {
    expect((await http(env, 'PUT', '/api/vhosts/staging', {})).status).toBe(201);
    expect((await http(env, 'PUT', '/api/vhosts/staging', {})).status).toBe(204);
    await http(env, 'PUT', '/api/users/dev', { password: 'dev', tags: 'management' });
    await expect(amqp(env, 'dev', 'dev', 'staging')).rejects.toThrow();
    expect((await http(env, 'PUT', '/api/permissions/staging/dev', { configure: '^dev\\.', write: '.*', read: '.*' })).status).toBe(201);
    expect((await http(env, 'GET', '/api/permissions/staging/dev')).json).toEqual({ user: 'dev', vhost: 'staging', configure: '^dev\\.', write: '.*', read: '.*' });
    expect((await http(env, 'GET', '/api/users/dev/permissions')).json).toHaveLength(1);
    // the creator (guest) got full permissions with the vhost, as in RabbitMQ
    expect((await http(env, 'GET', '/api/vhosts/staging/permissions')).json.map((p: { user: string }) => p.user).sort()).toEqual(['dev', 'guest']);
    const { conn } = await amqp(env, 'dev', 'dev', 'staging');
    await conn.close();
    // the configure regex applies to the HTTP API too
    expect((await http(env, 'PUT', '/api/queues/staging/dev.q', {}, ['dev', 'dev'])).status).toBe(201);
    expect((await http(env, 'PUT', '/api/queues/staging/other', {}, ['dev', 'dev'])).status).toBe(401);
    expect((await http(env, 'PUT', '/api/permissions/staging/dev', { configure: '(', write: '', read: '' })).status).toBe(400);
    expect((await http(env, 'PUT', '/api/permissions/staging/ghost', { configure: '', write: '', read: '' })).status).toBe(400);
    expect((await http(env, 'DELETE', '/api/permissions/staging/dev')).status).toBe(204);
    await expect(amqp(env, 'dev', 'dev', 'staging')).rejects.toThrow();
    expect((await http(env, 'DELETE', '/api/vhosts/staging')).status).toBe(204);
    expect((await http(env, 'DELETE', '/api/vhosts/staging')).status).toBe(404);
    await http(env, 'DELETE', '/api/users/dev');
  });

  it('sets policies that apply to queues, validates them, and removes them', async () => {
    await http(env, 'PUT', '/api/queues/%2F/ttl.q', {});
    const put = await http(env, 'PUT', '/api/policies/%2F/ttl', { pattern: '^ttl\\.', definition: { 'max-length': 2 }, priority: 1, 'apply-to': 'queues' });
    expect(put.status).toBe(201);
    expect((await http(env, 'GET', '/api/policies/%2F/ttl')).json).toEqual({ vhost: '/', name: 'ttl', pattern: '^ttl\\.', 'apply-to': 'queues', definition: { 'max-length': 2 }, priority: 1 });
    const q = (await http(env, 'GET', '/api/queues/%2F/ttl.q')).json;
    expect(q.policy).toBe('ttl');
    expect(q.effective_policy_definition).toEqual({ 'max-length': 2 });
    for (let i = 0; i < 5; i++) await http(env, 'POST', '/api/exchanges/%2F/amq.default/publish', { routing_key: 'ttl.q', payload: `${i}`, payload_encoding: 'string', properties: {} });
    expect((await http(env, 'GET', '/api/queues/%2F/ttl.q')).json.messages).toBe(2);
    const bad = await http(env, 'PUT', '/api/policies/%2F/bad', { pattern: '.*', definition: { 'no-such-key': 1 } });
    expect(bad.status).toBe(400);
    expect(bad.json.reason).toMatch(/Validation failed/);
    expect((await http(env, 'PUT', '/api/policies/%2F/bad', { pattern: '.*' })).status).toBe(400);
    expect((await http(env, 'GET', '/api/policies')).json).toHaveLength(1);
    expect((await http(env, 'DELETE', '/api/policies/%2F/ttl')).status).toBe(204);
    expect((await http(env, 'DELETE', '/api/policies/%2F/ttl')).status).toBe(404);
    expect((await http(env, 'GET', '/api/queues/%2F/ttl.q')).json.policy).toBeNull();
    await http(env, 'DELETE', '/api/queues/%2F/ttl.q');
  });

  it('stores runtime parameters', async () => {
    const v = { uri: 'amqp://upstream', 'prefetch-count': 10 };
    expect((await http(env, 'PUT', '/api/parameters/federation-upstream/%2F/up1', { value: v })).status).toBe(201);
    expect((await http(env, 'PUT', '/api/parameters/federation-upstream/%2F/up1', { value: v })).status).toBe(204);
    expect((await http(env, 'GET', '/api/parameters/federation-upstream/%2F/up1')).json).toEqual({ vhost: '/', component: 'federation-upstream', name: 'up1', value: v });
    expect((await http(env, 'GET', '/api/parameters/federation-upstream')).json).toHaveLength(1);
    expect((await http(env, 'GET', '/api/parameters/shovel')).json).toHaveLength(0);
    expect((await http(env, 'DELETE', '/api/parameters/federation-upstream/%2F/up1')).status).toBe(204);
    expect((await http(env, 'GET', '/api/parameters')).json).toEqual([]);
  });
});

describe('definitions', () => {
  it('exports from one broker and imports into a fresh one with the same effect', async () => {
    await http(env, 'PUT', '/api/vhosts/prod');
    // the creator gets full permissions in the new vhost; without them even an administrator cannot change it
    expect((await http(env, 'GET', '/api/permissions/prod/guest')).json).toMatchObject({ configure: '.*', write: '.*', read: '.*' });
    await http(env, 'DELETE', '/api/permissions/prod/guest');
    expect((await http(env, 'PUT', '/api/queues/prod/audit', {})).status).toBe(401);
    await http(env, 'PUT', '/api/permissions/prod/guest', { configure: '.*', write: '.*', read: '.*' });
    await http(env, 'PUT', '/api/users/app', { password: 'app-pw', tags: ['management'] });
    await http(env, 'PUT', '/api/permissions/prod/app', { configure: '.*', write: '.*', read: '.*' });
    await http(env, 'PUT', '/api/exchanges/prod/events', { type: 'topic', durable: true });
    await http(env, 'PUT', '/api/queues/prod/audit', { durable: true, arguments: { 'x-message-ttl': 60000 } });
    await http(env, 'PUT', '/api/queues/prod/scratch', { durable: false });
    await http(env, 'PUT', '/api/exchanges/prod/transient', { type: 'fanout', durable: false });
    await http(env, 'POST', '/api/bindings/prod/e/events/q/audit', { routing_key: '#' });
    await http(env, 'POST', '/api/bindings/prod/e/transient/q/scratch', { routing_key: '' });
    await http(env, 'PUT', '/api/policies/prod/ha', { pattern: '^audit$', definition: { 'ha-mode': 'all' }, 'apply-to': 'queues' });
    const exp = await http(env, 'GET', '/api/definitions');
    expect(exp.status).toBe(200);
    const d = exp.json;
    expect(d.rabbitmq_version).toBeDefined();
    expect(d.users.find((u: { name: string }) => u.name === 'app')).toMatchObject({ hashing_algorithm: 'rabbit_password_hashing_sha256', tags: ['management'] });
    expect(d.queues.map((q: { name: string }) => q.name)).toContain('audit');
    // non-durable queues, exchanges and their bindings are exported too, as RabbitMQ 3.10 does
    expect(d.queues).toContainEqual({ name: 'scratch', vhost: 'prod', durable: false, auto_delete: false, arguments: {} });
    expect(d.exchanges).toContainEqual({ name: 'transient', vhost: 'prod', type: 'fanout', durable: false, auto_delete: false, internal: false, arguments: {} });
    expect(d.bindings).toContainEqual({ source: 'transient', vhost: 'prod', destination: 'scratch', destination_type: 'queue', routing_key: '', arguments: {} });
    expect(d.bindings).toContainEqual({ source: 'events', vhost: 'prod', destination: 'audit', destination_type: 'queue', routing_key: '#', arguments: {} });

    const other = await startEnv();
    try {
      const imp = await http(other, 'POST', '/api/definitions', JSON.stringify(d));
      expect(imp.status).toBe(204);
      // the imported user logs in over AMQP into the imported vhost; the binding routes
      const { conn } = await amqp(other, 'app', 'app-pw', 'prod');
      const ch = await conn.channel();
      await ch.basicPublish('events', 'a.b', 'routed');
      const got = await until(() => ch.basicGet('audit', { noAck: true }), (m) => m !== null);
      expect(got?.bodyToString()).toBe('routed');
      await conn.close();
      expect((await http(other, 'GET', '/api/policies/prod/ha')).json.definition).toEqual({ 'ha-mode': 'all' });
      expect((await http(other, 'GET', '/api/queues/prod/audit')).json.arguments).toEqual({ 'x-message-ttl': 60000 });
      // per-vhost export has no vhost fields and imports into another vhost
      const vexp = (await http(other, 'GET', '/api/definitions/prod')).json;
      expect(vexp.queues[0]).not.toHaveProperty('vhost');
      await http(other, 'PUT', '/api/vhosts/copy');
      expect((await http(other, 'POST', '/api/definitions/copy', vexp)).status).toBe(204);
      expect((await http(other, 'GET', '/api/queues/copy/audit')).status).toBe(200);
      expect((await http(other, 'GET', '/api/bindings/copy/e/events/q/audit')).json).toHaveLength(1);
      // a broken document is a 400
      const bad = await http(other, 'POST', '/api/definitions', { queues: [{ name: 'q', vhost: 'nowhere' }] });
      expect(bad.status).toBe(400);
      expect(bad.json.reason).toMatch(/nowhere/);
    } finally {
      await other.close();
    }
    await http(env, 'DELETE', '/api/vhosts/prod');
    await http(env, 'DELETE', '/api/users/app');
  });

  it('imports a file in the format RabbitMQ 3.8 exports (string tags, cluster id, hashes from RabbitMQ)', async () => {
    // rabbit_password_hashing_sha256: base64(salt(4) + sha256(salt + password)), computed here independently
    const salt = Buffer.from([0x9a, 0x01, 0x7f, 0x33]);
    const hash = Buffer.concat([salt, createHash('sha256').update(salt).update('from-rabbit').digest()]).toString('base64');
    const file = {
      rabbit_version: '3.8.3',
      rabbitmq_version: '3.8.3',
      users: [{ name: 'imported', password_hash: hash, hashing_algorithm: 'rabbit_password_hashing_sha256', tags: 'policymaker,management' }],
      vhosts: [{ name: 'legacy' }],
      permissions: [{ user: 'imported', vhost: 'legacy', configure: '.*', write: '.*', read: '.*' }],
      topic_permissions: [],
      parameters: [],
      global_parameters: [{ name: 'cluster_name', value: 'rabbit@legacy-cluster' }, { name: 'internal_cluster_id', value: 'rabbitmq-cluster-id-abc' }],
      policies: [{ vhost: 'legacy', name: 'dlx', pattern: '^delay$', 'apply-to': 'queues', definition: { 'dead-letter-exchange': 'render' }, priority: 0 }],
      queues: [
        { name: 'delay', vhost: 'legacy', durable: true, auto_delete: false, arguments: { 'x-message-ttl': 300, 'x-dead-letter-routing-key': 'delayed.render', 'x-dead-letter-exchange': 'render' } },
        { name: 'render', vhost: 'legacy', durable: true, auto_delete: false, arguments: {} },
      ],
      exchanges: [{ name: 'render', vhost: 'legacy', type: 'topic', durable: true, auto_delete: false, internal: false, arguments: {} }],
      bindings: [{ source: 'render', vhost: 'legacy', destination: 'render', destination_type: 'queue', routing_key: '#.render', arguments: {} }],
    };
    const other = await startEnv();
    try {
      expect((await http(other, 'POST', '/api/definitions', file)).status).toBe(204);
      expect((await http(other, 'GET', '/api/overview')).json.cluster_name).toBe('rabbit@legacy-cluster');
      expect((await http(other, 'GET', '/api/whoami', undefined, ['imported', 'from-rabbit'])).json).toEqual({ name: 'imported', tags: ['policymaker', 'management'] });
      const { conn } = await amqp(other, 'imported', 'from-rabbit', 'legacy');
      const ch = await conn.channel();
      await ch.basicPublish('', 'delay', 'later');
      // TTL 300 ms then dead-lettered with the delayed.render key into render, bound by #.render
      const got = await until(() => ch.basicGet('render', { noAck: true }), (m) => m !== null, 6000);
      expect(got?.bodyToString()).toBe('later');
      expect(got?.routingKey).toBe('delayed.render');
      await conn.close();
      const md5 = { users: [{ name: 'old', password_hash: 'AsYO2ESs62RcsxNVyxKaR5DGxVI=', tags: 'administrator' }] };
      const r = await http(other, 'POST', '/api/definitions', md5);
      expect(r.status).toBe(400);
      expect(r.json.reason).toMatch(/MD5/);
    } finally {
      await other.close();
    }
  });
});

describe('health checks and overview', () => {
  it('reports alarms with 503 and recovers', async () => {
    expect((await http(env, 'GET', '/api/health/checks/alarms')).json).toEqual({ status: 'ok' });
    env.b.broker.memoryAlarm = true;
    try {
      const r = await http(env, 'GET', '/api/health/checks/alarms');
      expect(r.status).toBe(503);
      expect(r.json).toMatchObject({ status: 'failed', alarms: [{ resource: 'memory', node: env.b.broker.opts.nodeName }] });
      expect((await http(env, 'GET', '/api/health/checks/local-alarms')).status).toBe(503);
      expect((await http(env, 'GET', '/api/overview')).json.alarms).toHaveLength(1);
      const node = (await http(env, 'GET', `/api/nodes/${encodeURIComponent(env.b.broker.opts.nodeName)}`)).json;
      expect(node.mem_alarm).toBe(true);
    } finally {
      env.b.broker.memoryAlarm = false;
    }
    expect((await http(env, 'GET', '/api/health/checks/local-alarms')).status).toBe(200);
  });

  it('answers the other checks and the aliveness test', async () => {
    for (const c of ['node-is-quorum-critical', 'node-is-mirror-sync-critical', 'virtual-hosts', 'ready-to-serve-clients', 'protocol-listener/amqp']) {
      const r = await http(env, 'GET', `/api/health/checks/${c}`);
      expect([c, r.status, r.json.status]).toEqual([c, 200, 'ok']);
    }
    expect((await http(env, 'GET', `/api/health/checks/port-listener/${env.b.port}`)).json).toEqual({ status: 'ok', port: env.b.port });
    const missing = await http(env, 'GET', '/api/health/checks/port-listener/1');
    expect(missing.status).toBe(503);
    expect(missing.json).toMatchObject({ status: 'failed', missing: 1 });
    expect((await http(env, 'GET', '/api/health/checks/port-listener/abc')).status).toBe(400);
    expect((await http(env, 'GET', '/api/health/checks/protocol-listener/stomp')).status).toBe(503);
    expect((await http(env, 'GET', '/api/aliveness-test/%2F')).json).toEqual({ status: 'ok' });
    expect((await http(env, 'GET', '/api/aliveness-test/nowhere')).status).toBe(404);
  });

  it('shows totals and message rates in the overview', async () => {
    await http(env, 'PUT', '/api/queues/%2F/rates', {});
    const { conn } = await amqp(env);
    const ch = await conn.channel();
    // a steady publisher keeps the sampled rate above zero while we look
    let sent = 0;
    let publishing = true;
    const pump = (async () => {
      while (publishing) {
        await ch.basicPublish('', 'rates', `m${sent++}`);
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    const o = await until(() => http(env, 'GET', '/api/overview'), (r) => r.json.message_stats.publish_details.rate > 0 && r.json.queue_totals.messages >= 20);
    expect(o.json.message_stats.publish_details.rate).toBeGreaterThan(0);
    expect(o.json.queue_totals.messages_ready).toBeGreaterThanOrEqual(20);
    expect(o.json.object_totals).toMatchObject({ connections: 1, channels: 1 });
    expect(o.json.listeners.map((l: { protocol: string }) => l.protocol)).toEqual(['amqp', 'http']);
    const q = await until(() => http(env, 'GET', '/api/queues/%2F/rates'), (r) => r.json.message_stats.publish_details.rate > 0);
    expect(q.json.message_stats.publish_details.rate).toBeGreaterThan(0);
    publishing = false;
    await pump;
    const final = await until(() => http(env, 'GET', '/api/queues/%2F/rates'), (r) => r.json.message_stats.publish === sent);
    expect(final.json.message_stats.publish).toBe(sent);
    await conn.close();
    await http(env, 'DELETE', '/api/queues/%2F/rates');
  });

  it('filters columns, sorts and pages lists as rabbitmqadmin and the RabbitMQ UI ask', async () => {
    for (const n of ['zeta', 'alpha', 'mid']) await http(env, 'PUT', `/api/queues/%2F/page-${n}`, {});
    const cols = (await http(env, 'GET', '/api/queues/%2F?columns=name,message_stats.publish&sort=name')).json;
    const names = cols.map((q: { name: string }) => q.name).filter((n: string) => n.startsWith('page-'));
    expect(names).toEqual(['page-alpha', 'page-mid', 'page-zeta']);
    expect(Object.keys(cols[0]).sort()).toEqual(['message_stats', 'name']);
    expect(Object.keys(cols[0].message_stats)).toEqual(['publish']);
    const rev = (await http(env, 'GET', '/api/queues/%2F?sort=name&sort_reverse=true&columns=name')).json;
    expect(rev[0].name >= rev[rev.length - 1].name).toBe(true);
    const page = (await http(env, 'GET', '/api/queues/%2F?page=1&page_size=2&name=page-&sort=name')).json;
    expect(page).toMatchObject({ filtered_count: 3, item_count: 2, page: 1, page_count: 2, page_size: 2 });
    expect((await http(env, 'GET', '/api/queues/%2F?page=9&page_size=2&name=page-')).status).toBe(400);
    const ov = (await http(env, 'GET', '/api/overview?columns=rabbitmq_version,object_totals.queues')).json;
    expect(Object.keys(ov).sort()).toEqual(['object_totals', 'rabbitmq_version']);
    for (const n of ['zeta', 'alpha', 'mid']) await http(env, 'DELETE', `/api/queues/%2F/page-${n}`);
  });
});

describe('metadata changes in a cluster', () => {
  it('go through broker.change as commands, and a refused change is a 503', async () => {
    const c = await startEnv();
    const broker = c.b.broker;
    const proposed: string[] = [];
    let refuse = false;
    broker.replicator = {
      propose: async (cmd) => {
        if (refuse) throw new NoDiscNodeError('test');
        proposed.push(cmd.op);
        broker.applyMeta(cmd);
      },
    };
    try {
      expect((await http(c, 'PUT', '/api/exchanges/%2F/cx', { type: 'direct' })).status).toBe(201);
      expect((await http(c, 'PUT', '/api/queues/%2F/cq', { durable: true })).status).toBe(201);
      expect((await http(c, 'PUT', '/api/queues/%2F/cq', { durable: true })).status).toBe(204);
      expect((await http(c, 'PUT', '/api/queues/%2F/cq', { durable: false })).status).toBe(400);
      expect((await http(c, 'PUT', '/api/queues/%2F/amq.x', {})).status).toBe(401);
      expect((await http(c, 'POST', '/api/bindings/%2F/e/cx/q/cq', { routing_key: 'k' })).status).toBe(201);
      expect((await http(c, 'POST', '/api/exchanges/%2F/cx/publish', { routing_key: 'k', payload: 'p', payload_encoding: 'string', properties: {} })).json).toEqual({ routed: true });
      expect((await http(c, 'DELETE', '/api/bindings/%2F/e/cx/q/cq/k')).status).toBe(204);
      expect((await http(c, 'PUT', '/api/vhosts/cv')).status).toBe(201);
      expect((await http(c, 'PUT', '/api/users/cu', { password: 'p', tags: 'management' })).status).toBe(201);
      expect((await http(c, 'PUT', '/api/permissions/cv/cu', { configure: '.*', write: '.*', read: '.*' })).status).toBe(201);
      expect((await http(c, 'PUT', '/api/policies/%2F/cp', { pattern: '^cq$', definition: { 'max-length': 1 } })).status).toBe(201);
      expect((await http(c, 'PUT', '/api/policies/%2F/bad', { pattern: '.*', definition: { nope: 1 } })).status).toBe(400);
      expect((await http(c, 'DELETE', '/api/policies/%2F/cp')).status).toBe(204);
      expect((await http(c, 'DELETE', '/api/queues/%2F/cq')).status).toBe(204);
      expect((await http(c, 'DELETE', '/api/exchanges/%2F/cx')).status).toBe(204);
      expect((await http(c, 'POST', '/api/definitions', { vhosts: [{ name: 'dv' }], queues: [{ name: 'dq', vhost: 'dv', durable: true, auto_delete: false, arguments: {} }] })).status).toBe(204);
      expect(proposed).toEqual([
        'exchange.declare', 'queue.declare', 'bind', 'unbind', 'vhost.add', 'permission.set', 'user.put', 'permission.set',
        'policy.set', 'policy.clear', 'queue.delete', 'exchange.delete', 'vhost.add', 'queue.declare',
      ]);
      expect(broker.vhosts.get('dv')?.queues.has('dq')).toBe(true);
      refuse = true;
      const r = await http(c, 'PUT', '/api/queues/%2F/later', {});
      expect(r.status).toBe(503);
      expect(r.json.reason).toMatch(/no running disc node/);
      expect(broker.vhosts.get('/')!.queues.has('later')).toBe(false);
    } finally {
      broker.replicator = null;
      await c.close();
    }
  });
});

describe('cluster view', () => {
  it('shows nodes, queue nodes and mirrors from a plugged-in cluster view', async () => {
    const self = env.b.broker.opts.nodeName;
    const view: ClusterView = {
      nodes: () => [
        { name: self, type: 'disc', running: true, partitions: [] },
        { name: 'rabbit@b', type: 'ram', running: true, partitions: ['rabbit@c'], stats: { mem_used: 1234, uptime: 5000 } },
        { name: 'rabbit@c', type: 'disc', running: false, partitions: [] },
      ],
      queueLocation: (_vhost, queue) => (queue === 'mirrored' ? { node: 'rabbit@b', mirrors: [self, 'rabbit@c'], synchronisedMirrors: [self] } : { node: self, mirrors: [], synchronisedMirrors: [] }),
      // the master of 'mirrored' (on rabbit@b) has 7 ready and 2 unacked messages and a consumer, and its counters and
      // rates as rabbit@b sampled them; 'on-c' is mastered on the stopped node, which cannot be asked
      queueCounts: (queues) => {
        const out = localCounts(queues);
        for (const q of out.keys()) {
          if (q.name === 'mirrored') out.set(q, {
            ready: 7, unacked: 2, readyBytes: 700, consumers: 1, publish: 40, deliver: 31, ack: 29, redeliver: 1,
            rates: { publish: 12.5, deliver_get: 10, ack: 9.5, redeliver: 0.2, messages: 3, messages_ready: 2.5, messages_unacknowledged: 0.5 },
          });
          if (q.name === 'on-c') out.set(q, null);
        }
        return Promise.resolve(out);
      },
    };
    const c = await startEnv({ cluster: view });
    try {
      const nodes = (await http(c, 'GET', '/api/nodes')).json;
      expect(nodes.map((n: { name: string; type: string; running: boolean }) => [n.name, n.type, n.running])).toEqual([[self, 'disc', true], ['rabbit@b', 'ram', true], ['rabbit@c', 'disc', false]]);
      expect(nodes[1]).toMatchObject({ partitions: ['rabbit@c'], mem_used: 1234 });
      expect(nodes[0].mem_used).toBeGreaterThan(0);
      await http(c, 'PUT', '/api/queues/%2F/mirrored', {});
      await http(c, 'PUT', '/api/queues/%2F/plain', {});
      const q = (await http(c, 'GET', '/api/queues/%2F/mirrored')).json;
      expect(q).toMatchObject({ node: 'rabbit@b', slave_nodes: [self, 'rabbit@c'], synchronised_slave_nodes: [self] });
      expect((await http(c, 'GET', '/api/queues/%2F/plain')).json).not.toHaveProperty('slave_nodes');
      // counts are the master's: this node's stand-in for 'mirrored' is empty
      expect(q).toMatchObject({ state: 'running', messages: 9, messages_ready: 7, messages_unacknowledged: 2, message_bytes: 700, consumers: 1 });
      // and so are its message counters and rates (this node's samples of its stand-in would all be zero)
      expect(q).toMatchObject({
        messages_details: { rate: 3 },
        messages_ready_details: { rate: 2.5 },
        messages_unacknowledged_details: { rate: 0.5 },
        message_stats: { publish: 40, publish_details: { rate: 12.5 }, deliver_get: 31, deliver_get_details: { rate: 10 }, ack: 29, ack_details: { rate: 9.5 }, redeliver: 1, redeliver_details: { rate: 0.2 } },
      });
      await http(c, 'PUT', '/api/queues/%2F/on-c', {});
      const down = (await http(c, 'GET', '/api/queues/%2F/on-c')).json;
      expect(down).toMatchObject({ name: 'on-c', state: 'down' });
      expect(down).not.toHaveProperty('messages');
      // listed by name, as RabbitMQ lists them
      const listed = (await http(c, 'GET', '/api/queues/%2F')).json as { name: string; state: string; messages?: number }[];
      expect(listed.map((x) => [x.name, x.state, x.messages])).toEqual([['mirrored', 'running', 9], ['on-c', 'down', undefined], ['plain', 'running', 0]]);
      expect((await http(c, 'GET', '/api/overview')).json.queue_totals).toMatchObject({ messages: 9, messages_ready: 7, messages_unacknowledged: 2 });
      const vh = (await http(c, 'GET', '/api/vhosts/%2F')).json;
      expect(vh).toMatchObject({ messages: 9, messages_ready: 7, messages_unacknowledged: 2 });
      expect(vh.cluster_state).toEqual({ [self]: 'running', 'rabbit@b': 'running', 'rabbit@c': 'stopped' });
      expect((await http(c, 'GET', '/api/nodes/rabbit%40c')).json.running).toBe(false);
      expect((await http(c, 'GET', '/api/health/checks/node-is-mirror-sync-critical')).status).toBe(200);
    } finally {
      await c.close();
    }
  });

  it('the local view of a single in-memory node is one running ram node', async () => {
    const nodes = (await http(env, 'GET', '/api/nodes')).json;
    expect(nodes).toHaveLength(1);
    expect(nodes[0]).toMatchObject({ name: env.b.broker.opts.nodeName, type: 'ram', running: true, partitions: [] });
  });
});

describe('writes from other sites (CSRF)', () => {
  const evil = { users: [{ name: 'csrf-admin', password: 'x', tags: 'administrator' }], vhosts: [{ name: 'csrf-vh' }] };
  const created = async (): Promise<string[]> => {
    const users = (await http(env, 'GET', '/api/users')).json.map((u: { name: string }) => u.name);
    const vhosts = (await http(env, 'GET', '/api/vhosts')).json.map((v: { name: string }) => v.name);
    return [...users, ...vhosts].filter((n) => n.startsWith('csrf-'));
  };

  it('answers 415 to bodies that are not JSON, as RabbitMQ does, and creates nothing', async () => {
    for (const ct of ['text/plain', 'application/x-www-form-urlencoded', 'text/plain; charset=utf-8']) {
      const r = await http(env, 'POST', '/api/definitions', JSON.stringify(evil), ['guest', 'guest'], { 'content-type': ct });
      expect(r.status, ct).toBe(415);
    }
    const form = await http(env, 'PUT', '/api/users/csrf-form', 'password=x&tags=administrator', ['guest', 'guest'], { 'content-type': 'application/x-www-form-urlencoded' });
    expect(form.status).toBe(415);
    // multipart is the definitions upload's only
    const mp = await http(env, 'PUT', '/api/vhosts/csrf-mp', '--b\r\n\r\n{}\r\n--b--', ['guest', 'guest'], { 'content-type': 'multipart/form-data; boundary=b' });
    expect(mp.status).toBe(415);
    expect(await created()).toEqual([]);
    // JSON with parameters, and no content type at all (curl -d without -H), are taken as RabbitMQ takes them
    expect((await http(env, 'PUT', '/api/vhosts/ct-json', '{}', ['guest', 'guest'], { 'content-type': 'application/json; charset=utf-8' })).status).toBe(201);
    expect((await http(env, 'DELETE', '/api/vhosts/ct-json')).status).toBe(204);
  });

  it('refuses state-changing requests whose Origin is another site (403), and keeps same-origin and non-browser ones', async () => {
    const refused = [
      { origin: 'http://evil.example' },
      { origin: 'null' },
      { 'sec-fetch-site': 'cross-site' },
    ];
    for (const h of refused) {
      const r = await http(env, 'POST', '/api/definitions', evil, ['guest', 'guest'], h);
      expect(r.status, JSON.stringify(h)).toBe(403);
      expect(r.json.error).toBe('forbidden');
      // a multipart upload (what a cross-site HTML form can send) is refused the same way
      const form = `--b\r\ncontent-disposition: form-data; name="file"\r\n\r\n${JSON.stringify(evil)}\r\n--b--\r\n`;
      const f = await http(env, 'POST', '/api/definitions', form, ['guest', 'guest'], { ...h, 'content-type': 'multipart/form-data; boundary=b' });
      expect(f.status).toBe(403);
      expect((await http(env, 'DELETE', '/api/vhosts/%2F', undefined, ['guest', 'guest'], h)).status).toBe(403);
    }
    expect(await created()).toEqual([]);
    // reading is not a state change
    expect((await http(env, 'GET', '/api/overview', undefined, ['guest', 'guest'], { origin: 'http://evil.example' })).status).toBe(200);
    // the API's own origin (the web UI) may write
    const own = new URL(env.base).host;
    expect((await http(env, 'PUT', '/api/vhosts/origin-ok', {}, ['guest', 'guest'], { origin: `http://${own}`, 'sec-fetch-site': 'same-origin' })).status).toBe(201);
    expect((await http(env, 'DELETE', '/api/vhosts/origin-ok', undefined, ['guest', 'guest'], { origin: `http://${own}` })).status).toBe(204);
  });
});
