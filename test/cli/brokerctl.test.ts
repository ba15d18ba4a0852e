// brokerctl against a real `broker` process: rabbitmqctl's command names and output shapes, the cookie-authenticated
// control channel, stop_app/start_app/reset, and the broker binary's config errors and graceful stop.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, type Socket } from 'node:net';
import { AMQPClient } from '@cloudamqp/amqp-client';
import { BROKER_BIN, TestEnv, freePort, waitForPort, type BrokerProcess } from '../helpers/broker-process.ts';

let env: TestEnv;
let node: BrokerProcess;
let url: string;
let distPort: number;
const NODE = 'rabbit@ctltest';
const ctl = (...args: string[]) => env.ctl(['-n', NODE, ...args]);

beforeAll(async () => {
  env = new TestEnv();
  const port = await freePort();
  distPort = await freePort();
  node = await env.startBroker(['--data-dir', join(env.dir, 'data'), '--node-name', NODE, '--dist-port', String(distPort)], port);
  url = `amqp://guest:guest@127.0.0.1:${port}`;
}, 30_000);
afterAll(async () => {
  await env.cleanup();
});

describe('brokerctl', () => {
  it('answers while a stranger holds 300 idle connections to the distribution port', async () => {
    const sockets = new Set<Socket>();
    let stop = false;
    const open = (): void => {
      if (stop) return;
      const s = connect(distPort, '127.0.0.1');
      sockets.add(s);
      s.on('error', () => {});
      // reopened a little later: held for good, without a connection storm that would only measure the CPU
      s.on('close', () => {
        sockets.delete(s);
        setTimeout(open, 500);
      });
    };
    try {
      for (let i = 0; i < 300; i++) open();
      await new Promise((r) => setTimeout(r, 500));
      for (let i = 0; i < 3; i++) {
        const r = await ctl('-q', 'list_vhosts');
        expect(r.stderr).toBe('');
        expect(r.code).toBe(0);
      }
    } finally {
      stop = true;
      for (const s of sockets) s.destroy();
    }
  }, 90_000);

  it('manages users, vhosts and permissions with rabbitmqctl output', async () => {
    expect((await ctl('add_user', 'alice', 's3cret')).stdout).toBe('Adding user "alice" ...\n');
    expect((await ctl('add_vhost', 'prod')).stdout).toBe('Adding vhost "prod" ...\n');
    expect((await ctl('set_permissions', '-p', 'prod', 'alice', '^alice-.*', '.*', '.*')).code).toBe(0);
    expect((await ctl('set_user_tags', 'alice', 'monitoring')).code).toBe(0);
    const users = await ctl('list_users');
    expect(users.stdout).toBe('Listing users ...\nuser\ttags\nguest\t[administrator]\nalice\t[monitoring]\n');
    expect((await ctl('-q', 'list_permissions', '-p', 'prod')).stdout).toBe('user\tconfigure\twrite\tread\nalice\t^alice-.*\t.*\t.*\n');
    expect((await ctl('-q', 'list_vhosts')).stdout).toBe('name\n/\nprod\n');
    // the new user can log in to the vhost and is held to its configure regex
    const conn = await new AMQPClient(`${url}/prod`.replace('guest:guest', 'alice:s3cret')).connect();
    const ch = await conn.channel();
    await ch.queueDeclare('alice-q');
    await expect(ch.queueDeclare('other-q')).rejects.toThrow(/ACCESS_REFUSED/);
    await conn.close().catch(() => {});
    const dup = await ctl('add_user', 'alice', 'x');
    expect(dup.code).toBe(65);
    expect(dup.stderr).toContain('User "alice" already exists');
  });

  it('sets, lists and clears policies that queues pick up', async () => {
    const set = await ctl('set_policy', 'ha-all', '^ha\\.', '{"ha-mode":"all","ha-sync-mode":"automatic"}');
    expect(set.code).toBe(0);
    expect(set.stdout).toContain('Setting policy "ha-all" for pattern "^ha\\." to "{"ha-mode":"all","ha-sync-mode":"automatic"}" with priority "0" for vhost "/" ...');
    const conn = await new AMQPClient(url).connect();
    const ch = await conn.channel();
    await ch.queueDeclare('ha.orders', { durable: true });
    await ch.basicPublish('', 'ha.orders', 'x');
    const q = await ctl('-q', 'list_queues', 'name', 'policy', 'messages', 'durable');
    expect(q.stdout).toContain('name\tpolicy\tmessages\tdurable\nha.orders\tha-all\t1\ttrue\n');
    const json = JSON.parse((await ctl('list_queues', '--formatter', 'json')).stdout) as { name: string; messages: number }[];
    expect(json).toContainEqual({ name: 'ha.orders', messages: 1 });
    const bad = await ctl('set_policy', 'bad', '.*', '{"ha-mode":"sometimes"}');
    expect(bad.code).toBe(65);
    expect(bad.stderr).toContain('ha-mode must be all, exactly or nodes');
    expect((await ctl('-q', 'list_policies')).stdout).toContain('/\tha-all\t^ha\\.\tall\t{"ha-mode":"all","ha-sync-mode":"automatic"}\t0');
    expect((await ctl('clear_policy', 'ha-all')).code).toBe(0);
    expect((await ctl('-q', 'list_queues', 'name', 'policy')).stdout).toContain('ha.orders\t\n');
    expect((await ctl('purge_queue', 'ha.orders')).code).toBe(0);
    expect((await ctl('-q', 'list_queues', 'name', 'messages')).stdout).toContain('ha.orders\t0');
    await conn.close();
  });

  it('lists connections, channels, consumers, exchanges and bindings', async () => {
    const conn = await new AMQPClient(url).connect();
    const ch = await conn.channel();
    await ch.exchangeDeclare('orders-x', 'topic', { durable: true });
    await ch.queueDeclare('orders', { durable: true });
    await ch.queueBind('orders', 'orders-x', 'order.*');
    await ch.basicConsume('orders', { tag: 'c1', noAck: false }, () => {});
    expect((await ctl('-q', 'list_connections', 'user', 'state', 'channels')).stdout).toContain('guest\trunning\t1');
    expect((await ctl('-q', 'list_channels', 'user', 'consumer_count')).stdout).toContain('guest\t1');
    expect((await ctl('-q', 'list_consumers', 'queue_name', 'consumer_tag', 'ack_required')).stdout).toContain('orders\tc1\ttrue');
    expect((await ctl('-q', 'list_exchanges', 'name', 'type')).stdout).toContain('orders-x\ttopic');
    expect((await ctl('-q', 'list_bindings', 'source_name', 'destination_name', 'routing_key')).stdout).toContain('orders-x\torders\torder.*');
    await conn.close();
  });

  it('refuses a control connection with the wrong cookie (and never needs the cookie on the wire)', async () => {
    const other = join(env.dir, 'wrong-cookie');
    writeFileSync(other, 'NOTTHERIGHTCOOKIE');
    chmodSync(other, 0o600);
    const r = await env.ctl(['-n', NODE, '--cookie-file', other, 'status']);
    expect(r.code).toBe(69);
    expect(r.stderr).toMatch(/cookie/i);
    // the node says why it refused, naming the peer
    await new Promise((res) => setTimeout(res, 200));
    expect(node.output()).toMatch(/cookie mismatch/);
  });

  it('stop_app closes AMQP, reset needs a stopped app, start_app recovers durable state', async () => {
    const conn = await new AMQPClient(url).connect();
    const ch = await conn.channel();
    await ch.queueDeclare('keep-me', { durable: true });
    await ch.confirmSelect();
    await ch.basicPublish('', 'keep-me', 'persisted', { deliveryMode: 2 });
    const refused = await ctl('reset');
    expect(refused.code).toBe(69);
    expect(refused.stderr).toContain('stop_app');
    expect((await ctl('stop_app')).stdout).toBe(`Stopping rabbit application on node ${NODE} ...\n`);
    await expect(new AMQPClient(url).connect()).rejects.toThrow();
    expect((await ctl('start_app')).code).toBe(0);
    await waitForPort(node.port);
    const conn2 = await new AMQPClient(url).connect();
    const ch2 = await conn2.channel();
    expect((await ch2.basicGet('keep-me', { noAck: true }))?.bodyString()).toBe('persisted');
    await conn2.close();
    expect((await ctl('stop_app')).code).toBe(0);
    expect((await ctl('reset')).stdout).toBe(`Resetting node ${NODE} ...\n`);
    expect((await ctl('start_app')).code).toBe(0);
    const users = await ctl('-q', 'list_users');
    expect(users.stdout).toBe('user\ttags\nguest\t[administrator]\n');
    expect((await ctl('-q', 'list_queues')).stdout).toBe('name\tmessages\n');
  });

  it('answers an unknown command with a usage error', async () => {
    const r = await ctl('frobnicate');
    expect(r.code).toBe(64);
    expect(r.stderr).toContain("Command 'frobnicate' not found");
  });
});

