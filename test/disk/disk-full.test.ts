// A broker process whose data directory is on a small tmpfs, under confirmed publishing: the free disk space alarm
// blocks publishers before the disc is full (connection.blocked) and unblocks them when space returns; with the
// limit lowered to nothing, writes run into ENOSPC and are nacked, never confirmed, and the node keeps running; after
// kill -9 and a restart on a copy of the data directory with room to spare, every confirmed message is there with its
// exact body. Needs root (mount); skipped otherwise.
import { afterEach, describe, expect, it } from 'vitest';
import { AMQPClient, type AMQPChannel } from '@cloudamqp/amqp-client';
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TestEnv, freePort, kill9, type BrokerProcess } from '../helpers/broker-process.ts';

const ROOT = process.getuid?.() === 0;
const TMPFS_SIZE = '48m';
const BODY_BYTES = 1000;

let env: TestEnv | null = null;
let mounted: string | null = null;
afterEach(async () => {
  await env?.cleanup().catch(() => {});
  if (mounted !== null) {
    try {
      execFileSync('umount', ['-l', mounted]);
    } catch {
      /* already gone */
    }
  }
  mounted = null;
  env = null;
});

/** message i's body: its number, then bytes that depend on it (a mixed-up or damaged body cannot pass for another) */
function body(i: number): Buffer {
  const b = Buffer.alloc(BODY_BYTES);
  const head = `m${i};`;
  b.write(head, 0, 'latin1');
  for (let k = head.length; k < BODY_BYTES; k++) b[k] = 97 + ((i * 7 + k * 13) % 26);
  return b;
}

