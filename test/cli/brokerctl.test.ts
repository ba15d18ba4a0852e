// brokerctl against a real `broker` process: rabbitmqctl's command names and output shapes, the cookie-authenticated
// control channel, stop_app/start_app/reset, and the broker binary's config errors and graceful stop.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { connect, type Socket } from 'node:net';
import { AMQPClient } from '@cloudamqp/amqp-client';
import { BROKER_BIN, TestEnv, freePort, waitForPort, type BrokerProcess } from '../helpers/broker-process.ts';
import { COMMANDS } from '../../packages/broker/src/cli/commands.ts';

// each brokerctl run is a node process of its own: a few seconds apiece on a loaded machine
vi.setConfig({ testTimeout: 120_000 });

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
}, 90_000);
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

  it('seed (rabbitmqctl commands that take a while): a command running longer than 1.5 s gets its answer (await_startup until a start_app 3 s later)', async () => {
    expect((await ctl('stop_app')).code).toBe(0);
    const waiting = ctl('await_startup');
    await new Promise((r) => setTimeout(r, 3000));
    expect((await ctl('start_app')).code).toBe(0);
    const r = await waiting;
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    // without a node to wait for, await_startup gives up at brokerctl's --timeout, naming the stopped app
    expect((await ctl('stop_app')).code).toBe(0);
    const t = await ctl('-t', '3', 'await_startup');
    expect(t.code).toBe(69);
    expect(t.stderr).toContain('rabbit application is not running');
    expect((await ctl('start_app')).code).toBe(0);
  }, 120_000);

  it('seed (rabbitmqctl help): brokerctl --help lists every command; brokerctl help <command> describes it', async () => {
    const all = await env.ctl(['--help']);
    expect(all.code).toBe(0);
    for (const c of COMMANDS) expect(all.stdout).toMatch(new RegExp(`^   ${c} `, 'm'));
    for (const c of ['join_cluster', 'change_cluster_node_type', 'forget_cluster_node', 'force_boot', 'sync_queue', 'cancel_sync_queue']) expect(all.stdout).toContain(`   ${c} `);
    const one = await env.ctl(['help', 'join_cluster']);
    expect(one.code).toBe(0);
    expect(one.stdout).toContain('join_cluster [--disc|--ram] <existing_cluster_member>');
    expect(one.stdout).toContain('--ram');
    expect((await env.ctl(['join_cluster', '--help'])).stdout).toBe(one.stdout);
    const bad = await env.ctl(['help', 'frobnicate']);
    expect(bad.code).toBe(64);
    expect(bad.stderr).toContain("Command 'frobnicate' not found");
  });

  it('seed (rabbitmqctl help <command>): every command the seeds run has its help', async () => {
    const seeds = ['stop', 'stop_app', 'start_app', 'reset', 'join_cluster', 'cluster_status', 'list_queues', 'status', 'set_cluster_name', 'forget_cluster_node', 'force_boot', 'set_policy', 'add_user', 'set_user_tags', 'set_permissions'];
    for (const c of seeds) {
      // (one at a time: each is a node process of its own, slow to start on a loaded machine)
      const r = await env.ctl(['help', c], 60_000);
      expect(r.code, c).toBe(0);
      expect(r.stdout, c).toMatch(new RegExp(`^brokerctl .*\\b${c}\\b`, 'm'));
    }
  }, 600_000);

  it('seed (rabbitmqctl list_queues -p hrsystem): a vhost that does not exist lists nothing with exit 0, as rabbitmqctl 3.10; a user that does not exist exits 67', async () => {
    const q = await ctl('list_queues', '-p', 'hrsystem');
    expect(q.code).toBe(0);
    expect(q.stdout).toBe('Timeout: 60.0 seconds ...\nListing queues for vhost hrsystem ...\nname\tmessages\n');
    for (const cmd of ['list_exchanges', 'list_bindings', 'list_consumers']) {
      const r = await ctl('-q', cmd, '-p', 'hrsystem');
      expect(r.code, cmd).toBe(0);
      expect(r.stderr, cmd).toBe('');
    }
    // (list_permissions and list_policies do refuse it, with exit 65, as rabbitmqctl's)
    expect((await ctl('list_permissions', '-p', 'hrsystem')).code).toBe(65);
    for (const args of [['set_user_tags', 'nobody', 'administrator'], ['set_permissions', 'nobody', '.*', '.*', '.*'], ['delete_user', 'nobody'], ['change_password', 'nobody', 'x']]) {
      const r = await ctl(...args);
      expect(r.code, args[0]).toBe(67);
      expect(r.stderr, args[0]).toContain('User "nobody" does not exist');
    }
  });

  it('seed (rabbitmqctl forget_cluster_node on a node that is not clustered): refused with exit 69 saying the node is not in the cluster', async () => {
    const r = await ctl('forget_cluster_node', 'rabbit@hadoop101');
    expect(r.code).toBe(69);
    expect(r.stderr).toContain('The node selected is not in the cluster');
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

  it('seed (rabbitmq-server --help): --help describes every option on stdout with exit 0; an unknown flag is refused with exit 64', async () => {
    const h = await new Promise<{ code: number | null; stdout: string }>((res) => {
      const c = spawn(BROKER_BIN, ['--help'], { env: env.env, stdio: ['ignore', 'pipe', 'ignore'] });
      let stdout = '';
      c.stdout.on('data', (d: Buffer) => (stdout += d));
      c.once('exit', (code) => res({ code, stdout }));
    });
    expect(h.code).toBe(0);
    for (const o of ['-detached', '--config', '--port', '--host', '--data-dir', '--memory', '--node-name', '--dist-port', '--cookie-file', '--management-port', '--management-host', '--force-boot', '--quiet', '--help']) {
      expect(h.stdout).toContain(o);
    }
    const u = await run(['--frobnicate']);
    expect(u.code).toBe(64);
    expect(u.out).toContain("unknown option '--frobnicate'");
    const w = await run(['-detach']);
    expect(w.code).toBe(64);
    expect(w.out).toContain("unknown option '-detach'");
  });

  it('seed (rabbitmq-server -detached): -detached starts the node in the background and returns once it runs', async () => {
    const port = await freePort();
    const dir = join(env.dir, 'detached');
    const name = 'rabbit@detached';
    const r = await run(['-detached', '--port', String(port), '--data-dir', dir, '--node-name', name, '--dist-port', String(await freePort())]);
    try {
      expect(r.code).toBe(0);
      expect(r.out).toContain('started in the background');
      // it runs on the ports given, with the data directory given (not -d etached)
      const s = await env.ctl(['-n', name, 'status']);
      expect(s.code).toBe(0);
      expect(s.stdout).toContain(`Node data directory: ${dir}`);
      await waitForPort(port);
      expect(existsSync(join(dir, `${name}.log`))).toBe(true);
    } finally {
      await env.ctl(['-n', name, 'stop']);
    }
    // the seeds' rabbitmqctl stop, then rabbitmq-server -detached: stop returned once the node was gone, so the name
    // is free for the node started right after
    expect((await env.ctl(['-n', name, 'ping'])).code).toBe(69);
    const again = await run(['-detached', '--port', String(port), '--data-dir', dir, '--node-name', name, '--dist-port', String(await freePort())]);
    expect(again.out).toContain('started in the background');
    expect((await env.ctl(['-n', name, 'stop'])).code).toBe(0);
  }, 120_000);

  it('seed (one rabbit@host per name, as epmd): a second broker with a running node\'s name is refused and leaves the node reachable', async () => {
    const r = await run(['--memory', '--port', String(await freePort()), '--dist-port', String(await freePort()), '--node-name', NODE]);
    expect(r.code).toBe(1);
    expect(r.out).toContain(`node with name "${NODE}" is already running on this host`);
    // the real node's registration is intact: brokerctl finds it by name
    const s = await ctl('status');
    expect(s.code).toBe(0);
    expect(s.stdout).toContain(`Node name: ${NODE}`);
  });

  it('seed (rabbitmq-plugins enable rabbitmq_management): broker-plugins enables the management plugin, which the node runs on 15672 at its next start', async () => {
    const plugins = (...args: string[]): Promise<{ code: number | null; out: string }> =>
      new Promise((res) => {
        const c = spawn(join(BROKER_BIN, '..', 'broker-plugins'), args, { env: env.env, stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        c.stdout.on('data', (d: Buffer) => (out += d));
        c.stderr.on('data', (d: Buffer) => (out += d));
        c.once('exit', (code) => res({ code, out }));
      });
    const dir = join(env.dir, 'plugins-node');
    const e = await plugins('--data-dir', dir, 'enable', 'rabbitmq_management');
    expect(e.code).toBe(0);
    expect(e.out).toContain('The following plugins have been enabled:\n  rabbitmq_management');
    expect(readFileSync(join(dir, 'enabled_plugins'), 'utf8')).toBe('[rabbitmq_management].\n');
    expect((await plugins('--data-dir', dir, 'list')).out).toMatch(/^\[E \] rabbitmq_management +3\.10/m);
    const bad = await plugins('--data-dir', dir, 'enable', 'rabbitmq_shovel_nonesuch');
    expect(bad.code).toBe(65);
    expect(bad.out).toContain('plugins_not_found');
    // the node starts the management listener on RabbitMQ's port (when this host has it free)
    const free = await new Promise<boolean>((res) => {
      const srv = createServer();
      srv.once('error', () => res(false));
      srv.listen(15672, '0.0.0.0', () => srv.close(() => res(true)));
    });
    if (free) {
      const port = await freePort();
      const child = spawn(BROKER_BIN, ['--port', String(port), '--data-dir', dir, '--node-name', 'rabbit@plugins', '--dist-port', String(await freePort())], { env: env.env, stdio: 'ignore' });
      try {
        await waitForPort(15672, 20_000);
        const auth = `Basic ${Buffer.from('guest:guest').toString('base64')}`;
        expect(((await (await fetch('http://127.0.0.1:15672/api/overview', { headers: { authorization: auth } })).json()) as { node: string }).node).toBe('rabbit@plugins');
      } finally {
        child.kill('SIGKILL');
      }
    }
    const d = await plugins('--data-dir', dir, 'disable', 'rabbitmq_management');
    expect(d.code).toBe(0);
    expect(readFileSync(join(dir, 'enabled_plugins'), 'utf8')).toBe('[].\n');
  }, 120_000);

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
