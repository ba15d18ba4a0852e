// The broker as its users run it: the `broker` binary as a child process, administered with `brokerctl`, and durable
// state on disk surviving a restart (also after kill -9 for confirmed messages). Warren only.
import { describe, it, expect, beforeAll, afterAll, afterEach } from 'vitest';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { createServer, connect as netConnect } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AMQPClient, type AMQPBaseClient } from '@cloudamqp/amqp-client';
import { startBroker } from '../../packages/broker/src/index.ts';
import { rejectionCode, uniq, waitFor, within, sleep, getAll, sync, ON_REF } from './helpers.ts';

const BIN = fileURLToPath(new URL('../../packages/broker/bin/broker', import.meta.url));
const CTL = fileURLToPath(new URL('../../packages/broker/bin/brokerctl', import.meta.url));

let dir: string;
let env: NodeJS.ProcessEnv;
const children: ChildProcess[] = [];
const conns: AMQPBaseClient[] = [];

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = netConnect({ port, host: '127.0.0.1' });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

interface Node {
  name: string;
  port: number;
  child: ChildProcess;
  url: string;
  log: () => string;
}

async function startNode(o: { dataDir?: string; name?: string; port?: number; distPort?: number } = {}): Promise<Node> {
  const port = o.port ?? (await freePort());
  const distPort = o.distPort ?? (await freePort());
  const name = o.name ?? `rabbit@interop-${uniq('n')}`;
  const storage = o.dataDir !== undefined ? ['--data-dir', o.dataDir] : ['--memory'];
  const child = spawn(BIN, ['--port', String(port), '--host', '127.0.0.1', ...storage, '--node-name', name, '--dist-port', String(distPort)], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const t0 = Date.now();
  while (!(await portOpen(port))) {
    if (child.exitCode !== null || Date.now() - t0 > 20_000) throw new Error(`broker did not start:\n${out}`);
    await sleep(100);
  }
  return { name, port, child, url: `amqp://guest:guest@127.0.0.1:${port}`, log: () => out };
}

function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    child.kill(signal);
  });
}

