// Routing and the confirm rule alone, two checkouts side by side in one process: each side's VHost.publish (the
// routing loop that decides, per queue, what a publisher confirm waits for) over in-memory stores, publishing 1 KB
// persistent messages with a confirm waiter to a durable queue on this node and to one "on another node" (its
// forward is a no-op here), alternating A B, B A, ... so the machine's load hits both alike; prints each pair, the
// medians and the median of the paired ratios. For changes on the publish path too small to show through sockets
// on a loaded machine (bench:ab measures the whole broker).
//   node --conditions=warren-source --import tsx bench/src/route-ab.ts --base /path/to/other/checkout [--reps 8] [--messages 200000]
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { base: { type: 'string' }, reps: { type: 'string' }, messages: { type: 'string' } } });
if (values.base === undefined) throw new Error('--base <checkout> is required');
const REPS = Number(values.reps ?? 8);
const MESSAGES = Number(values.messages ?? 200_000);
/** ready messages dropped (purge) every so often, as consumers would take them */
const PURGE_EVERY = 5_000;

interface Queue {
  purge(): number;
}
interface VHost {
  declareQueue(d: Record<string, unknown>): Queue;
  getExchange(name: string): unknown;
  publish(ex: unknown, msg: unknown, waiter: unknown, token: number): { routed: number; needsDisk: boolean; remoteWaits: number };
  bind(source: unknown, destination: Queue, routingKey: string, args: object): void;
}
type Side = {
  name: string;
  VHost: new (name: string, ctx: unknown) => VHost;
  Message: new (...a: unknown[]) => unknown;
  MemoryStore: new () => unknown;
  Defs: new () => unknown;
};

async function load(root: string, name: string): Promise<Side> {
  const src = join(root, 'packages/broker/src');
  const vh = (await import(join(src, 'server/vhost.ts'))) as { VHost: Side['VHost'] };
  const msg = (await import(join(src, 'queue/message.ts'))) as { Message: Side['Message'] };
  const ms = (await import(join(src, 'store/memory-store.ts'))) as { MemoryStore: Side['MemoryStore'] };
  const ds = (await import(join(src, 'store/definitions-store.ts'))) as { MemoryDefinitionsStore: Side['Defs'] };
  return { name, VHost: vh.VHost, Message: msg.Message, MemoryStore: ms.MemoryStore, Defs: ds.MemoryDefinitionsStore };
}

const waiter = { onDurable(): void {}, onNack(): void {} };

function run(side: Side): number {
  const ctx = {
    localNode: 'rabbit@here',
    forward: () => true,
    queueMoved: () => {},
    queueMirrorsChanged: () => {},
    queueUnused: () => {},
    messageStore: new side.MemoryStore(),
    definitions: new side.Defs(),
    now: () => Date.now(),
    log: () => {},
  };
  const vh = new side.VHost('/', ctx);
  const decl = { durable: true, exclusive: false, autoDelete: false, arguments: {}, passive: false, owner: 0 };
  const here = vh.declareQueue({ ...decl, name: 'here' });
  const there = vh.declareQueue({ ...decl, name: 'there', node: 'rabbit@there' });
  const ex = vh.getExchange('amq.fanout');
  vh.bind(ex, here, '', {});
  vh.bind(ex, there, '', {});
  const body = Buffer.alloc(1024, 120);
  const t0 = performance.now();
  let disk = 0;
  for (let i = 0; i < MESSAGES; i++) {
    const r = vh.publish(ex, new side.Message('amq.fanout', '', { deliveryMode: 2 }, null, body, 0), waiter, i + 1);
    if (r.needsDisk) disk += r.remoteWaits + 1;
    if (i % PURGE_EVERY === 0) here.purge();
  }
  const rate = MESSAGES / ((performance.now() - t0) / 1000);
  if (disk !== MESSAGES * 2) throw new Error(`${side.name}: expected every publish to wait for the disc and the other node (got ${disk} waits)`);
  return rate;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

const A = await load(resolve(values.base), 'A');
const B = await load(resolve(import.meta.dirname, '..', '..'), 'B');
run(A);
run(B); // warm-up
const a: number[] = [];
const b: number[] = [];
for (let i = 0; i < REPS; i++) {
  const order = i % 2 === 0 ? [A, B] : [B, A];
  const r: Record<string, number> = {};
  for (const side of order) r[side.name] = run(side);
  a.push(r['A']!);
  b.push(r['B']!);
  console.log(`pair ${i + 1}: A ${(r['A']! / 1000).toFixed(1)}k, B ${(r['B']! / 1000).toFixed(1)}k msg/s`);
}
const ratios = a.map((x, i) => b[i]! / x);
console.log(
  `VHost.publish, ${MESSAGES} x 1 KB persistent with a waiter to a durable queue here and one elsewhere: A ${(median(a) / 1000).toFixed(1)}k, B ${(median(b) / 1000).toFixed(1)}k msg/s (medians); B/A paired median ${median(ratios).toFixed(3)} (${ratios.map((x) => x.toFixed(2)).join(' ')})`,
);
