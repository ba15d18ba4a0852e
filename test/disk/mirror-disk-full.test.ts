// A mirror's node whose data directory is on a small tmpfs, under confirmed publishing to a mirrored queue (the seeds'
// layout: one disc node holding the master, two ram nodes holding mirrors; the publisher connects to the full
// mirror's node, as behind a load balancer): that node's free disk space alarm blocks the publisher before the disc
// is full (connection.blocked) and unblocks it when space returns; with the limit lowered to nothing, the mirror's
// writes run into ENOSPC, the mirror acks nothing it could not write and the node keeps running; then the master's
// node is killed with SIGKILL, a mirror is promoted, and every confirmed message is there with its exact body.
// Needs root (mount); skipped otherwise.
import { afterEach, describe, expect, it } from 'vitest';
import { AMQPClient, type AMQPChannel } from '@cloudamqp/amqp-client';
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TestEnv, freePort, kill9, type BrokerProcess } from '../helpers/broker-process.ts';

const ROOT = process.getuid?.() === 0;
const TMPFS_SIZE = '48m';
const BODY_BYTES = 1000;
const QUEUE = 'ha.fill';

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

const T0 = Date.now();
async function until(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 60_000, alive: BrokerProcess[] = []): Promise<void> {
  const t0 = Date.now();
  if (process.env['WARREN_TEST_VERBOSE'] !== undefined) console.log(`${((t0 - T0) / 1000).toFixed(1)} s: waiting for ${what}`);
  while (!(await cond())) {
    for (const p of alive) if (p.child.exitCode !== null || p.child.signalCode !== null) throw new Error(`a node died while waiting for ${what}:\n${p.output()}`);
    if (Date.now() - t0 > timeoutMs) {
      const logs = alive.map((p, i) => `--- node ${i + 1}:\n${p.output().split('\n').slice(-30).join('\n')}`).join('\n');
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${logs}`);
    }
    await new Promise((r) => setTimeout(r, 50));
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
          await Promise.race([Promise.allSettled(window.splice(0)), new Promise((r) => setTimeout(r, 200))]);
          await new Promise((r) => setTimeout(r, 10));
          continue;
        }
        const i = this.next++;
        window.push(
          this.ch.basicPublish('', QUEUE, body(i), { deliveryMode: 2 }).then(
            () => void this.confirmed.add(i),
            (err: Error) => {
              if (/rejected/i.test(err.message)) this.nacked++;
              else this.refused++;
            },
          ),
        );
        if (window.length >= 100) {
          // (bounded: a confirm the cluster holds back while the mirror cannot write must not stop the loop from
          // seeing that it was blocked)
          await Promise.race([Promise.allSettled(window.splice(0)), new Promise((r) => setTimeout(r, 2000))]);
          await new Promise((r) => setImmediate(r));
        }
      }
    })();
  }

  async finish(): Promise<void> {
    this.stop = true;
    await this.done;
  }
}

describe.runIf(ROOT)("a mirror's data directory on a 48 MB tmpfs", () => {
  it('blocks and unblocks publishers, nacks or holds what the full mirror cannot take, keeps running, and loses no confirmed message when the master is killed', { timeout: 900_000 }, async () => {
    env = new TestEnv();
    const mnt = join(env.dir, 'mnt');
    mkdirSync(mnt);
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${TMPFS_SIZE}`, 'tmpfs', mnt]);
    mounted = mnt;
    const ballast = join(mnt, 'ballast');
    writeFileSync(ballast, Buffer.alloc(34 * 1024 * 1024, 1));
    const conf = join(env.dir, 'rabbitmq.conf');
    writeFileSync(conf, 'disk_free_limit.absolute = 4MB\n');
    const nodes: { name: string; port: number; dist: number; proc: BrokerProcess }[] = [];
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      const dist = await freePort();
      const name = `rabbit@i19mfull${i}`;
      // node 1 (a ram node holding a mirror) keeps its data on the tmpfs, with a 4 MB limit; the others have room
      const dir = i === 1 ? join(mnt, 'data') : join(env.dir, `n${i}`);
      const args = [...(i === 1 ? ['--config', conf] : []), '--data-dir', dir, '--node-name', name, '--dist-port', String(dist)];
      nodes.push({ name, port, dist, proc: await env.startBroker(args, port) });
    }
    const ctl = (n: number, ...args: string[]) => env!.ctl(['-n', nodes[n]!.name, ...args], 40_000);
    for (const n of [1, 2]) {
      expect((await ctl(n, 'stop_app')).code).toBe(0);
      expect((await ctl(n, 'join_cluster', '--ram', nodes[0]!.name)).code).toBe(0);
      expect((await ctl(n, 'start_app')).code).toBe(0);
    }
    expect((await ctl(0, 'set_policy', 'ha-all', '^ha\\.', '{"ha-mode":"all","ha-sync-mode":"automatic"}')).code).toBe(0);
    const procs = (): BrokerProcess[] => [nodes[1]!.proc, nodes[2]!.proc, nodes[0]!.proc];
    const c0 = new AMQPClient(`amqp://guest:guest@127.0.0.1:${nodes[0]!.port}`);
    await c0.connect();
    await (await c0.channel()).queueDeclare(QUEUE, { durable: true });
    await c0.close();
    const syncedOn = async (n: number): Promise<boolean> => (await ctl(0, '-q', 'list_queues', 'name', 'synchronised_slave_pids')).stdout.includes(nodes[n]!.name);
    await until(async () => (await syncedOn(1)) && (await syncedOn(2)), 'both mirrors synchronised', 60_000, procs());

    // the publisher on the full mirror's node
    const client = new AMQPClient(`amqp://guest:guest@127.0.0.1:${nodes[1]!.port}`);
    await client.connect();
    client.onerror = () => {};
    const ch = await client.channel();
    await ch.confirmSelect();
    const pub = new Publisher(client, ch);
    pub.start();

    // 1. the mirror's node alarm blocks the publisher while there is still room (4 MB limit)
    await until(() => pub.blocked, 'connection.blocked from the disk alarm', 180_000, procs());
    expect(pub.blockedEvents[0]).toBe('low on disk');
    const status = await ctl(1, 'status');
    expect(status.stdout).toContain(`Free disk space alarm on node ${nodes[1]!.name}`);
    const confirmedAtAlarm = pub.confirmed.size;
    expect(confirmedAtAlarm).toBeGreaterThan(0);

    // 2. the limit lowered to nothing: publishing resumes and the mirror's writes run into ENOSPC; the node stays up
    expect((await ctl(1, 'set_disk_free_limit', '1')).code).toBe(0);
    await until(() => pub.unblockedEvents >= 1, 'connection.unblocked after set_disk_free_limit', 60_000, procs());
    await until(() => /write to .* failed|no space left|ENOSPC/i.test(nodes[1]!.proc.output()) || (pub.blocked && pub.blockedEvents.length >= 2), 'the mirror to run out of space', 180_000, procs());
    await until(() => pub.blocked && pub.blockedEvents.length >= 2, 'blocked again once the disc is full', 120_000, procs());

    // 3. space comes back: unblocked, confirms flow again
    rmSync(ballast);
    await until(() => pub.unblockedEvents >= 2, 'connection.unblocked once space is back', 120_000, procs());
    const confirmedAtRoom = pub.confirmed.size;
    await until(() => pub.confirmed.size > confirmedAtRoom + 1000, 'confirms after space came back', 180_000, procs());

    // 4. the master's node is killed mid-stream; a mirror is promoted
    await kill9(nodes[0]!.proc);
    await until(async () => {
      const out = (await ctl(2, '-q', 'list_queues', 'name', 'node')).stdout;
      const line = out.split('\n').find((l) => l.startsWith(`${QUEUE}\t`));
      return line !== undefined && !line.includes(nodes[0]!.name);
    }, 'a mirror promoted', 60_000, [nodes[1]!.proc, nodes[2]!.proc]);
    await pub.finish();
    await client.close().catch(() => {});
    expect(nodes[1]!.proc.child.exitCode).toBeNull();

    // every confirmed message is in the promoted queue, with its exact body
    const c2 = new AMQPClient(`amqp://guest:guest@127.0.0.1:${nodes[2]!.port}`);
    await c2.connect();
    const ch2 = await c2.channel();
    const depth = (await ch2.queueDeclare(QUEUE, { durable: true, passive: true })).messageCount;
    const seen = new Set<number>();
    let corrupt = 0;
    let got = 0;
    await ch2.prefetch(2000);
    await ch2.basicConsume(QUEUE, { noAck: true }, (m) => {
      got++;
      const b = Buffer.from(m.body!);
      const i = Number(/^m(\d+);/.exec(b.toString('latin1', 0, 16))?.[1] ?? -1);
      if (i < 0 || !b.equals(body(i))) corrupt++;
      else seen.add(i);
    });
    await until(() => got >= depth, `all ${depth} messages of the promoted queue`, 120_000);
    const lost = [...pub.confirmed].filter((i) => !seen.has(i));
    console.log(
      `mirror disk full: ${pub.confirmed.size} confirmed (${confirmedAtAlarm} before the alarm), ${pub.nacked} nacked, ${pub.refused} refused, ` +
        `${depth} in the promoted queue, ${lost.length} confirmed lost, ${corrupt} corrupt; blocked ${pub.blockedEvents.length}x, unblocked ${pub.unblockedEvents}x`,
    );
    expect(corrupt).toBe(0);
    expect(lost).toEqual([]);
    await c2.close();
  });
});
