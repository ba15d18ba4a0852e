// The seeds' cluster procedure, command for command, on real broker processes over loopback:
//   brokerctl stop_app; brokerctl join_cluster --ram rabbit@node1; brokerctl start_app; brokerctl cluster_status
// then what the seeds describe of a running cluster: metadata on every node, classic queues on one node reachable
// from all, ram nodes getting their metadata back after a restart, and no metadata changes without a disc node.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { AMQPClient } from '@cloudamqp/amqp-client';
import { TestEnv, freePort, kill9, type BrokerProcess } from '../helpers/broker-process.ts';
import { pidNodes, pidPattern, pidsIn } from '../helpers/pids.ts';

let env: TestEnv;
const nodes: { name: string; port: number; dist: number; mgmt: number; args: string[]; proc: BrokerProcess | null }[] = [];
const ctl = (n: number, ...args: string[]) => env.ctl(['-n', nodes[n]!.name, ...args], 40_000);
const url = (n: number) => `amqp://guest:guest@127.0.0.1:${nodes[n]!.port}`;
const MGMT_HEADERS = { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}`, 'content-type': 'application/json' };
/** A management API call to node n. */
const mgmt = (n: number, method: string, path: string, body?: unknown): Promise<Response> =>
  fetch(`http://127.0.0.1:${nodes[n]!.mgmt}/api/${path}`, { method, headers: MGMT_HEADERS, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });

async function start(n: number): Promise<void> {
  const node = nodes[n]!;
  node.proc = await env.startBroker(node.args, node.port);
}

beforeAll(async () => {
  env = new TestEnv();
  // rates sampled every 200 ms instead of RabbitMQ's 5 s, so a test sees them soon
  const conf = join(env.dir, 'rabbitmq.conf');
  writeFileSync(conf, 'collect_statistics_interval = 200\n');
  for (let i = 1; i <= 3; i++) {
    const port = await freePort();
    const dist = await freePort();
    const mgmt = await freePort();
    const name = `rabbit@seednode${i}`;
    const args = ['--data-dir', join(env.dir, `node${i}`), '--node-name', name, '--dist-port', String(dist), '--management-port', String(mgmt), '--management-host', '127.0.0.1', '--config', conf, '--quiet'];
    nodes.push({ name, port, dist, mgmt, args, proc: null });
  }
  await Promise.all([start(0), start(1), start(2)]);
}, 60_000);

afterAll(async () => {
  await env.cleanup();
});