async function until(cond: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

class Publisher {
  readonly confirmed = new Set<number>();
  nacked = 0;
  refused = 0;
  next = 0;
  blocked = false;
  blockedEvents: string[] = [];
  unblockedEvents = 0;
  stop = false;
  private done: Promise<void> | null = null;

  constructor(private readonly client: AMQPClient, private readonly ch: AMQPChannel) {
    client.onblocked = (reason) => {
      this.blocked = true;
      this.blockedEvents.push(reason);
    };
    client.onunblocked = () => {
      this.blocked = false;
      this.unblockedEvents++;
    };
  }

  start(): void {
    this.done = (async () => {
      const window: Promise<void>[] = [];
      while (!this.stop) {
        if (this.blocked || this.client.closed) {
          await Promise.allSettled(window.splice(0));
          await new Promise((r) => setTimeout(r, 10));
          continue;
        }
        const i = this.next++;
        window.push(
          this.ch.basicPublish('', 'fill', body(i), { deliveryMode: 2 }).then(
            () => void this.confirmed.add(i),
            (err: Error) => {
              // (amqp-client rejects a nacked publish with 'Message rejected')
              if (/rejected/i.test(err.message)) this.nacked++;
              else this.refused++;
            },
          ),
        );
        if (window.length >= 200) {
          await Promise.allSettled(window.splice(0));
          await new Promise((r) => setImmediate(r));
        }
      }
      await Promise.allSettled(window);
    })();
  }

  async finish(): Promise<void> {
    this.stop = true;
    await this.done;
  }
}

async function httpGet(port: number, path: string): Promise<{ status: number; text: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { headers: { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}` } });
  return { status: res.status, text: await res.text() };
}

describe.runIf(ROOT)('a data directory on a 48 MB tmpfs', () => {
  it('blocks publishers before the disc fills, nacks what a full disc cannot take, keeps running, and loses no confirmed message across kill -9', { timeout: 300_000 }, async () => {
    env = new TestEnv();
    const mnt = join(env.dir, 'mnt');
    mkdirSync(mnt);
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${TMPFS_SIZE}`, 'tmpfs', mnt]);
    mounted = mnt;
    // room an operator can free later
    const ballast = join(mnt, 'ballast');
    writeFileSync(ballast, Buffer.alloc(16 * 1024 * 1024, 1));
    const conf = join(env.dir, 'rabbitmq.conf');
    writeFileSync(conf, 'disk_free_limit.absolute = 4MB\n');
    const port = await freePort();
    const dist = await freePort();
    const mgmt = await freePort();
    const node = 'rabbit@diskfull';
    const args = (dir: string): string[] => ['--config', conf, '--data-dir', dir, '--node-name', node, '--dist-port', String(dist), '--management-port', String(mgmt)];
    const broker: BrokerProcess = await env.startBroker(args(join(mnt, 'data')), port);
    const url = `amqp://guest:guest@127.0.0.1:${port}`;
    const client = new AMQPClient(url);
    await client.connect();
    client.onerror = () => {};
    const ch = await client.channel();
    await ch.queueDeclare('fill', { durable: true });
    await ch.confirmSelect();
    const pub = new Publisher(client, ch);
    pub.start();

    // 1. the alarm blocks publishers while there is still room (4 MB limit)
    await until(() => pub.blocked, 'connection.blocked from the disk alarm', 120_000);
    expect(pub.blockedEvents[0]).toBe('low on disk');
    const free1 = statfsSync(mnt).bavail * statfsSync(mnt).bsize;
    expect(free1).toBeGreaterThan(0);
    const status = await env.ctl(['-n', node, '--dist-port', String(dist), 'status']);
    expect(status.stdout).toContain(`Free disk space alarm on node ${node}`);
    const api = JSON.parse((await httpGet(mgmt, `/api/nodes/${encodeURIComponent(node)}`)).text) as Record<string, unknown>;
    expect(api['disk_free_alarm']).toBe(true);
    expect(api['disk_free_limit']).toBe(4_000_000);
    expect(typeof api['disk_free']).toBe('number');
    const metrics = (await httpGet(mgmt, '/metrics')).text;
    expect(metrics).toMatch(/^rabbitmq_alarms_free_disk_space_watermark 1$/m);
    expect(metrics).toMatch(/^rabbitmq_disk_space_available_limit_bytes 4000000$/m);

    // 2. the limit lowered to nothing: publishing resumes and runs into a full disc (ENOSPC): nacks, not confirms
    const before = pub.confirmed.size;
    const set = await env.ctl(['-n', node, '--dist-port', String(dist), 'set_disk_free_limit', '1']);
    expect(set.code).toBe(0);
    await until(() => pub.unblockedEvents >= 1, 'connection.unblocked after set_disk_free_limit');
    await until(() => pub.blocked && pub.blockedEvents.length >= 2, 'blocked again once the disc is full', 120_000);
    expect(pub.confirmed.size).toBeGreaterThan(before);
    expect(broker.child.exitCode).toBeNull();
    // a full disc's writes were nacked (ENOSPC), never confirmed
    expect(pub.nacked).toBeGreaterThan(0);

    // 3. space comes back: unblocked, confirms flow again
    rmSync(ballast);
    await until(() => pub.unblockedEvents >= 2, 'connection.unblocked once space is back');
    const confirmedAtRoom = pub.confirmed.size;
    await until(() => pub.confirmed.size > confirmedAtRoom + 2000, 'confirms after space came back');

    // 4. kill -9 mid-stream; restart on a copy of the data directory with room to spare
    await kill9(broker);
    await pub.finish();
    client.close().catch(() => {});
    const copy = join(env.dir, 'copy');
    execFileSync('cp', ['-a', join(mnt, 'data'), copy]);
    execFileSync('umount', ['-l', mnt]);
    mounted = null;
    const output = broker.output();
    expect(output).toMatch(/Free disk space is insufficient/);

    await env.startBroker(args(copy), port);
    const c2 = new AMQPClient(url);
    await c2.connect();
    const ch2 = await c2.channel();
    const depth = (await ch2.queueDeclare('fill', { durable: true, passive: true })).messageCount;
    const seen = new Map<number, Buffer>();
    let corrupt = 0;
    await ch2.prefetch(2000);
    await ch2.basicConsume('fill', { noAck: true }, (m) => {
      const b = Buffer.from(m.body!);
      const i = Number(/^m(\d+);/.exec(b.toString('latin1', 0, 16))?.[1] ?? -1);
      if (i < 0 || !b.equals(body(i))) corrupt++;
      else seen.set(i, b);
    });
    await until(() => seen.size + corrupt >= depth, `all ${depth} recovered messages`, 120_000);
    const lost = [...pub.confirmed].filter((i) => !seen.has(i));
    console.log(
      `disk full: ${pub.confirmed.size} confirmed, ${pub.nacked} nacked, ${pub.refused} refused while blocked, ` +
        `${depth} recovered, ${lost.length} confirmed lost, ${corrupt} corrupt; blocked ${pub.blockedEvents.length}x, unblocked ${pub.unblockedEvents}x`,
    );
    expect(corrupt).toBe(0);
    expect(lost).toEqual([]);
    await c2.close();
  });
});
