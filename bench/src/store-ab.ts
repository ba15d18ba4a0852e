// The message store alone, two checkouts side by side: appends persistent messages through each checkout's
// SegmentStore (group commits, a confirm waiter per batch, acks of consumed messages), alternating A B, B A, ... so
// the machine's load hits both alike; prints each pair, the medians and the median of the paired ratios, in messages
// per second of wall time and in CPU time per message (this process's user + system time, the thread pool's writes
// included: on a loaded machine the wall-clock rate mostly measures the other processes, the CPU time much less).
//   node --conditions=warren-source --import tsx bench/src/store-ab.ts --base /path/to/other/checkout [--reps 8] [--messages 40000] [--size 1024]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { base: { type: 'string' }, reps: { type: 'string' }, messages: { type: 'string' }, size: { type: 'string' } } });
if (values.base === undefined) throw new Error('--base <checkout> is required');
const REPS = Number(values.reps ?? 8);
const MESSAGES = Number(values.messages ?? 40_000);
const SIZE = Number(values.size ?? 1024);
const BATCH = 200;

interface Store {
  openQueue(vhost: string, name: string): { append(m: unknown): number; remove(id: number): void };
  whenDurable(w: { onDurable(t: number): void; onNack?(t: number): void }, t: number): void;
  close(): Promise<void>;
}
type Side = { name: string; Store: new (dir: string) => Store; Message: new (...a: unknown[]) => unknown };

async function load(root: string, name: string): Promise<Side> {
  const seg = (await import(join(root, 'packages/broker/src/store/segment-store.ts'))) as { SegmentStore: Side['Store'] };
  const msg = (await import(join(root, 'packages/broker/src/queue/message.ts'))) as { Message: Side['Message'] };
  return { name, Store: seg.SegmentStore, Message: msg.Message };
}

async function run(side: Side): Promise<{ rate: number; cpuUs: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'warren-store-ab-'));
  const store = new side.Store(dir);
  const q = store.openQueue('/', 'bench');
  const body = Buffer.alloc(SIZE, 120);
  const ids: number[] = [];
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  for (let sent = 0; sent < MESSAGES; sent += BATCH) {
    for (let i = 0; i < BATCH; i++) ids.push(q.append(new side.Message('', 'bench', { deliveryMode: 2 }, null, body, Date.now())));
    // consumers ack what was confirmed a batch ago
    if (ids.length > 2 * BATCH) for (const id of ids.splice(0, BATCH)) q.remove(id);
    await new Promise<void>((r) => store.whenDurable({ onDurable: () => r(), onNack: () => r() }, 0));
  }
  const rate = MESSAGES / ((performance.now() - t0) / 1000);
  const c = process.cpuUsage(c0);
  await store.close();
  rmSync(dir, { recursive: true, force: true });
  return { rate, cpuUs: (c.user + c.system) / MESSAGES };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

const A = await load(resolve(values.base), 'A');
const B = await load(resolve(import.meta.dirname, '..', '..'), 'B');
await run(A);
await run(B); // warm-up
const a: number[] = [];
const b: number[] = [];
const ac: number[] = [];
const bc: number[] = [];
for (let i = 0; i < REPS; i++) {
  const order = i % 2 === 0 ? [A, B] : [B, A];
  const r: Record<string, { rate: number; cpuUs: number }> = {};
  for (const side of order) r[side.name] = await run(side);
  a.push(r['A']!.rate);
  b.push(r['B']!.rate);
  ac.push(r['A']!.cpuUs);
  bc.push(r['B']!.cpuUs);
  console.log(`pair ${i + 1}: A ${(r['A']!.rate / 1000).toFixed(1)}k msg/s ${r['A']!.cpuUs.toFixed(2)} µs CPU/msg, B ${(r['B']!.rate / 1000).toFixed(1)}k msg/s ${r['B']!.cpuUs.toFixed(2)} µs CPU/msg`);
}
const ratios = a.map((x, i) => b[i]! / x);
const cpuRatios = ac.map((x, i) => x / bc[i]!);
console.log(`segment store, ${MESSAGES} x ${SIZE} B persistent, batches of ${BATCH}: A ${(median(a) / 1000).toFixed(1)}k, B ${(median(b) / 1000).toFixed(1)}k msg/s (medians); B/A paired median ${median(ratios).toFixed(3)} (${ratios.map((x) => x.toFixed(2)).join(' ')})`);
console.log(`CPU per message: A ${median(ac).toFixed(2)} µs, B ${median(bc).toFixed(2)} µs (medians); throughput per CPU B/A paired median ${median(cpuRatios).toFixed(3)} (${cpuRatios.map((x) => x.toFixed(2)).join(' ')}); load average ${(await import('node:os')).loadavg()[0]!.toFixed(1)}`);