describe('cluster (seed procedure)', () => {
  it('seed: stop_app, join_cluster --ram rabbit@node1, start_app on the two others forms one cluster of 1 disc + 2 ram nodes', async () => {
    expect((await ctl(0, 'add_user', 'seeduser', 'pw')).code).toBe(0);
    for (const n of [1, 2]) {
      expect((await ctl(n, 'stop_app')).code).toBe(0);
      const j = await ctl(n, 'join_cluster', '--ram', nodes[0]!.name);
      expect(j.stderr).toBe('');
      expect(j.stdout).toBe(`Clustering node ${nodes[n]!.name} with ${nodes[0]!.name}\n`);
      expect((await ctl(n, 'start_app')).code).toBe(0);
    }
    for (const n of [0, 1, 2]) {
      const s = JSON.parse((await ctl(n, 'cluster_status', '--formatter', 'json')).stdout) as { disk_nodes: string[]; ram_nodes: string[]; running_nodes: string[] };
      expect(s.disk_nodes).toEqual([nodes[0]!.name]);
      expect([...s.ram_nodes].sort()).toEqual([nodes[1]!.name, nodes[2]!.name]);
      expect([...s.running_nodes].sort()).toEqual(nodes.map((x) => x.name).sort());
    }
    const text = (await ctl(1, 'cluster_status')).stdout;
    expect(text).toContain(`Disk Nodes\n\n${nodes[0]!.name}\n`);
    expect(text).toContain('RAM Nodes');
    // the versions and listeners of every running node, as rabbitmqctl cluster_status lists them
    for (const x of nodes) {
      expect(text).toMatch(new RegExp(`^${x.name}: RabbitMQ 3\\.10`, 'm'));
      expect(text).toContain(`Node: ${x.name}, interface: [::], port: ${x.port}, protocol: amqp`);
      expect(text).toContain(`Node: ${x.name}, interface: [::], port: ${x.dist}, protocol: clustering`);
      expect(text).toContain(`Node: ${x.name}, interface: 127.0.0.1, port: ${x.mgmt}, protocol: http`);
    }
  }, 120_000);

  it('seed (rabbitmqctl list_connections ... node): list_connections takes the node column, naming each connection\'s node', async () => {
    const conns = await Promise.all([1, 2].map((n) => new AMQPClient(url(n)).connect()));
    try {
      const r = await ctl(0, '-q', 'list_connections', 'user', 'node');
      expect(r.stderr).toBe('');
      const rows = r.stdout.trim().split('\n').slice(1).map((l) => l.split('\t'));
      expect(rows.map((x) => x[1]).sort()).toEqual([nodes[1]!.name, nodes[2]!.name]);
    } finally {
      for (const c of conns) await c.close();
    }
  }, 60_000);

  it('seed: metadata is the same on every node (users, vhosts, policies, queues)', async () => {
    // the user added on node1 before the others joined came to them with the cluster's metadata
    expect((await ctl(2, '-q', 'list_users')).stdout).toContain('seeduser');
    expect((await ctl(1, 'add_vhost', 'hrsystem')).code).toBe(0);
    expect((await ctl(2, 'set_policy', 'ha-all', '^ha\\.', '{"ha-mode":"all"}')).code).toBe(0);
    for (const n of [0, 1, 2]) {
      expect((await ctl(n, '-q', 'list_vhosts')).stdout).toContain('hrsystem');
      expect((await ctl(n, '-q', 'list_policies')).stdout).toContain('ha-all');
    }
  }, 60_000);

  it('seed: a classic queue lives on the node that declared it and is reachable from all nodes', async () => {
    const c2 = await new AMQPClient(url(1)).connect();
    const ch2 = await c2.channel();
    await ch2.queueDeclare('orders', { durable: true });
    for (const n of [0, 2]) expect((await ctl(n, '-q', 'list_queues', 'name', 'node')).stdout).toContain(`orders\t${nodes[1]!.name}`);
    // publish through node1 and node3 (with confirms: they wait for node2 to have the message)
    for (const n of [0, 2]) {
      const c = await new AMQPClient(url(n)).connect();
      const ch = await c.channel();
      await ch.confirmSelect();
      await ch.basicPublish('', 'orders', `via-${n}`, { deliveryMode: 2 });
      await c.close();
    }
    expect((await ctl(1, '-q', 'list_queues', 'name', 'messages')).stdout).toContain('orders\t2');
    // every node lists the master's figures, and the master's pid, in RabbitMQ's form and the same on every node
    const pidOn = async (n: number, q: string): Promise<string> =>
      ((await ctl(n, '-q', 'list_queues', 'name', 'pid')).stdout.split('\n').find((l) => l.startsWith(`${q}\t`)) ?? '').split('\t')[1] ?? '';
    const ordersPid = await pidOn(1, 'orders');
    expect(ordersPid).toMatch(pidPattern(nodes[1]!.name));
    for (const n of [0, 2]) {
      const out = (await ctl(n, '-q', 'list_queues', 'name', 'messages', 'messages_ready', 'consumers', 'state', 'pid')).stdout;
      expect(out).toContain(`orders\t2\t2\t0\trunning\t${ordersPid}`);
      // and so does the management API
      const res = await mgmt(n, 'GET', 'queues/%2F/orders');
      expect(await res.json()).toMatchObject({ name: 'orders', node: nodes[1]!.name, state: 'running', messages: 2, messages_ready: 2, messages_unacknowledged: 0 });
    }
    // another queue's process has another pid (RabbitMQ: one Erlang process per queue)
    await ch2.queueDeclare('orders.other', { durable: false });
    const otherPid = await pidOn(1, 'orders.other');
    expect(otherPid).toMatch(pidPattern(nodes[1]!.name));
    expect(otherPid).not.toBe(ordersPid);
    await ch2.queueDelete('orders.other');
    // consume through node1: deliveries come over the peer link, acks go back
    const c1 = await new AMQPClient(url(0)).connect();
    const ch1 = await c1.channel();
    await ch1.basicQos(1);
    const got: string[] = [];
    await new Promise<void>((resolve) => {
      void ch1.basicConsume('orders', { noAck: false }, (m) => {
        got.push(m.bodyToString() ?? '');
        void m.ack();
        if (got.length === 2) resolve();
      });
    });
    expect(got.sort()).toEqual(['via-0', 'via-2']);
    await new Promise((r) => setTimeout(r, 300));
    expect((await ctl(1, '-q', 'list_queues', 'name', 'messages_ready', 'messages_unacknowledged')).stdout).toContain('orders\t0\t0');
    await c1.close();
    await c2.close();
  }, 60_000);

  it('the management API of every node shows the master\'s message counters and rates for a queue on another node', async () => {
    const api = async (n: number, path: string): Promise<Record<string, any>> => (await (await mgmt(n, 'GET', path)).json()) as Record<string, any>;
    const c2 = await new AMQPClient(url(1)).connect();
    const ch2 = await c2.channel();
    await ch2.queueDeclare('rated', { durable: false });
    // a steady publisher through node1 to the queue on node2
    const c1 = await new AMQPClient(url(0)).connect();
    const ch1 = await c1.channel();
    await ch1.confirmSelect();
    let published = 0;
    let stop = false;
    const publishing = (async () => {
      while (!stop) {
        await ch1.basicPublish('', 'rated', 'x');
        published++;
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    try {
      // node3 masters nothing: what it shows is what node2 counted and sampled
      let seen: Record<string, any> = {};
      const deadline = Date.now() + 15_000;
      while (Date.now() < deadline) {
        seen = await api(2, 'queues/%2F/rated');
        if ((seen['message_stats']?.publish_details?.rate ?? 0) > 0 && (seen['messages_details']?.rate ?? 0) > 0) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(seen['node']).toBe(nodes[1]!.name);
      expect(seen['message_stats']?.publish_details?.rate).toBeGreaterThan(0);
      expect(seen['messages_details']?.rate).toBeGreaterThan(0);
      // the overview adds it to node3's own (no queue there, so nothing of its own)
      expect((await api(2, 'overview'))['message_stats']?.publish).toBeGreaterThan(0);
    } finally {
      stop = true;
      await publishing;
    }
    // counters are exact: every confirmed publish, then every delivery and ack through node1
    const q = await api(2, 'queues/%2F/rated');
    expect(q['message_stats']).toMatchObject({ publish: published, deliver_get: 0, ack: 0 });
    await ch1.basicQos(1000);
    let got = 0;
    await new Promise<void>((resolve) => {
      void ch1.basicConsume('rated', { noAck: false }, (m) => {
        void m.ack();
        if (++got === published) resolve();
      });
    });
    const settled = async (): Promise<boolean> => {
      const s = (await api(2, 'queues/%2F/rated'))['message_stats'];
      return s?.deliver_get === published && s?.ack === published;
    };
    const deadline = Date.now() + 10_000;
    while (!(await settled()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect((await api(0, 'queues/%2F/rated'))['message_stats']).toMatchObject({ publish: published, deliver_get: published, ack: published });
    await ch2.queueDelete('rated');
    await c1.close();
    await c2.close();
  }, 60_000);

  it('/metrics: each node reports the queues it masters, so a cluster\'s scrapes count every queue once', async () => {
    const metrics = async (n: number): Promise<string> => (await (await fetch(`http://127.0.0.1:${nodes[n]!.mgmt}/metrics`)).text());
    // 'orders' lives on node2 with 0 messages after the test above
    const line = /^rabbitmq_queue_messages\{vhost="\/",queue="orders"\} /m;
    expect(await metrics(1)).toMatch(line);
    for (const n of [0, 2]) expect(await metrics(n)).not.toMatch(line);
    const queues = async (n: number): Promise<number> => Number(/^rabbitmq_queues (\d+)/m.exec(await metrics(n))?.[1]);
    const total = (await queues(0)) + (await queues(1)) + (await queues(2));
    expect(total).toBe(((await (await mgmt(0, 'GET', 'queues')).json()) as unknown[]).length);
  });

  it('a queue on another node: passive declare, purge, delete if-empty and the management API\'s get and purge act on its master', async () => {
    const onMaster = async (): Promise<string> => (await ctl(1, '-q', 'list_queues', 'name', 'messages')).stdout;
    const c2 = await new AMQPClient(url(1)).connect();
    const ch2 = await c2.channel();
    await ch2.queueDeclare('far', { durable: true });
    const c1 = await new AMQPClient(url(0)).connect();
    let ch1 = await c1.channel();
    await ch1.confirmSelect();
    const publish = async (n: number): Promise<void> => {
      for (let i = 0; i < n; i++) await ch1.basicPublish('', 'far', `m${i}`, { deliveryMode: 2 });
    };
    await publish(5);
    // through node1, which masters nothing: the master's depth, as clients read it
    expect(await ch1.queueDeclare('far', { passive: true })).toMatchObject({ messageCount: 5, consumerCount: 0 });
    // delete if-empty is refused (406), and the queue and its messages stay
    await expect(ch1.queueDelete('far', { ifEmpty: true })).rejects.toThrow(/PRECONDITION_FAILED.*not empty/);
    expect(await onMaster()).toContain('far\t5');
    const del = await ctl(0, 'delete_queue', '--if-empty', 'far');
    expect(del.code).toBe(65);
    expect(del.stderr).toContain('is not empty');
    // the management API of node3: get with requeue leaves them, without takes them
    const peek = await mgmt(2, 'POST', 'queues/%2F/far/get', { count: 2, ackmode: 'ack_requeue_true', encoding: 'auto' });
    expect(peek.status).toBe(200);
    expect(((await peek.json()) as { payload: string }[]).map((m) => m.payload)).toEqual(['m0', 'm1']);
    expect(await onMaster()).toContain('far\t5');
    const take = await mgmt(2, 'POST', 'queues/%2F/far/get', { count: 1, ackmode: 'ack_requeue_false', encoding: 'auto' });
    expect(((await take.json()) as { payload: string; redelivered: boolean }[])[0]).toMatchObject({ payload: 'm0', redelivered: true });
    expect(await onMaster()).toContain('far\t4');
    // purge through node1 over AMQP, through node3's API, and with brokerctl on node1
    ch1 = await c1.channel();
    await ch1.confirmSelect();
    expect(await ch1.queuePurge('far')).toMatchObject({ messageCount: 4 });
    expect(await onMaster()).toContain('far\t0');
    await publish(2);
    expect((await mgmt(2, 'DELETE', 'queues/%2F/far/contents')).status).toBe(204);
    expect(await onMaster()).toContain('far\t0');
    await publish(1);
    expect((await ctl(0, 'purge_queue', 'far')).code).toBe(0);
    expect(await onMaster()).toContain('far\t0');
    // empty now: delete if-empty through node1 goes ahead
    await ch1.queueDelete('far', { ifEmpty: true });
    expect(await onMaster()).not.toContain('far');
    await c1.close();
    await c2.close();
  }, 60_000);

  it('the management API\'s sync action synchronises the mirrors of a queue mastered on another node (ha-sync-mode manual)', async () => {
    type Mirrors = { slave_nodes?: string[]; synchronised_slave_nodes?: string[] };
    const queue = async (n: number): Promise<Mirrors> => (await (await mgmt(n, 'GET', 'queues/%2F/hs.backlog')).json()) as Mirrors;
    const until = async (n: number, ok: (q: Mirrors) => boolean, tries = 60): Promise<Mirrors> => {
      let q = await queue(n);
      for (let i = 0; i < tries && !ok(q); i++) {
        await new Promise((r) => setTimeout(r, 250));
        q = await queue(n);
      }
      return q;
    };
    const c = await new AMQPClient(url(1)).connect();
    const ch = await c.channel();
    await ch.queueDeclare('hs.backlog', { durable: true });
    await ch.confirmSelect();
    for (let i = 0; i < 20; i++) await ch.basicPublish('', 'hs.backlog', `old${i}`, { deliveryMode: 2 });
    expect((await ctl(0, 'set_policy', 'ha-manual', '^hs\\.', '{"ha-mode":"all","ha-sync-mode":"manual"}')).code).toBe(0);
    // the new mirrors lack the 20 older messages: unsynchronised
    // (as the master, node2, has them: other nodes show the mirrors the policy asks for before the master adds them)
    const before = await until(1, (q) => (q.slave_nodes ?? []).length === 2);
    expect(before.slave_nodes?.sort()).toEqual([nodes[0]!.name, nodes[2]!.name].sort());
    expect(before.synchronised_slave_nodes).toEqual([]);
    // through node1's API (node2 masters the queue); asked again while a mirror the master has just added is not yet
    // streaming (a sync covers the mirrors streaming at the time)
    let after: Mirrors = {};
    for (let i = 0; i < 10 && (after.synchronised_slave_nodes ?? []).length < 2; i++) {
      const r = await mgmt(0, 'POST', 'queues/%2F/hs.backlog/actions', { action: 'sync' });
      expect(r.status).toBe(204);
      after = await until(0, (q) => (q.synchronised_slave_nodes ?? []).length === 2, 8);
    }
    expect(after.synchronised_slave_nodes?.sort()).toEqual([nodes[0]!.name, nodes[2]!.name].sort());
    await ch.queueDelete('hs.backlog');
    expect((await ctl(0, 'clear_policy', 'ha-manual')).code).toBe(0);
    await c.close();
  }, 60_000);

  it('exclusive, auto-delete and x-expires queues leave every node together, as their master decides', async () => {
    // (each node's own metadata: its API lists every queue it knows of)
    const names = async (n: number): Promise<string[]> => ((await (await mgmt(n, 'GET', 'queues/%2F')).json()) as { name: string }[]).map((q) => q.name);
    const everywhere = async (check: (list: string[]) => boolean): Promise<boolean> => {
      for (let i = 0; i < 40; i++) {
        const lists = await Promise.all([0, 1, 2].map(names));
        if (lists.every(check)) return true;
        await new Promise((r) => setTimeout(r, 250));
      }
      return false;
    };
    const c = await new AMQPClient(url(1)).connect();
    const ch = await c.channel();
    await ch.queueDeclare('gone.excl', { exclusive: true });
    await ch.queueDeclare('gone.ad', { autoDelete: true, durable: false });
    await ch.queueDeclare('gone.exp', { durable: true }, { 'x-expires': 1000 });
    await ch.queueDeclare('kept.exp', { durable: true }, { 'x-expires': 1000 });
    const ad = await ch.basicConsume('gone.ad', { noAck: true }, () => {});
    await ch.basicConsume('kept.exp', { noAck: true }, () => {});
    expect(await everywhere((l) => ['gone.excl', 'gone.ad', 'kept.exp'].every((q) => l.includes(q)))).toBe(true);
    // unused for its x-expires: gone from every node; in use on its master (a consumer there): kept on every node,
    // whatever the other nodes' own (consumer-less) copies see
    expect(await everywhere((l) => !l.includes('gone.exp'))).toBe(true);
    await new Promise((r) => setTimeout(r, 1500));
    expect(await everywhere((l) => l.includes('kept.exp'))).toBe(true);
    // the last consumer of an auto-delete queue, and the owner of an exclusive one, go: so do the queues, everywhere
    await ad.cancel();
    expect(await everywhere((l) => !l.includes('gone.ad'))).toBe(true);
    await c.close();
    expect(await everywhere((l) => !l.includes('gone.excl'))).toBe(true);
    // and with its consumer gone, kept.exp expires too
    expect(await everywhere((l) => !l.includes('kept.exp'))).toBe(true);
    // a redeclare through another node is a use of the queue too (its master's timer starts over)
    // (holding a message: a queue that expired and was declared anew would be empty)
    const c1 = await new AMQPClient(url(1)).connect();
    const ch1 = await c1.channel();
    await ch1.queueDeclare('kept.redeclared', { durable: true }, { 'x-expires': 1500 });
    await ch1.confirmSelect();
    await ch1.basicPublish('', 'kept.redeclared', 'still here');
    await c1.close();
    const c0 = await new AMQPClient(url(0)).connect();
    const ch0 = await c0.channel();
    let ok = { messageCount: 0 };
    for (let i = 0; i < 6; i++) {
      await new Promise((r) => setTimeout(r, 500));
      ok = await ch0.queueDeclare('kept.redeclared', { durable: true }, { 'x-expires': 1500 });
    }
    expect(ok.messageCount).toBe(1);
    await c0.close();
    expect(await everywhere((l) => !l.includes('kept.redeclared'))).toBe(true);
  }, 60_000);

  it('a publish through another node is confirmed by the queue node, and nacked when that queue refuses it (overflow reject-publish)', async () => {
    const c2 = await new AMQPClient(url(1)).connect();
    const ch2 = await c2.channel();
    await ch2.queueDeclare('bounded', { durable: true }, { 'x-max-length': 1, 'x-overflow': 'reject-publish' });
    const c = await new AMQPClient(url(0)).connect();
    const ch = await c.channel();
    await ch.confirmSelect();
    await ch.basicPublish('', 'bounded', 'fits', { deliveryMode: 2 });
    await expect(ch.basicPublish('', 'bounded', 'refused', { deliveryMode: 2 })).rejects.toThrow('Message rejected');
    // the channel goes on: once there is room again, a publish is confirmed
    await ch2.queuePurge('bounded');
    await ch.basicPublish('', 'bounded', 'after-purge', { deliveryMode: 2 });
    expect((await ch2.basicGet('bounded', { noAck: true }))?.bodyToString()).toBe('after-purge');
    await ch2.queueDelete('bounded');
    await c.close();
    await c2.close();
  }, 60_000);

  it('brokerctl and the management API list the connections, channels and consumers of every node, and close a connection on another node', async () => {
    const c2 = await new AMQPClient(url(1)).connect();
    const c3 = await new AMQPClient(url(2)).connect();
    c3.onerror = () => undefined;
    try {
      const ch2 = await c2.channel();
      await ch2.queueDeclare('listing', { durable: false });
      await ch2.basicConsume('listing', { tag: 'on-master', noAck: false }, () => undefined);
      // (node 3 applies the declaration from the metadata log a moment later)
      for (let i = 0; i < 100 && !(await ctl(2, '-q', 'list_queues', 'name')).stdout.includes('listing'); i++) await new Promise((r) => setTimeout(r, 50));
      const ch3 = await c3.channel();
      await ch3.basicConsume('listing', { tag: 'via-node3', noAck: true }, () => undefined);
      const table = async (...args: string[]): Promise<string[][]> =>
        (await ctl(0, '-q', ...args)).stdout.trim().split('\n').filter((l) => l !== '').map((l) => l.split('\t'));
      // asked through node 1, which has neither the queue nor a client: each consumer once, on its own channel's node
      // (the queue's node used to list node 3's consumer under a made-up tag, node 3 listed nothing)
      const consumers = (await table('list_consumers', 'queue_name', 'consumer_tag', 'ack_required', 'channel_pid')).filter((r) => r[0] === 'listing');
      expect(consumers.map((r) => r.slice(1, 3)).sort()).toEqual([['on-master', 'true'], ['via-node3', 'false']]);
      expect(consumers.find((r) => r[1] === 'on-master')![3]).toMatch(new RegExp(`^<${nodes[1]!.name}\\.\\d+\\.1>$`));
      expect(consumers.find((r) => r[1] === 'via-node3')![3]).toMatch(new RegExp(`^<${nodes[2]!.name}\\.\\d+\\.1>$`));
      const channels = await table('list_channels', 'pid', 'consumer_count');
      expect(channels.filter((r) => r[0]!.startsWith(`<${nodes[2]!.name}.`)).map((r) => r[1])).toEqual(['1']);
      const port = (c3 as unknown as { socket: Socket }).socket.localPort;
      // the queue's page on its node's management API lists both consumers with their tags and channels (node 3's
      // came under a made-up remote: tag with no channel details)
      type ConsumerJson = { consumer_tag: string; ack_required: boolean; channel_details: { node?: string; peer_port?: number; user?: string } };
      const page = (await (await mgmt(1, 'GET', 'queues/%2F/listing')).json()) as { consumer_details: ConsumerJson[] };
      const details = page.consumer_details.map((c) => [c.consumer_tag, c.ack_required, c.channel_details.node, c.channel_details.user]).sort();
      expect(details).toEqual([
        ['on-master', true, nodes[1]!.name, 'guest'],
        ['via-node3', false, nodes[2]!.name, 'guest'],
      ]);
      expect(page.consumer_details.find((c) => c.consumer_tag === 'via-node3')!.channel_details.peer_port).toBe(port);
      // node 1's management API lists the whole cluster's connections, channels and consumers, as RabbitMQ's does
      // (through HAProxy, as in the seeds, a refresh may land on any node)
      type Row = Record<string, unknown> & { node?: string; name?: string; peer_port?: number };
      const api = async (path: string): Promise<Row[]> => (await (await mgmt(0, 'GET', path)).json()) as Row[];
      const conns = await api('connections');
      const c3Row = conns.find((r) => r.peer_port === port);
      expect(c3Row?.node).toBe(nodes[2]!.name);
      expect(conns.some((r) => r.node === nodes[1]!.name)).toBe(true);
      expect((await api('channels')).filter((r) => (r['connection_details'] as { name: string }).name === c3Row!.name).map((r) => r['consumer_count'])).toEqual([1]);
      const apiConsumers = (await api('consumers/%2F')).filter((r) => (r['queue'] as { name: string }).name === 'listing');
      expect(apiConsumers.map((r) => [r['consumer_tag'], (r['channel_details'] as { node: string }).node]).sort()).toEqual([
        ['on-master', nodes[1]!.name],
        ['via-node3', nodes[2]!.name],
      ]);
      const totals = ((await (await mgmt(0, 'GET', 'overview')).json()) as { object_totals: { connections: number; channels: number } }).object_totals;
      expect(totals.connections).toBe(conns.length);
      expect(totals.connections).toBeGreaterThanOrEqual(2);
      expect(totals.channels).toBe((await api('channels')).length);
      const one = (await (await mgmt(0, 'GET', `connections/${encodeURIComponent(c3Row!.name!)}`)).json()) as Row;
      expect([one.node, one.peer_port]).toEqual([nodes[2]!.name, port]);
      // and closes one on another node: a second client of node 3, through node 1's API
      const c4 = await new AMQPClient(url(2)).connect();
      c4.onerror = () => undefined;
      const port4 = (c4 as unknown as { socket: Socket }).socket.localPort;
      const c4Row = (await api('connections')).find((r) => r.peer_port === port4);
      expect((await mgmt(0, 'DELETE', `connections/${encodeURIComponent(c4Row!.name!)}`)).status).toBe(204);
      for (let i = 0; i < 100 && !c4.closed; i++) await new Promise((r) => setTimeout(r, 50));
      expect(c4.closed).toBe(true);
      expect((await mgmt(0, 'DELETE', `connections/${encodeURIComponent(c4Row!.name!)}`)).status).toBe(404);
      // node 3's client connection, found by its port, is closed through node 1
      const conn = (await table('list_connections', 'pid', 'peer_port')).find((r) => r[1] === String(port));
      expect(conn?.[0]).toMatch(new RegExp(`^<${nodes[2]!.name}\\.\\d+>$`));
      expect((await ctl(0, 'close_connection', conn![0]!, 'moving you')).code).toBe(0);
      for (let i = 0; i < 100 && !c3.closed; i++) await new Promise((r) => setTimeout(r, 50));
      expect(c3.closed).toBe(true);
      expect((await table('list_connections', 'peer_port')).flat()).not.toContain(String(port));
      expect((await ctl(0, 'close_connection', conn![0]!, 'again')).code).toBe(65);
      await ch2.queueDelete('listing');
    } finally {
      await c2.close();
      if (!c3.closed) await c3.close();
    }
  }, 60_000);

  it('seed (rabbitmqctl stop_app on the root node of a plain queue): the other nodes see the queue down, as after kill -9: state down, consumers cancelled, declare answers 404', async () => {
    const c3 = await new AMQPClient(url(2)).connect();
    const ch3 = await c3.channel();
    await ch3.queueDeclare('worker_order', { durable: true });
    await ch3.confirmSelect();
    for (let i = 0; i < 3; i++) await ch3.basicPublish('', 'worker_order', `m${i}`, { deliveryMode: 2 });
    await c3.close();
    const c1 = await new AMQPClient(url(0)).connect();
    const ch1 = await c1.channel();
    await ch1.basicQos(1);
    let got = 0;
    const consumer = await ch1.basicConsume('worker_order', { noAck: false }, () => void got++);
    const cancelled = consumer.wait().then(
      () => 'ended',
      (e: Error) => e.message,
    );
    while (got === 0) await new Promise((r) => setTimeout(r, 50));
    const t0 = Date.now();
    expect((await ctl(2, 'stop_app')).code).toBe(0);
    try {
      // the consumer on node1 is cancelled by the server
      const why = await Promise.race([cancelled, new Promise<string>((r) => setTimeout(() => r('not cancelled'), 10_000))]);
      expect(why).not.toBe('not cancelled');
      expect(Date.now() - t0).toBeLessThan(10_000);
      // brokerctl and the management API on the other nodes list it down, without stale counts
      for (const n of [0, 1]) {
        expect((await ctl(n, '-q', 'list_queues', 'name', 'state', 'messages')).stdout).toContain('worker_order\tdown\t\n');
        expect(await (await mgmt(n, 'GET', 'queues/%2F/worker_order')).json()).toMatchObject({ state: 'down' });
      }
      // declares through another node, passive or not, answer 404 naming the home node
      const home = `NOT_FOUND - home node '${nodes[2]!.name}' of queue 'worker_order' in vhost '/' is down or inaccessible`;
      const c2 = await new AMQPClient(url(1)).connect();
      await expect((await c2.channel()).queueDeclare('worker_order', { passive: true })).rejects.toThrow(home);
      await expect((await c2.channel()).queueDeclare('worker_order', { durable: true })).rejects.toThrow(home);
      await c2.close();
    } finally {
      await c1.close().catch(() => {});
      expect((await ctl(2, 'start_app')).code).toBe(0);
    }
    // back: its durable messages with it (the one delivered but not acked is ready again)
    expect((await ctl(0, '-q', 'list_queues', 'name', 'state', 'messages')).stdout).toContain('worker_order\trunning\t3\n');
    const again = await new AMQPClient(url(2)).connect();
    await (await again.channel()).queueDelete('worker_order');
    await again.close();
  }, 90_000);

  it('consuming from a queue whose node has its app stopped fails with 404 naming that node as down or inaccessible; cluster listings name it as not answering', async () => {
    const c3 = await new AMQPClient(url(2)).connect();
    await (await c3.channel()).queueDeclare('on-node3', { durable: true });
    await c3.close();
    expect((await ctl(2, 'stop_app')).code).toBe(0);
    try {
      const c = await new AMQPClient(url(0)).connect();
      const ch = await c.channel();
      await expect(ch.basicConsume('on-node3', { noAck: true }, () => {})).rejects.toThrow(`NOT_FOUND - home node '${nodes[2]!.name}' of queue 'on-node3' in vhost '/' is down or inaccessible`);
      await c.close();
      // a cluster-wide listing names the member that could not answer instead of leaving it out silently
      const listed = await ctl(0, 'list_connections');
      expect(listed.code).toBe(0);
      expect(listed.stdout).toContain(`(not listed: ${nodes[2]!.name} did not answer`);
    } finally {
      expect((await ctl(2, 'start_app')).code).toBe(0);
    }
    const again = await new AMQPClient(url(2)).connect();
    await (await again.channel()).queueDelete('on-node3');
    await again.close();
  }, 60_000);

  it('seed (set_policy ha-all-queue "^ha\\." \'{"ha-mode":"all"}\'): without ha-sync-mode mirrors are synchronised manually; slave_pids lists live mirrors only', async () => {
    const mirrorsOf = async (n: number): Promise<[string, string]> => {
      const line = (await ctl(n, '-q', 'list_queues', 'name', 'slave_pids', 'synchronised_slave_pids')).stdout.split('\n').find((l) => l.startsWith('hd.backlog\t'));
      const [, slaves, synced] = (line ?? '').split('\t');
      return [slaves ?? '', synced ?? ''];
    };
    const has = (list: string, n: number): boolean => list.includes(`<${nodes[n]!.name}.`);
    const c2 = await new AMQPClient(url(1)).connect();
    const ch2 = await c2.channel();
    await ch2.queueDeclare('hd.backlog', { durable: true });
    await ch2.confirmSelect();
    for (let i = 0; i < 5; i++) await ch2.basicPublish('', 'hd.backlog', `old${i}`, { deliveryMode: 2 });
    expect((await ctl(0, 'set_policy', '--priority', '5', 'hd-default', '^hd\\.', '{"ha-mode":"all"}')).code).toBe(0);
    // mirrors on node1 and node3, missing the 5 older messages: unsynchronised, and they stay so (automatic would sync
    // them within milliseconds)
    let [slaves, synced] = await mirrorsOf(1);
    for (let i = 0; i < 40 && !(has(slaves, 0) && has(slaves, 2)); i++) {
      await new Promise((r) => setTimeout(r, 250));
      [slaves, synced] = await mirrorsOf(1);
    }
    expect(has(slaves, 0) && has(slaves, 2)).toBe(true);
    await new Promise((r) => setTimeout(r, 2000));
    // (a mirrored queue with no synchronised mirror lists [] as RabbitMQ does; a queue that is not mirrored, '')
    expect((await mirrorsOf(1))[1]).toBe('[]');
    // each mirror is a process of its own, on its node
    const before = pidsIn(slaves);
    expect(before).toHaveLength(2);
    expect(new Set(before).size).toBe(2);
    expect(pidNodes(slaves)).toBe(`[<${nodes[0]!.name}>, <${nodes[2]!.name}>]`);
    // sync_queue synchronises them
    expect((await ctl(0, 'sync_queue', 'hd.backlog')).code).toBe(0);
    for (let i = 0; i < 40 && !(has(synced, 0) && has(synced, 2)); i++) {
      await new Promise((r) => setTimeout(r, 250));
      [slaves, synced] = await mirrorsOf(1);
    }
    expect(has(synced, 0) && has(synced, 2)).toBe(true);
    // node3 dies: its mirror is not listed any more (RabbitMQ lists live mirrors only)
    await kill9(nodes[2]!.proc!);
    for (let i = 0; i < 40 && has((await mirrorsOf(1))[0], 2); i++) await new Promise((r) => setTimeout(r, 250));
    [slaves, synced] = await mirrorsOf(1);
    expect(has(slaves, 2)).toBe(false);
    expect(has(slaves, 0)).toBe(true);
    // back, it is a mirror again, unsynchronised until the next sync_queue (the seeds: manual sync after a restart)
    await start(2);
    for (let i = 0; i < 60 && !has((await mirrorsOf(1))[0], 2); i++) await new Promise((r) => setTimeout(r, 250));
    [slaves, synced] = await mirrorsOf(1);
    expect(has(slaves, 2)).toBe(true);
    expect(has(synced, 2)).toBe(false);
    // the restarted mirror is a new process: a new pid; node1's mirror kept its own
    const after = pidsIn(slaves);
    expect(after).toContain(before[0]);
    expect(after.find((p) => p.startsWith(`<${nodes[2]!.name}.`))).not.toBe(before[1]);
    await ch2.queueDelete('hd.backlog');
    await c2.close();
    expect((await ctl(0, 'clear_policy', 'hd-default')).code).toBe(0);
  }, 120_000);

  it('seed (cluster_status partitions): a stall of a few seconds is no partition; a longer one is, until the partitioned node restarts', async () => {
    const partitions = async (): Promise<string[]> => Object.values((JSON.parse((await ctl(0, 'cluster_status', '--formatter', 'json')).stdout) as { partitions: Record<string, string[]> }).partitions).flat();
    const allRunning = async (): Promise<void> => {
      for (let i = 0; i < 80; i++) {
        const s = JSON.parse((await ctl(0, 'cluster_status', '--formatter', 'json')).stdout) as { running_nodes: string[] };
        if (s.running_nodes.length === 3) return;
        await new Promise((r) => setTimeout(r, 250));
      }
    };
    const stall = async (ms: number): Promise<void> => {
      nodes[2]!.proc!.child.kill('SIGSTOP');
      await new Promise((r) => setTimeout(r, ms));
      nodes[2]!.proc!.child.kill('SIGCONT');
      await allRunning();
    };
    // 2 s: node1 takes node3 for dead after 1.5 s, and it answers again at once
    await stall(2000);
    expect(await partitions()).toEqual([]);
    // 6 s: node3 was cut off while it kept running
    await stall(6000);
    expect(await partitions()).toContain(nodes[2]!.name);
    // node3 restarts: the entry goes, as RabbitMQ forgets a partition once the node went down
    await kill9(nodes[2]!.proc!);
    await start(2);
    await allRunning();
    expect(await partitions()).toEqual([]);
  }, 120_000);

  it('seed: a ram node that restarts gets the metadata back from the disc node; its transient and exclusive queues are gone', async () => {
    const names = async (n: number): Promise<string[]> => ((await (await mgmt(n, 'GET', 'queues/%2F')).json()) as { name: string }[]).map((q) => q.name);
    const c = await new AMQPClient(url(2)).connect();
    const ch = await c.channel();
    await ch.queueDeclare('node3.transient', { durable: false });
    await ch.queueDeclare('node3.exclusive', { exclusive: true });
    await ch.queueDeclare('node3.durable', { durable: true });
    // (the declare-ok came once node3 applied it; the others apply it as the log's commit reaches them)
    for (const n of [0, 1]) {
      for (let i = 0; i < 40 && !(await names(n)).includes('node3.durable'); i++) await new Promise((r) => setTimeout(r, 100));
      expect(await names(n)).toEqual(expect.arrayContaining(['node3.transient', 'node3.exclusive', 'node3.durable']));
    }
    await kill9(nodes[2]!.proc!);
    await start(2);
    expect((await ctl(2, '-q', 'list_users')).stdout).toContain('seeduser');
    expect((await ctl(2, '-q', 'list_queues', 'name', 'node')).stdout).toContain(`orders\t${nodes[1]!.name}`);
    // as RabbitMQ drops a node's transient queues: the non-durable queue (its messages died with the node) and the
    // exclusive one (its connection did) leave every node; the durable one stays
    for (const n of [0, 1, 2]) {
      let list = await names(n);
      for (let i = 0; i < 40 && (list.includes('node3.transient') || list.includes('node3.exclusive')); i++) {
        await new Promise((r) => setTimeout(r, 250));
        list = await names(n);
      }
      expect(list).not.toContain('node3.transient');
      expect(list).not.toContain('node3.exclusive');
      expect(list).toContain('node3.durable');
    }
    const s = JSON.parse((await ctl(0, 'cluster_status', '--formatter', 'json')).stdout) as { running_nodes: string[] };
    expect(s.running_nodes).toContain(nodes[2]!.name);
  }, 90_000);

  it('seed: with the disc node down, the ram nodes go on: publishing, consuming and metadata changes (the ram voters are a majority)', async () => {
    await kill9(nodes[0]!.proc!);
    // (Warren: RabbitMQ refuses metadata changes while its only disc node is down; here the two ram nodes are two of
    // the three Raft voters, and the disc node gets the changes when it is back)
    const r = await ctl(1, 'add_user', 'nobody', 'pw');
    expect(r.code).toBe(0);
    // the queue on node2 keeps working for clients of node2 and node3
    const c3 = await new AMQPClient(url(2)).connect();
    const ch3 = await c3.channel();
    await ch3.basicPublish('', 'orders', 'while-disc-down');
    const c2 = await new AMQPClient(url(1)).connect();
    const ch2 = await c2.channel();
    let m = null;
    for (let i = 0; i < 20 && m === null; i++) {
      m = await ch2.basicGet('orders', { noAck: true });
      if (m === null) await new Promise((res) => setTimeout(res, 100));
    }
    expect(m?.bodyToString()).toBe('while-disc-down');
    // and an AMQP declare of a new queue works
    await ch2.queueDeclare('new-queue');
    await c2.close().catch(() => {});
    await c3.close();
    // the disc node comes back with everything it had, and what the ram nodes committed meanwhile
    await start(0);
    expect((await ctl(0, '-q', 'list_users')).stdout).toContain('seeduser');
    expect((await ctl(0, '-q', 'list_users')).stdout).toContain('nobody');
    expect((await ctl(1, 'add_user', 'later', 'pw')).code).toBe(0);
    expect((await ctl(2, '-q', 'list_users')).stdout).toContain('later');
  }, 120_000);

  it('seed: the whole cluster restarts in any order: ram nodes wait for the disc node, then all recover with durable messages', async () => {
    const c = await new AMQPClient(url(1)).connect();
    const ch = await c.channel();
    await ch.confirmSelect();
    await ch.basicPublish('', 'orders', 'survives-restart', { deliveryMode: 2 });
    await c.close();
    for (const n of [0, 1, 2]) await kill9(nodes[n]!.proc!);
    // ram nodes first: they cannot take clients until the disc node is back
    const waiting = [1, 2].map((n) => start(n));
    await new Promise((r) => setTimeout(r, 1500));
    expect((await ctl(1, '-q', 'list_queues')).code).not.toBe(0);
    await start(0);
    await Promise.all(waiting);
    for (const n of [0, 1, 2]) expect((await ctl(n, '-q', 'list_users')).stdout).toContain('seeduser');
    const c2 = await new AMQPClient(url(2)).connect();
    const ch2 = await c2.channel();
    const bodies: string[] = [];
    for (;;) {
      const m = await ch2.basicGet('orders', { noAck: true });
      if (!m) break;
      bodies.push(m.bodyToString() ?? '');
    }
    expect(bodies).toContain('survives-restart');
    await c2.close();
  }, 120_000);

  it('seed: a node with another cookie cannot join the cluster', async () => {
    const port = await freePort();
    const dist = await freePort();
    const strangerEnv = new TestEnv();
    // the stranger's brokerctl and node use their own cookie; the cluster's registry (this host's epmd) finds node1
    // for the stranger, and the stranger for its brokerctl
    strangerEnv.env['WARREN_NODE_REGISTRY'] = env.env['WARREN_NODE_REGISTRY'];
    try {
      await strangerEnv.startBroker(['--memory', '--node-name', 'rabbit@stranger', '--dist-port', String(dist), '--quiet'], port);
      await strangerEnv.ctl(['-n', 'rabbit@stranger', '--dist-port', String(dist), 'stop_app']);
      const j = await strangerEnv.ctl(['-n', 'rabbit@stranger', '--dist-port', String(dist), 'join_cluster', nodes[0]!.name]);
      expect(j.code).not.toBe(0);
      expect(j.stderr).toMatch(/cookie/i);
      expect(JSON.parse((await ctl(0, 'cluster_status', '--formatter', 'json')).stdout).ram_nodes).not.toContain('rabbit@stranger');
    } finally {
      await strangerEnv.cleanup();
    }
  }, 60_000);

  it('seed: forget_cluster_node removes a stopped node; reset on a member leaves the cluster', async () => {
    const names = async (n: number): Promise<string> => (await ctl(n, '-q', 'list_queues', 'name')).stdout;
    // node3 holds a durable queue (declared on it in the restart test above)
    expect(await names(0)).toContain('node3.durable');
    await kill9(nodes[2]!.proc!);
    expect((await ctl(0, 'forget_cluster_node', nodes[2]!.name)).code).toBe(0);
    const s = JSON.parse((await ctl(0, 'cluster_status', '--formatter', 'json')).stdout) as { ram_nodes: string[] };
    expect(s.ram_nodes).toEqual([nodes[1]!.name]);
    // its queues went with it, on every remaining node
    for (const n of [0, 1]) expect(await names(n)).not.toContain('node3.durable');
    expect((await ctl(1, 'stop_app')).code).toBe(0);
    expect((await ctl(1, 'reset')).code).toBe(0);
    expect((await ctl(1, 'start_app')).code).toBe(0);
    const own = JSON.parse((await ctl(1, 'cluster_status', '--formatter', 'json')).stdout) as { disk_nodes: string[]; ram_nodes: string[] };
    expect(own.disk_nodes).toEqual([nodes[1]!.name]);
    expect(own.ram_nodes).toEqual([]);
    const s2 = JSON.parse((await ctl(0, 'cluster_status', '--formatter', 'json')).stdout) as { disk_nodes: string[]; ram_nodes: string[] };
    expect(s2.ram_nodes).toEqual([]);
  }, 120_000);

  it('seed (forget_cluster_node of a stopped node, then starting it): the node refuses to boot naming the node that disagrees, and reset lets it start', async () => {
    // node3 was forgotten above while it was down
    const { spawn } = await import('node:child_process');
    const { BROKER_BIN } = await import('../helpers/broker-process.ts');
    const child = spawn(BROKER_BIN, ['--port', String(nodes[2]!.port), ...nodes[2]!.args], { env: env.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    child.stderr.on('data', (d: Buffer) => (out += d));
    try {
      const deadline = Date.now() + 20_000;
      while (!out.includes('BOOT FAILED') && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 100));
      expect(out).toContain(`Node ${nodes[2]!.name} thinks it's clustered with node ${nodes[0]!.name}, but ${nodes[0]!.name} disagrees`);
      // the node stays up with its app stopped, as after rabbitmqctl start_app on a forgotten node: reset, start_app
      expect((await ctl(2, 'reset')).code).toBe(0);
      expect((await ctl(2, 'start_app')).code).toBe(0);
      const own = JSON.parse((await ctl(2, 'cluster_status', '--formatter', 'json')).stdout) as { disk_nodes: string[]; running_nodes: string[] };
      expect(own.disk_nodes).toEqual([nodes[2]!.name]);
      expect(own.running_nodes).toEqual([nodes[2]!.name]);
    } finally {
      child.kill('SIGKILL');
    }
  }, 60_000);

  it('seed: two disc nodes: the last one down boots alone; one that was not the last waits and fails naming the other; brokerctl force_boot on it (stopped) overrides, the other staying a disc node', async () => {
    // two disc nodes: node1 and node2 (node2 joined again above after its reset, as a disc node now)
    await ctl(1, 'stop_app');
    expect((await ctl(1, 'join_cluster', nodes[0]!.name)).code).toBe(0);
    await ctl(1, 'start_app');
    expect((JSON.parse((await ctl(0, 'cluster_status', '--formatter', 'json')).stdout) as { disk_nodes: string[] }).disk_nodes.sort()).toEqual([nodes[0]!.name, nodes[1]!.name].sort());
    expect((await ctl(0, 'add_user', 'before-stop', 'pw')).code).toBe(0);
    const { spawn } = await import('node:child_process');
    const { BROKER_BIN } = await import('../helpers/broker-process.ts');
    /** Starts node n expecting it to give up waiting for the cluster (after 2 s instead of 30). */
    const startFails = (n: number): Promise<{ code: number | null; out: string }> =>
      new Promise((res) => {
        const c = spawn(BROKER_BIN, ['--port', String(nodes[n]!.port), ...nodes[n]!.args], { env: { ...env.env, WARREN_CLUSTER_BOOT_WAIT_MS: '2000' }, stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        c.stdout.on('data', (d: Buffer) => (out += d));
        c.stderr.on('data', (d: Buffer) => (out += d));
        const t = setTimeout(() => c.kill('SIGKILL'), 60_000);
        c.once('exit', (code) => {
          clearTimeout(t);
          res({ code, out });
        });
      });
    /** node n first (node m sees it go), then node m: m is the last one down. */
    const stopInOrder = async (n: number, m: number): Promise<void> => {
      await kill9(nodes[n]!.proc!);
      for (let i = 0; i < 100; i++) {
        const st = JSON.parse((await ctl(m, 'cluster_status', '--formatter', 'json')).stdout) as { running_nodes: string[] };
        if (!st.running_nodes.includes(nodes[n]!.name)) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      await kill9(nodes[m]!.proc!);
    };
    await stopInOrder(0, 1);
    // node1 was not the last down: alone it waits for node2, and gives up naming it
    const failed = await startFails(0);
    expect(failed.code, failed.out).toBe(1);
    expect(failed.out).toContain(`timed out waiting for the cluster's disc nodes (${nodes[1]!.name})`);
    // node2 was: it boots alone (RabbitMQ's last down, first up), and node1 rejoins it
    await start(1);
    expect((await ctl(1, 'add_user', 'while-alone', 'pw')).code).toBe(0);
    await start(0);
    expect((await ctl(0, '-q', 'list_users')).stdout).toContain('while-alone');
    // force_boot, brokerctl's offline command on the stopped node1 that was not the last down
    await stopInOrder(0, 1);
    const fb = await ctl(0, 'force_boot');
    expect(fb.code).toBe(0);
    await start(0);
    expect((await ctl(0, '-q', 'list_users')).stdout).toContain('before-stop');
    expect((await ctl(0, 'add_user', 'after-force-boot', 'pw')).code).toBe(0);
    // the other disc node is still listed as one (it votes again once it is back and has caught up)
    const st = JSON.parse((await ctl(0, 'cluster_status', '--formatter', 'json')).stdout) as { disk_nodes: string[]; ram_nodes: string[] };
    expect(st.disk_nodes.sort()).toEqual([nodes[0]!.name, nodes[1]!.name].sort());
    expect(st.ram_nodes).toEqual([]);
    // forget_cluster_node --offline: the stopped node drops the lost one from its own membership
    expect((await ctl(0, 'stop_app')).code).toBe(0);
    const f = await ctl(0, 'forget_cluster_node', '--offline', nodes[1]!.name);
    expect(f.stderr).toBe('');
    expect((await ctl(0, 'start_app')).code).toBe(0);
    const s = JSON.parse((await ctl(0, 'cluster_status', '--formatter', 'json')).stdout) as { disk_nodes: string[]; ram_nodes: string[] };
    expect([...s.disk_nodes, ...s.ram_nodes]).not.toContain(nodes[1]!.name);
    expect((await ctl(0, '-q', 'list_users')).stdout).toContain('after-force-boot');
  }, 300_000);
});
