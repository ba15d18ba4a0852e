// rabbitmq-c's command-line amqp-tools (Debian amqp-tools) against the broker: declare, publish, get, consume -c N,
// delete. A C client with its own codec: a second opinion on frames, properties and the handshake.
import { describe, it, expect, beforeAll, afterAll, afterEach } from 'vitest';
import { execFile, execFileSync } from 'node:child_process';
import type { AMQPBaseClient } from '@cloudamqp/amqp-client';
import { startTarget, Clients, uniq, getOne, rejectionCode, type Target } from './helpers.ts';

function hasTools(): boolean {
  try {
    for (const tool of ['amqp-publish', 'amqp-get', 'amqp-consume', 'amqp-declare-queue', 'amqp-delete-queue']) {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    }
    return true;
  } catch {
    return false;
  }
}
const TOOLS = hasTools();

let t: Target;
const clients = new Clients(() => t.url);
let conn: AMQPBaseClient;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}
function run(tool: string, args: string[], input?: string): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(tool, ['-u', `${t.url}/%2F`, ...args], { timeout: 10_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : -1) : 0;
      resolve({ code, stdout, stderr });
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

describe.skipIf(!TOOLS)(TOOLS ? 'amqp-tools' : 'amqp-tools: SKIPPED, amqp-publish & co. not installed (apt-get install amqp-tools)', () => {
  beforeAll(async () => {
    t = await startTarget();
  });
  afterEach(async () => {
    await clients.closeAll();
  });
  afterAll(async () => {
    await t?.close();
  });

  async function ch() {
    if (!conn || conn.closed) conn = await clients.amqp();
    return conn.channel();
  }

  it('amqp-declare-queue creates a queue and prints its name; amqp-delete-queue removes it', async () => {
    const q = uniq('tools');
    const d = await run('amqp-declare-queue', ['-q', q]);
    expect(d.code, d.stderr).toBe(0);
    expect(d.stdout.trim()).toBe(q);
    await (await ch()).queueDeclare(q, { passive: true });
    const del = await run('amqp-delete-queue', ['-q', q]);
    expect(del.code, del.stderr).toBe(0);
    expect(await rejectionCode((await ch()).queueDeclare(q, { passive: true }))).toBe(404);
  });

  it('amqp-declare-queue -d declares a durable queue', async () => {
    const q = uniq('tools-durable');
    expect((await run('amqp-declare-queue', ['-d', '-q', q])).code).toBe(0);
    // a non-durable redeclare is inequivalent: proves the queue is durable
    expect(await rejectionCode((await ch()).queueDeclare(q, { durable: false, autoDelete: false, exclusive: false }))).toBe(406);
    await (await ch()).queueDelete(q);
  });

  it('amqp-publish sends body, content type, persistence and headers that other clients read back', async () => {
    const c = await ch();
    const q = (await c.queueDeclare('', { exclusive: true })).name;
    const p = await run('amqp-publish', ['-r', q, '-p', '-C', 'text/plain', '-H', 'origin: amqp-tools', '-b', 'from rabbitmq-c']);
    expect(p.code, p.stderr).toBe(0);
    const m = await getOne(c, q);
    expect(m.bodyToString()).toBe('from rabbitmq-c');
    expect(m.properties).toMatchObject({ contentType: 'text/plain', deliveryMode: 2, headers: { origin: 'amqp-tools' } });
  });

  it('amqp-publish to an exchange routes by key; amqp-get reads one message and exits 2 on an empty queue', async () => {
    const q = uniq('tools-get');
    await run('amqp-declare-queue', ['-q', q]);
    const c = await ch();
    await c.queueBind(q, 'amq.topic', 'tools.#');
    expect((await run('amqp-publish', ['-e', 'amq.topic', '-r', 'tools.a.b', '-b', 'first'])).code).toBe(0);
    expect((await run('amqp-publish', ['-e', 'amq.topic', '-r', 'other', '-b', 'not routed'])).code).toBe(0);
    const g1 = await run('amqp-get', ['-q', q]);
    expect(g1.code, g1.stderr).toBe(0);
    expect(g1.stdout).toBe('first');
    const g2 = await run('amqp-get', ['-q', q]);
    expect(g2.code).not.toBe(0);
    await run('amqp-delete-queue', ['-q', q]);
  });

  it('amqp-consume -c 3 runs its command once per message, in order, and acks them', async () => {
    const q = uniq('tools-consume');
    await run('amqp-declare-queue', ['-q', q]);
    for (const b of ['one', 'two', 'three', 'four']) await run('amqp-publish', ['-r', q, '-b', b]);
    const r = await run('amqp-consume', ['-q', q, '-c', '3', '-p', '1', '--', 'sh', '-c', 'cat; echo']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split('\n').filter(Boolean)).toEqual(['one', 'two', 'three']);
    const c = await ch();
    expect((await c.queueDeclare(q, { passive: true })).messageCount).toBe(1);
    await c.queueDelete(q);
  });

  it('amqp-get of a missing queue fails with the broker\'s 404', async () => {
    const r = await run('amqp-get', ['-q', uniq('missing')]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/404|NOT_FOUND/);
  });

  it('a wrong password makes the tools fail with a login error', async () => {
    const r = await new Promise<Run>((resolve) => {
      const u = new URL(t.url);
      u.password = 'wrong';
      execFile('amqp-get', ['-u', `${u.toString().replace(/\/$/, '')}/%2F`, '-q', 'x'], { timeout: 10_000 }, (err, stdout, stderr) =>
        resolve({ code: err ? 1 : 0, stdout, stderr }));
    });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/login|403|ACCESS_REFUSED/i);
  });
});