function ctl(node: Node, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(CTL, ['-n', node.name, ...args], { env, timeout: 20_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

async function client(url: string): Promise<AMQPBaseClient> {
  const c = await new AMQPClient(url).connect();
  c.onerror = () => {};
  conns.push(c);
  return c;
}

// a worker that ends without running afterEach (killed run) must not leave brokers behind
process.once('exit', () => {
  for (const ch of children) if (ch.exitCode === null && ch.signalCode === null) ch.kill('SIGKILL');
});

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'warren-interop-'));
  const cookie = join(dir, 'cookie');
  writeFileSync(cookie, 'WARRENINTEROPCOOKIE', { mode: 0o600 });
  mkdirSync(join(dir, 'registry'));
  env = { ...process.env, WARREN_COOKIE_FILE: cookie, WARREN_NODE_REGISTRY: join(dir, 'registry') };
  delete env['RABBITMQ_NODENAME'];
});
afterEach(async () => {
  for (const c of conns.splice(0)) if (!c.closed) await within(c.close(), 2000, 'close').catch(() => {});
  for (const ch of children.splice(0)) await stopChild(ch);
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(ON_REF)('broker process and brokerctl', () => {
  it('the broker binary serves AMQP clients; brokerctl adds a user and permissions that take effect', async () => {
    const n = await startNode();
    expect((await ctl(n, 'add_user', 'zed', 'secret')).code).toBe(0);
    expect((await ctl(n, 'set_permissions', 'zed', '^z-', '.*', '.*')).code).toBe(0);
    const zed = await client(`amqp://zed:secret@127.0.0.1:${n.port}`);
    await (await zed.channel()).queueDeclare(uniq('z-q'), { durable: false });
    expect(await rejectionCode((await zed.channel()).queueDeclare(uniq('other'), { durable: false }))).toBe(403);
    expect(await rejectionCode(new AMQPClient(`amqp://zed:wrong@127.0.0.1:${n.port}`).connect())).toBe(403);
  }, 30_000);

  it('brokerctl set_policy applies to existing queues and list_queues shows the effect', async () => {
    const n = await startNode();
    const c = await client(n.url);
    const ch = await c.channel();
    const q = `pol-${uniq()}`;
    await ch.queueDeclare(q, { durable: false, autoDelete: false, exclusive: false });
    for (const b of ['a', 'b', 'c']) await ch.basicPublish('', q, b);
    await sync(ch);
    const set = await ctl(n, 'set_policy', 'cap', '^pol-', '{"max-length":1}', '--apply-to', 'queues');
    expect(set.code, set.stderr).toBe(0);
    const list = await ctl(n, 'list_queues', 'name', 'messages', '--no-table-headers');
    expect(list.stdout).toMatch(new RegExp(`${q}\\s+1`));
    expect(await getAll(ch, q)).toEqual(['c']);
  }, 30_000);

  it('SIGTERM closes client connections with 320 CONNECTION_FORCED and the process exits', async () => {
    const n = await startNode();
    const c = await client(n.url);
    const closed = new Promise<string>((r) => {
      c.onerror = (e) => r(e.message);
    });
    await stopChild(n.child, 'SIGTERM');
    expect(n.child.exitCode ?? n.child.signalCode).not.toBeNull();
    expect(await within(closed, 3000, 'client notified')).toMatch(/320|CONNECTION_FORCED|closed/);
  }, 30_000);

  it('durable queues, exchanges, bindings and persistent messages survive a restart; transient ones do not', async () => {
    const dataDir = join(dir, 'restart');
    const n = await startNode({ dataDir });
    const c = await client(n.url);
    const ch = await c.channel();
    await ch.exchangeDeclare('dur-x', 'direct', { durable: true });
    await ch.queueDeclare('dur-q', { durable: true, autoDelete: false, exclusive: false });
    await ch.queueDeclare('transient-q', { durable: false, autoDelete: false, exclusive: false });
    await ch.queueBind('dur-q', 'dur-x', 'k');
    await ch.confirmSelect();
    await ch.basicPublish('dur-x', 'k', 'persistent', { deliveryMode: 2 });
    await ch.basicPublish('dur-x', 'k', 'transient', { deliveryMode: 1 });
    await c.close();
    await stopChild(n.child, 'SIGTERM');
    const n2 = await startNode({ dataDir, name: n.name });
    const ch2 = await (await client(n2.url)).channel();
    expect(await rejectionCode(ch2.queueDeclare('transient-q', { passive: true }))).toBe(404);
    const ch3 = await (await client(n2.url)).channel();
    expect(await getAll(ch3, 'dur-q')).toEqual(['persistent']);
    await ch3.basicPublish('dur-x', 'k', 'binding survived', { deliveryMode: 2 });
    expect(await getAll(ch3, 'dur-q')).toEqual(['binding survived']);
  }, 40_000);

  it('persistent messages confirmed on a durable queue survive kill -9', async () => {
    const dataDir = join(dir, 'kill9');
    const n = await startNode({ dataDir });
    const ch = await (await client(n.url)).channel();
    await ch.queueDeclare('safe-q', { durable: true, autoDelete: false, exclusive: false });
    await ch.confirmSelect();
    const bodies = Array.from({ length: 200 }, (_, i) => `m${i}`);
    await within(Promise.all(bodies.map((b) => ch.basicPublish('', 'safe-q', b, { deliveryMode: 2 }))), 10_000, 'confirms');
    await stopChild(n.child, 'SIGKILL');
    conns.splice(0);
    const n2 = await startNode({ dataDir, name: n.name });
    const ch2 = await (await client(n2.url)).channel();
    expect(await getAll(ch2, 'safe-q')).toEqual(bodies);
  }, 40_000);

  it('unacked messages of a durable queue come back after a restart, marked redelivered', async () => {
    const b1dir = join(dir, 'embedded');
    const b1 = await startBroker({ port: 0, dataDir: b1dir });
    try {
      const c = await client(b1.url);
      const ch = await c.channel();
      await ch.queueDeclare('held-q', { durable: true, autoDelete: false, exclusive: false });
      await ch.confirmSelect();
      await ch.basicPublish('', 'held-q', 'in flight', { deliveryMode: 2 });
      const m = await ch.basicGet('held-q', { noAck: false });
      expect(m?.redelivered).toBe(false);
    } finally {
      await b1.close();
    }
    const b2 = await startBroker({ port: 0, dataDir: b1dir });
    try {
      const ch2 = await (await client(b2.url)).channel();
      await waitFor(async () => (await ch2.queueDeclare('held-q', { passive: true })).messageCount === 1, 3000, 'recovered');
      const again = await ch2.basicGet('held-q', { noAck: true });
      expect([again?.bodyToString(), again?.redelivered]).toEqual(['in flight', true]);
    } finally {
      for (const c of conns.splice(0)) await c.close().catch(() => {});
      await b2.close();
    }
  }, 30_000);
});
