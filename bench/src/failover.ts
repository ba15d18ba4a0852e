/**
 * Promotion time of a mirrored queue when its master's node dies (kill -9) or hangs (SIGSTOP).
 *
 * One repetition on a three-node cluster (cluster3.ts; node 1 disc, nodes 2 and 3 ram):
 * 1. a fresh durable queue `ha.failover-<id>` is declared through node 2, so node 2 masters it (the disc node must
 *    stay up: in the seeds' layout it is the only metadata voter, and Warren's promotion is a metadata change), and
 *    the bench waits until both mirrors are synchronised;
 * 2. a publisher on node 1 (confirms, at most 100 in flight, FAILOVER_RATE msg/s of 1 KB persistent messages) and a
 *    consumer on node 3 (prefetch 100, one ack per message) run for a while: both are on nodes that survive;
 * 3. the master's process gets the signal (Warren: the node's own process; RabbitMQ: beam.smp) and the bench records,
 *    from that instant, when the first message *published after it* is confirmed and when the first message published
 *    after it is delivered. Counting only messages published after the kill keeps out confirms and deliveries that
 *    were already on their way from the old master. A hung master is woken (SIGCONT) once both are seen or the cap
 *    is reached ("> cap");
 * 4. the publisher stops, the consumer takes what is left, and every confirmed message that never arrived is lost.
 *
 * Publisher and consumer run in this process, so the kill and every event are on one clock (performance.now()).
 * Options move the master, the publisher and the consumers (one per listed node; the first confirm/delivery waits
 * until every consumer got a message published after the signal) elsewhere: failover-seeds.ts kills the disc node.
 */
import { randomBytes } from 'node:crypto';
import { AMQPClient, type AMQPChannel } from '@cloudamqp/amqp-client';
import { waitFor, type Cluster } from './cluster3.ts';
import { sleep } from './procs.ts';

export const FAILOVER_RATE = 1000;
const CONFIRM_WINDOW = 100;
const PREFETCH = 100;
const BODY_BYTES = 1024;
/** The publisher's timer: FAILOVER_RATE / (1000 / TICK_MS) messages per tick. */
const TICK_MS = 5;
/** How long a new queue may take to have synchronised mirrors (each check is a ctl call: seconds on a loaded host). */
const SYNC_WAIT_MS = 120_000;
/** Per consumer (one per surviving node in failover-seeds.ts). */
export interface ConsumerResult {
  node: string;
  /** Signal to this consumer's first delivery of a message published after it, ms (undefined: not within the cap). */
  deliveryMs?: number;
  received: number;
  /** The broker sent basic.cancel (ms after the signal). */
  cancelledMs?: number;
}

export type FailSignal = 'SIGKILL' | 'SIGSTOP';

export interface FailoverResult {
  broker: 'Warren' | 'RabbitMQ';
  signal: FailSignal;
  ok: boolean;
  error?: string;
  masterBefore: string;
  /** Master after the failover, asked through the disc node at the end (undefined: none or unknown). */
  masterAfter?: string;
  /** Kill to the first confirm of a message published after the kill, ms (undefined: not within the cap). */
  confirmMs?: number;
  /** Kill to the first delivery of a message published after the kill, to any consumer, ms (undefined: not within the cap). */
  deliveryMs?: number;
  /** Kill until every consumer got a message published after the kill, ms (undefined: one did not within the cap). */
  allDeliveryMs?: number;
  consumers: ConsumerResult[];
  /** Kill to the first delivery of anything (redeliveries from the new master included), ms. */
  anyDeliveryMs?: number;
  capMs: number;
  published: number;
  confirmed: number;
  nacked: number;
  received: number;
  redelivered: number;
  /** Confirmed messages that are nowhere: not delivered to the consumer and not in the queue afterwards. */
  lost: number;
  /** Confirmed messages the consumer never got but that were still in the queue afterwards (emptied with basic.get). */
  stranded: number;
  /** What the surviving nodes said about the queue and its consumers when no delivery came within the cap. */
  diagnostics?: string;
  /** The consumer got basic.cancel from the broker (ms after the signal). */
  consumerCancelledMs?: number;
  /** Messages delivered more than once (allowed by at-least-once; counted). */
  duplicated: number;
  /** Whether the publisher's connection lasted, and the consumer's connection and subscription (no basic.cancel). */
  publisherSurvived: boolean;
  consumerSurvived: boolean;
}

