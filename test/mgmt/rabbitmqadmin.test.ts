// Debian's real rabbitmqadmin (python3, from the rabbitmq-server package's management plugin) against Warren,
// with every result checked over AMQP (@cloudamqp/amqp-client) or the HTTP API.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { amqp, findRabbitmqadmin, http, rabbitmqadmin, startEnv, until, type CliResult, type Env } from './helpers.ts';

const script = findRabbitmqadmin();
if (!script) {
  console.warn('rabbitmqadmin tests skipped: no rabbitmqadmin found (install Debian package rabbitmq-server: it ships ' +
    '/usr/lib/rabbitmq/lib/rabbitmq_server-*/plugins/rabbitmq_management-*/priv/www/cli/rabbitmqadmin; or point $RABBITMQADMIN at the script)');
}

describe.skipIf(!script)('rabbitmqadmin against Warren', () => {
  let env: Env;
  let dir: string;
  const admin = (...args: string[]): Promise<CliResult> => rabbitmqadmin(script!, env, args);
  const ok = async (...args: string[]): Promise<string> => {
    const r = await admin(...args);
    if (r.code !== 0) throw new Error(`rabbitmqadmin ${args.join(' ')} exited ${r.code}: ${r.stderr}${r.stdout}`);
    return r.stdout;
  };
  const json = async (...args: string[]): Promise<any> => JSON.parse(await ok('-f', 'raw_json', ...args));
  /** message count seen over AMQP with a passive declare */
  const depth = async (queue: string): Promise<number> => {
    const { conn } = await amqp(env);
    try {
      const ch = await conn.channel();
      return (await ch.queueDeclare(queue, { passive: true })).messageCount;
    } finally {
      await conn.close();
    }
  };
  const existsOverAmqp = async (kind: 'queue' | 'exchange', name: string): Promise<boolean> => {
    const { conn } = await amqp(env);
    try {
      const ch = await conn.channel();
      if (kind === 'queue') await ch.queueDeclare(name, { passive: true });
      else await ch.exchangeDeclare(name, 'direct', { passive: true });
      return true;
    } catch (err) {
      if (/NOT_FOUND/.test(String((err as Error).message))) return false;
      throw err;
    } finally {
      if (!conn.closed) await conn.close();
    }
  };

  beforeAll(async () => {
    env = await startEnv();
    dir = mkdtempSync(join(tmpdir(), 'warren-mgmt-'));
  });
  afterAll(async () => {
    await env?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('declares the seeds\' exchange, queue and binding; they exist over AMQP', async () => {
    expect(await ok('declare', 'exchange', 'name=my-new-exchange', 'type=fanout')).toContain('exchange declared');
    expect(await ok('declare', 'queue', 'name=my-new-queue', 'durable=false')).toContain('queue declared');
    expect(await ok('declare', 'binding', 'source=my-new-exchange', 'destination=my-new-queue')).toContain('binding declared');
    expect(await existsOverAmqp('exchange', 'my-new-exchange')).toBe(true);
    expect(await existsOverAmqp('queue', 'my-new-queue')).toBe(true);
    const q = (await http(env, 'GET', '/api/queues/%2F/my-new-queue')).json;
    expect(q.durable).toBe(false);
    const ex = (await http(env, 'GET', '/api/exchanges/%2F/my-new-exchange')).json;
    expect(ex).toMatchObject({ type: 'fanout', durable: true });

    const table = await ok('list', 'queues');
    expect(table).toMatch(/\| my-new-queue \| 0 +\|/);
    const exchanges = await json('list', 'exchanges');
    expect(exchanges.map((e: { name: string }) => e.name)).toContain('my-new-exchange');
    const bindings = await ok('-f', 'tsv', 'list', 'bindings');
    expect(bindings).toContain('my-new-exchange\tmy-new-queue\t');
  });

  it('publishes (argument and stdin) and the message arrives over AMQP', async () => {
    expect(await ok('publish', 'exchange=my-new-exchange', 'routing_key=test', 'payload=hello, world')).toContain('Message published');
    const { conn } = await amqp(env);
    const ch = await conn.channel();
    const m = await until(() => ch.basicGet('my-new-queue', { noAck: true }), (x) => x !== null);
    expect(m?.bodyToString()).toBe('hello, world');
    expect(m?.routingKey).toBe('test');
    expect(m?.exchange).toBe('my-new-exchange');
    // no payload argument: rabbitmqadmin reads standard input and sends it base64-encoded
    const r = await rabbitmqadmin(script!, env, ['publish', 'exchange=my-new-exchange', 'routing_key=stdin'], 'from stdin\n');
    expect(r.stdout).toContain('Message published');
    const m2 = await until(() => ch.basicGet('my-new-queue', { noAck: true }), (x) => x !== null);
    expect(m2?.bodyToString()).toBe('from stdin\n');
    expect(await ok('publish', 'exchange=amq.direct', 'routing_key=nobody', 'payload=x')).toContain('NOT routed');
    await conn.close();
  });

  it('gets with each ack mode, and the queue depth over AMQP follows', async () => {
    expect(await ok('declare', 'queue', 'name=test')).toContain('queue declared');
    const { conn } = await amqp(env);
    const ch = await conn.channel();
    for (const p of ['m1', 'm2', 'm3', 'm4']) await ch.basicPublish('', 'test', p, { contentType: 'text/plain' });
    await conn.close();
    expect(await depth('test')).toBe(4);

    const shown = await ok('get', 'queue=test');
    expect(shown).toMatch(/\| test +\| +\| 3 +\| m1 /);
    expect(await depth('test')).toBe(4); // default ack_requeue_true leaves it

    const peek = await json('get', 'queue=test', 'ackmode=reject_requeue_true', 'count=2');
    expect(peek.map((x: { payload: string }) => x.payload)).toEqual(['m1', 'm2']);
    expect(peek[0].redelivered).toBe(true);
    expect(peek[0].properties).toEqual({ content_type: 'text/plain' });
    expect(await depth('test')).toBe(4);

    const taken = await json('get', 'queue=test', 'ackmode=ack_requeue_false');
    expect(taken[0].payload).toBe('m1');
    expect(await depth('test')).toBe(3);

    const rejected = await json('get', 'queue=test', 'ackmode=reject_requeue_false');
    expect(rejected[0].payload).toBe('m2');
    expect(await depth('test')).toBe(2);

    const file = join(dir, 'payload.bin');
    await ok('get', 'queue=test', 'ackmode=ack_requeue_false', `payload_file=${file}`);
    expect(readFileSync(file, 'utf8')).toBe('m3');
    expect(await depth('test')).toBe(1);

    const b64 = await json('get', 'queue=test', 'encoding=base64');
    expect(b64[0]).toMatchObject({ payload: Buffer.from('m4').toString('base64'), payload_encoding: 'base64' });

    expect(await ok('purge', 'queue', 'name=test')).toContain('queue purged');
    expect(await depth('test')).toBe(0);
    expect(await ok('get', 'queue=test')).toContain('No items');
  });

  it('deletes queues and exchanges; AMQP no longer finds them', async () => {
    expect(await ok('delete', 'binding', 'source=my-new-exchange', 'destination_type=queue', 'destination=my-new-queue')).toContain('binding deleted');
    expect(await ok('delete', 'queue', 'name=my-new-queue')).toContain('queue deleted');
    expect(await ok('delete', 'exchange', 'name=my-new-exchange')).toContain('exchange deleted');
    expect(await existsOverAmqp('queue', 'my-new-queue')).toBe(false);
    expect(await existsOverAmqp('exchange', 'my-new-exchange')).toBe(false);
    const missing = await admin('delete', 'queue', 'name=my-new-queue');
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('Not found: /api/queues/%2F/my-new-queue');
    const badBool = await admin('declare', 'queue', 'name=x', 'durable=maybe');
    expect(badBool.code).not.toBe(0);
    expect(badBool.stderr).toMatch(/durable must be true or false/);
  });

  it('manages vhosts, users, permissions and policies', async () => {
    await ok('declare', 'vhost', 'name=seed');
    await ok('declare', 'user', 'name=app', 'password=app-pw', 'tags=monitoring');
    await ok('declare', 'permission', 'vhost=seed', 'user=app', 'configure=.*', 'write=.*', 'read=.*');
    await ok('-V', 'seed', 'declare', 'policy', 'name=ha-all', 'pattern=^ha\\.', 'definition={"ha-mode":"all","ha-sync-mode":"automatic"}', 'priority=1', 'apply-to=queues');
    await ok('-V', 'seed', 'declare', 'queue', 'name=ha.orders');
    const users = await json('list', 'users');
    expect(users.find((u: { name: string }) => u.name === 'app').tags).toEqual(['monitoring']);
    const policies = await json('list', 'policies');
    expect(policies).toContainEqual({ vhost: 'seed', name: 'ha-all', pattern: '^ha\\.', 'apply-to': 'queues', definition: { 'ha-mode': 'all', 'ha-sync-mode': 'automatic' }, priority: 1 });
    const q = await json('-V', 'seed', 'list', 'queues', 'name', 'policy');
    expect(q).toEqual([{ name: 'ha.orders', policy: 'ha-all' }]);
    // the new user reaches the vhost over AMQP
    const { conn } = await amqp(env, 'app', 'app-pw', 'seed');
    await conn.close();
    const nodes = await ok('list', 'nodes');
    expect(nodes).toContain(env.b.broker.opts.nodeName);
    const overview = await ok('show', 'overview');
    expect(overview).toContain('3.10');
    await ok('-V', 'seed', 'delete', 'policy', 'name=ha-all');
    expect(await json('list', 'policies')).toEqual([]);
  });

  it('exports definitions and imports them into another broker', async () => {
    await ok('-V', 'seed', 'declare', 'exchange', 'name=events', 'type=topic');
    await ok('-V', 'seed', 'declare', 'binding', 'source=events', 'destination=ha.orders', 'routing_key=order.#');
    const file = join(dir, 'defs.json');
    expect(await ok('export', file)).toContain('Exported definitions');
    const defs = JSON.parse(readFileSync(file, 'utf8'));
    expect(defs.vhosts.map((v: { name: string }) => v.name).sort()).toEqual(['/', 'seed']);

    const saved = env;
    const other = await startEnv();
    env = other;
    try {
      expect(await ok('import', file)).toContain('Uploaded definitions');
      const { conn } = await amqp(other, 'app', 'app-pw', 'seed');
      const ch = await conn.channel();
      await ch.basicPublish('events', 'order.new', 'imported');
      const got = await until(() => ch.basicGet('ha.orders', { noAck: true }), (m) => m !== null);
      expect(got?.bodyToString()).toBe('imported');
      await conn.close();
      // a definitions file with a missing vhost is refused with the reason
      const bad = join(dir, 'bad.json');
      writeFileSync(bad, JSON.stringify({ queues: [{ name: 'q', vhost: 'missing', durable: true, auto_delete: false, arguments: {} }] }));
      const r = await admin('import', bad);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/missing/);
    } finally {
      env = saved;
      await other.close();
    }
  });

  it('lists and closes connections; the AMQP client sees the close', async () => {
    const { client, conn } = await amqp(env);
    await conn.channel();
    const list: any[] = await until(() => json('list', 'connections'), (l: unknown[]) => l.length === 1);
    expect(list[0]).toMatchObject({ user: 'guest', channels: 1 });
    const channels = await json('list', 'channels');
    expect(channels).toHaveLength(1);
    const closed = new Promise<string>((resolve) => {
      client.onerror = (err) => resolve(err.message);
    });
    expect(await ok('close', 'connection', `name=${list[0].name}`)).toContain('connection closed');
    expect(await closed).toMatch(/CONNECTION_FORCED/);
    await until(() => json('list', 'connections'), (l: unknown[]) => l.length === 0);
    expect(await ok('list', 'connections')).toContain('No items');
  });

  it('seed (rabbitmqadmin list queues name policy): a queue without a policy has RabbitMQ 3.10\'s "policy": null, which rabbitmqadmin prints with -f kvp', async () => {
    await ok('declare', 'queue', 'name=no-policy-q', 'durable=false');
    // RabbitMQ 3.10.8 answers {"policy":null,"operator_policy":null,...} for such a queue, and its rabbitmqadmin's
    // table formatter cannot print the null (its own bug); kvp, long and the JSON formats can
    const q = (await json('list', 'queues')).find((x: { name: string }) => x.name === 'no-policy-q');
    expect(q).toMatchObject({ policy: null, operator_policy: null });
    expect(await ok('-f', 'kvp', 'list', 'queues', 'name', 'policy')).toContain('name="no-policy-q" policy="None"');
    await ok('delete', 'queue', 'name=no-policy-q');
  });

  it('seed (rabbitmqadmin list queues / list exchanges): lists come sorted by vhost and name, as RabbitMQ 3.10\'s management sorts them by default', async () => {
    await ok('declare', 'queue', 'name=zz-sorted', 'durable=false');
    await ok('declare', 'queue', 'name=aa-sorted', 'durable=false');
    const queues = await ok('list', 'queues', 'name');
    expect(queues.indexOf('aa-sorted')).toBeGreaterThan(0);
    expect(queues.indexOf('aa-sorted')).toBeLessThan(queues.indexOf('zz-sorted'));
    // the built-in exchanges of / (earlier tests made other vhosts) as RabbitMQ lists them (created amq.direct, amq.fanout, amq.topic, amq.headers, ...)
    const names = (await json('list', 'exchanges')).filter((x: { vhost: string }) => x.vhost === '/').map((x: { name: string }) => x.name).filter((n: string) => n === '' || n.startsWith('amq.'));
    expect(names).toEqual(['', 'amq.direct', 'amq.fanout', 'amq.headers', 'amq.match', 'amq.rabbitmq.trace', 'amq.topic']);
    // a sort asked for still wins
    const reversed = (await http(env, 'GET', '/api/queues?sort=name&sort_reverse=true')).json as { name: string }[];
    const r = reversed.map((x) => x.name);
    expect(r.indexOf('zz-sorted')).toBeLessThan(r.indexOf('aa-sorted'));
    await ok('delete', 'queue', 'name=zz-sorted');
    await ok('delete', 'queue', 'name=aa-sorted');
  });

  it('is refused with wrong credentials', async () => {
    const r = await rabbitmqadmin(script!, env, ['-u', 'guest', '-p', 'wrong', 'list', 'queues']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('Access refused');
  });
});