describe('broker binary', () => {
  function run(args: string[]): Promise<{ code: number | null; out: string }> {
    return new Promise((res) => {
      const c = spawn(BROKER_BIN, args, { env: env.env, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      c.stdout.on('data', (d: Buffer) => (out += d));
      c.stderr.on('data', (d: Buffer) => (out += d));
      const t = setTimeout(() => c.kill('SIGKILL'), 15_000);
      c.once('exit', (code) => {
        clearTimeout(t);
        res({ code, out });
      });
    });
  }

  it('names the file, line and key of a bad config entry', async () => {
    const cfg = join(env.dir, 'rabbitmq.conf');
    writeFileSync(cfg, '# test\nlisteners.tcp.default = 5673\nheartbeat = often\n');
    const r = await run(['--config', cfg]);
    expect(r.code).toBe(78);
    expect(r.out).toContain(`${cfg}:3: heartbeat: expected an integer, got 'often'`);
    writeFileSync(cfg, 'no_such_key = 1\n');
    expect((await run(['--config', cfg])).out).toContain(`${cfg}:1: unknown key 'no_such_key'`);
    writeFileSync(cfg, 'collect_statistics_interval = 10\n');
    expect((await run(['--config', cfg])).out).toContain(`${cfg}:1: collect_statistics_interval: must be between 100 and 3600000, got 10`);
  });

  it('applies rabbitmq.conf keys and stops gracefully on SIGTERM', async () => {
    const port = await freePort();
    const cfg = join(env.dir, 'ok.conf');
    writeFileSync(cfg, `listeners.tcp.default = ${port}\ndefault_user = admin\ndefault_pass = pw\nloopback_users = none\n`);
    const child = spawn(BROKER_BIN, ['--config', cfg, '--memory', '--node-name', 'rabbit@conftest', '--dist-port', String(await freePort())], { env: env.env, stdio: 'ignore' });
    try {
      await waitForPort(port);
      const conn = await new AMQPClient(`amqp://admin:pw@127.0.0.1:${port}`).connect();
      const closed = new Promise<string>((res) => (conn.onerror = (e) => res(String(e.message))));
      const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(await closed).toMatch(/CONNECTION_FORCED|320|closed/i);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('serves the management API when --management-port is given, with the broker\'s users', async () => {
    const port = await freePort();
    const mport = await freePort();
    const child = spawn(BROKER_BIN, ['--port', String(port), '--memory', '--node-name', 'rabbit@mgmt', '--dist-port', String(await freePort()), '--management-port', String(mport)], { env: env.env, stdio: 'ignore' });
    try {
      await waitForPort(mport);
      const auth = `Basic ${Buffer.from('guest:guest').toString('base64')}`;
      const r = await fetch(`http://127.0.0.1:${mport}/api/overview`, { headers: { authorization: auth } });
      expect(r.status).toBe(200);
      expect(((await r.json()) as { node: string }).node).toBe('rabbit@mgmt');
      expect((await fetch(`http://127.0.0.1:${mport}/api/overview`)).status).toBe(401);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