export interface FailoverOptions {
  signal: FailSignal;
  /** How long to wait for the first confirm and delivery after the signal before giving up. */
  capMs: number;
  /** Traffic before the signal, ms. */
  beforeMs: number;
  /** Traffic after the failover (both firsts seen, or the cap), ms. */
  afterMs: number;
  log: (s: string) => void;
  /** Node indexes: the queue's master (it gets the signal), the publisher's node, one consumer per listed node. */
  master?: number;
  publisher?: number;
  consumers?: number[];
  /** Publishing rate, msg/s (default FAILOVER_RATE). */
  rate?: number;
}

export async function runFailover(c: Cluster, o: FailoverOptions): Promise<FailoverResult> {
  const queue = `ha.failover-${randomBytes(3).toString('hex')}`;
  // default layout: master on node 2 (ram), publisher on node 1 (disc), consumer on node 3 (ram)
  const MASTER = o.master ?? 1;
  const PUB_NODE = o.publisher ?? 0;
  const CON_NODES = o.consumers ?? [2];
  const rate = o.rate ?? FAILOVER_RATE;
  const master = c.nodes[MASTER]!;
  const res: FailoverResult = {
    broker: c.kind,
    signal: o.signal,
    ok: false,
    masterBefore: master.name,
    capMs: o.capMs,
    published: 0,
    confirmed: 0,
    nacked: 0,
    received: 0,
    redelivered: 0,
    lost: 0,
    stranded: 0,
    duplicated: 0,
    publisherSurvived: false,
    consumerSurvived: false,
    consumers: CON_NODES.map((i) => ({ node: c.nodes[i]!.name, received: 0 })),
  };
  const pubAt: number[] = [];
  const confirmed = new Set<number>();
  const received = new Map<number, number>();
  let tKill = Infinity;
  /** Firsts seen after the cap are not recorded: the result is then "> cap". */
  let measuring = true;
  let stopPub = false;
  let inflight = 0;
  let pubConn: AMQPClient | undefined;
  const conConns: AMQPClient[] = [];
  let pubClosed = false;
  let conClosed = false;
  const conChannels: AMQPChannel[] = [];
  let stoppedPid: number | undefined;
  let pubLoop: Promise<void> = Promise.resolve();
  const cont = (): void => {
    if (stoppedPid === undefined) return;
    try {
      process.kill(stoppedPid, 'SIGCONT');
    } catch {
      /* gone */
    }
    stoppedPid = undefined;
  };
  try {
    if (!master.alive()) await c.restart(MASTER);
    // ---- the queue, mastered on node 2, mirrored and synchronised on nodes 1 and 3
    const admin = await new AMQPClient(master.uri).connect();
    await (await admin.channel()).queueDeclare(queue, { durable: true, autoDelete: false, exclusive: false });
    await Promise.race([admin.close(), sleep(2000)]);
    const others = c.nodes.filter((_, i) => i !== MASTER).map((n) => n.name);
    // The master's node is asked: in Warren a mirror's node lists only itself among the synchronised mirrors.
    let seen: string[] = [];
    const synced = await waitFor(async () => {
      seen = await c.syncedMirrors(queue, MASTER);
      return others.every((n) => seen.includes(n));
    }, SYNC_WAIT_MS, 500);
    if (!synced) {
      const r = await c.ctl(MASTER, ['-q', 'list_queues', 'name', 'node', 'slave_pids', 'synchronised_slave_pids'], 30_000);
      const line = r.stdout.split('\n').find((l) => l.startsWith(queue)) ?? `(no line for ${queue}; exit ${r.code}: ${r.stderr.trim().slice(0, 200)})`;
      throw new Error(`${queue} was not synchronised on ${others.join(' and ')} within ${SYNC_WAIT_MS / 1000} s (last seen synchronised: ${seen.join(', ') || 'none'}; ${c.nodes[MASTER]!.name} lists: ${line})`);
    }
    const m0 = await c.masterOf(queue, MASTER);
    if (m0 !== master.name) throw new Error(`${queue} is mastered on ${m0 ?? 'nothing'}, not on ${master.name}`);

    // ---- consumers (default: one on node 3)
    for (const [k, ci] of CON_NODES.entries()) {
      const cr = res.consumers[k]!;
      const conn = new AMQPClient(c.nodes[ci]!.uri);
      conConns.push(conn);
      await conn.connect();
      conn.onerror = () => {
        conClosed = true;
      };
      const cch = await conn.channel();
      conChannels.push(cch);
      await cch.basicQos(PREFETCH);
      const consumer = await cch.basicConsume(queue, { noAck: false }, (m) => {
        const now = performance.now();
        const body = m.body;
        if (!body || body.length < 4) return;
        const seq = new DataView(body.buffer, body.byteOffset, body.byteLength).getUint32(0);
        received.set(seq, (received.get(seq) ?? 0) + 1);
        cr.received++;
        if (m.redelivered) res.redelivered++;
        if (now > tKill && measuring) {
          res.anyDeliveryMs ??= now - tKill;
          if ((pubAt[seq] ?? 0) > tKill) {
            res.deliveryMs ??= now - tKill;
            if (cr.deliveryMs === undefined) {
              cr.deliveryMs = now - tKill;
              if (res.consumers.every((x) => x.deliveryMs !== undefined)) res.allDeliveryMs = now - tKill;
            }
          }
        }
        m.ack().catch(() => {});
      });
      consumer.wait().catch(() => {
        if (!conClosed && !cch.closed) {
          cr.cancelledMs = performance.now() - tKill;
          res.consumerCancelledMs ??= cr.cancelledMs;
        }
      });
    }

    // ---- publisher on node 1
    pubConn = new AMQPClient(c.nodes[PUB_NODE]!.uri);
    await pubConn.connect();
    pubConn.onerror = () => {
      pubClosed = true;
    };
    const pch: AMQPChannel = await pubConn.channel();
    await pch.confirmSelect();
    const body = new Uint8Array(BODY_BYTES);
    const view = new DataView(body.buffer);
    const perTick = Math.max(1, Math.round((rate * TICK_MS) / 1000));
    pubLoop = (async () => {
      let seq = 0;
      let next = performance.now();
      while (!stopPub && !pch.closed) {
        for (let k = 0; k < perTick && inflight < CONFIRM_WINDOW; k++) {
          const s = seq++;
          view.setUint32(0, s);
          pubAt[s] = performance.now();
          inflight++;
          res.published++;
          pch.basicPublish('', queue, body, { deliveryMode: 2 }).then(
            () => {
              inflight--;
              confirmed.add(s);
              const now = performance.now();
              if (pubAt[s]! > tKill && measuring) res.confirmMs ??= now - tKill;
            },
            () => {
              inflight--;
              res.nacked++;
            },
          );
        }
        next += TICK_MS;
        await sleep(Math.max(0, next - performance.now()));
      }
    })();

    await sleep(o.beforeMs);
    if (confirmed.size === 0 || received.size === 0) throw new Error(`no traffic before the ${o.signal} (confirmed ${confirmed.size}, received ${received.size})`);

    // ---- the signal
    const pid = master.vmPid();
    if (pid === undefined) throw new Error(`no process for ${master.name}`);
    tKill = performance.now();
    process.kill(pid, o.signal);
    if (o.signal === 'SIGSTOP') stoppedPid = pid;
    await waitFor(async () => res.confirmMs !== undefined && res.allDeliveryMs !== undefined, o.capMs, 10);
    measuring = false;
    cont();
    const ms = (v: number | undefined): string => (v === undefined ? `> ${o.capMs} ms` : `${v.toFixed(0)} ms`);
    o.log(
      `${c.kind} ${o.signal}: first confirm ${ms(res.confirmMs)}, first delivery ${ms(res.deliveryMs)}${CON_NODES.length > 1 ? `, every consumer ${ms(res.allDeliveryMs)}` : ''} after it`,
    );
    if (res.allDeliveryMs === undefined && res.confirmMs !== undefined) {
      // A new master confirms, but a consumer gets nothing: what do the surviving nodes say?
      const lines: string[] = [];
      for (const i of [...new Set([PUB_NODE, ...CON_NODES])]) {
        for (const args of [['-q', 'list_queues', 'name', 'node', 'messages', 'consumers'], ['-q', 'list_consumers']]) {
          const r = await c.ctl(i, args, 10_000);
          const out = r.stdout.split('\n').filter((l) => l.includes(queue)).join(' | ');
          lines.push(`${c.nodes[i]!.name} ${args.slice(1).join(' ')}: ${out || `(no line for ${queue}${r.code !== 0 ? `, exit ${r.code}` : ''})`}`);
        }
      }
      res.diagnostics = lines.join('; ');
      o.log(`${c.kind} ${o.signal}: ${res.diagnostics}`);
    }
    await sleep(o.afterMs);

    // ---- stop publishing, let the consumer take the rest, count what is missing
    stopPub = true;
    await pubLoop;
    await waitFor(async () => inflight === 0, 15_000, 50);
    const missing = (): number => [...confirmed].filter((s) => !received.has(s)).length;
    let last = -1;
    let lastChange = performance.now();
    await waitFor(async () => {
      const m = missing();
      if (m !== last) {
        last = m;
        lastChange = performance.now();
      }
      return m === 0 || performance.now() - lastChange > 5000;
    }, 30_000, 100);
    if (missing() > 0) {
      // Not delivered: still in the queue (a consumer that stopped getting deliveries) or gone (lost)? Whatever is
      // left is taken with basic.get through the publisher's node.
      const left = new Set<number>();
      const g = new AMQPClient(c.nodes[PUB_NODE]!.uri);
      const take = async (): Promise<void> => {
        await g.connect();
        const gch = await g.channel();
        for (;;) {
          const m = await gch.basicGet(queue, { noAck: true });
          if (!m?.body || m.body.length < 4) break;
          left.add(new DataView(m.body.buffer, m.body.byteOffset, m.body.byteLength).getUint32(0));
        }
        await g.close();
      };
      await Promise.race([take().catch((e: unknown) => o.log(`basic.get after the failover: ${(e as Error).message}`)), sleep(30_000)]);
      res.stranded = [...confirmed].filter((s) => !received.has(s) && left.has(s)).length;
    }
    res.lost = missing() - res.stranded;
    res.confirmed = confirmed.size;
    res.received = received.size;
    res.duplicated = [...received.values()].filter((n) => n > 1).length;
    res.publisherSurvived = !pubClosed && !pch.closed;
    res.consumerSurvived = !conClosed && conChannels.every((ch) => !ch.closed) && res.consumerCancelledMs === undefined;
    const after = await c.masterOf(queue, PUB_NODE);
    if (after !== undefined) res.masterAfter = after;
    res.ok = true;
    if (res.lost > 0) o.log(`${c.kind} ${o.signal}: ${res.lost} confirmed message(s) lost`);
    if (res.stranded > 0) o.log(`${c.kind} ${o.signal}: ${res.stranded} confirmed message(s) never delivered to the consumer, still in the queue`);
  } catch (e) {
    res.error = (e as Error).message;
    res.confirmed = confirmed.size;
    res.received = received.size;
    o.log(`${c.kind} ${o.signal}: ${res.error}`);
  } finally {
    cont();
    stopPub = true;
    await Promise.race([pubLoop, sleep(2000)]);
    for (const conn of [pubConn, ...conConns]) if (conn) await Promise.race([conn.close().catch(() => {}), sleep(2000)]);
    // The queue goes (through the disc node), the killed node comes back for the next repetition.
    const del = async (): Promise<void> => {
      const a = await new AMQPClient(c.nodes[PUB_NODE]!.uri).connect();
      await (await a.channel()).queueDelete(queue);
      await a.close();
    };
    await Promise.race([del().catch(() => {}), sleep(15_000)]);
    // RabbitMQ's start script exits shortly after its beam.smp is killed.
    if (o.signal === 'SIGKILL') await waitFor(async () => !master.alive(), 10_000, 100);
    if (!master.alive()) {
      try {
        await c.restart(MASTER);
      } catch (e) {
        res.error = `${res.error ? `${res.error}; ` : ''}restart: ${(e as Error).message}`;
      }
    }
  }
  return res;
}
