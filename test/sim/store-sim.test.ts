// The segment store alone on the simulated disc (sim-fs.ts), seeded: publishers append and wait for confirms,
// consumers remove, the disc fails writes and syncs (ENOSPC, EIO, short writes) in windows, and the process crashes
// (unsynced bytes dropped, a random prefix kept, or the last write torn) and restarts on what the disc kept. After
// every restart: each message confirmed and not removed is recovered with its exact body, and nothing recovered is
// a message that was never published (a torn or stale record read as a message).
//   npx vitest run test/sim/store-sim.test.ts                          quick: 100 schedules
//   WARREN_STORE_SIM_SCHEDULES=5000 npx vitest run test/sim/store-sim.test.ts    soak
//   WARREN_STORE_SIM_SEED=123 ...                                      one seed
import { describe, expect, it } from 'vitest';
import { SeededRandom } from '@warren/cluster-peer';
import { SegmentStore } from '../../packages/broker/src/store/segment-store.ts';
import type { QueueStore } from '../../packages/broker/src/store/message-store.ts';
import { Message } from '../../packages/broker/src/queue/message.ts';
import { NO_FAULTS, SimFs } from './sim-fs.ts';

const DIR = '/data/msgs';

function body(n: number, rng: SeededRandom): Buffer {
  const len = 16 + (rng.uint32() % 3000);
  const b = Buffer.alloc(len);
  b.write(`#${n};`, 0, 'latin1');
  for (let i = Math.min(len, String(n).length + 2); i < len; i++) b[i] = (n * 31 + i * 7) & 0xff;
  return b;
}

/** Runs one schedule; returns a list of violations (empty when every invariant held). */
async function schedule(seed: number): Promise<{ violations: string[]; confirmed: number; nacked: number; crashes: number; faults: number }> {
  const rng = new SeededRandom(seed);
  let fs = new SimFs(new SeededRandom((seed ^ 0x5151) >>> 0));
  const log: string[] = [];
  let store = new SegmentStore(DIR, { fs, log: (l) => log.push(l) });
  let q: QueueStore = store.openQueue('/', 'q');
  const bodies = new Map<number, Buffer>(); // message number -> body, every message ever appended
  const idOf = new Map<number, number>(); // message number -> store id, in this incarnation
  const confirmed = new Set<number>(); // confirmed and not removed
  const removed = new Set<number>();
  const violations: string[] = [];
  let next = 1;
  let nacked = 0;
  let crashes = 0;
  let confirmedTotal = 0;
  const steps = 20 + (rng.uint32() % 60);
  for (let step = 0; step < steps && violations.length === 0; step++) {
    const roll = rng.uint32() % 100;
    if (roll < 15) {
      fs.faults = rng.float() < 0.5 ? { enospc: 0.4, eio: 0.1, short: 0.3 } : NO_FAULTS;
    }
    if (roll < 8) {
      // crash: unsynced bytes dropped (or a prefix kept, or the last write torn); restart on what the disc kept
      crashes++;
      fs = fs.crashCopy();
      fs.faults = NO_FAULTS;
      store = new SegmentStore(DIR, { fs, log: (l) => log.push(l) });
      q = store.openQueue('/', 'q');
      idOf.clear();
      const seen = new Set<number>();
      for (const r of q.recover()) {
        const m = /^#(\d+);/.exec(r.msg.body.toString('latin1', 0, 16));
        const n = m === null ? -1 : Number(m[1]);
        if (n < 0 || !bodies.has(n) || !r.msg.body.equals(bodies.get(n)!)) {
          violations.push(`seed ${seed}: recovered a message that was never published as such (${r.msg.body.length} bytes)`);
          continue;
        }
        seen.add(n);
        idOf.set(n, r.id);
      }
      for (const n of confirmed) if (!seen.has(n)) violations.push(`seed ${seed}: confirmed message #${n} lost after crash ${crashes}`);
      // what was confirmed and acked may come back (a lost ack): remove it again
      for (const n of seen) if (removed.has(n)) q.remove(idOf.get(n)!);
      continue;
    }
    // a batch of publishes, waiting for its confirm (or nack)
    const batch: number[] = [];
    const count = 1 + (rng.uint32() % 20);
    for (let i = 0; i < count; i++) {
      const n = next++;
      const b = body(n, rng);
      bodies.set(n, b);
      idOf.set(n, q.append(new Message('', 'q', { deliveryMode: 2 }, null, b, 1_700_000_000_000)));
      batch.push(n);
    }
    // consumers ack some confirmed messages
    for (const n of [...confirmed]) {
      if (rng.float() < 0.3) {
        const id = idOf.get(n);
        if (id !== undefined) q.remove(id);
        confirmed.delete(n);
        removed.add(n);
      }
    }
    const ok = await new Promise<boolean>((resolve) => store.whenDurable({ onDurable: () => resolve(true), onNack: () => resolve(false) }, 0));
    if (ok) {
      for (const n of batch) confirmed.add(n);
      confirmedTotal += batch.length;
    } else nacked += batch.length;
  }
  await store.close();
  return { violations, confirmed: confirmedTotal, nacked, crashes, faults: fs.injected.enospc + fs.injected.eio + fs.injected.short };
}

describe('segment store on a disc that loses unsynced writes and fails', () => {
  it('never loses a confirmed message, never recovers a torn one', { timeout: 600_000 }, async () => {
    const one = process.env['WARREN_STORE_SIM_SEED'];
    const first = Number(process.env['WARREN_STORE_SIM_FIRST_SEED'] ?? 1);
    const n = one !== undefined ? 1 : Number(process.env['WARREN_STORE_SIM_SCHEDULES'] ?? 100);
    const seeds = one !== undefined ? [Number(one)] : Array.from({ length: n }, (_, i) => first + i);
    const t0 = Date.now();
    const totals = { confirmed: 0, nacked: 0, crashes: 0, faults: 0 };
    const failed: string[] = [];
    for (const seed of seeds) {
      const r = await schedule(seed);
      totals.confirmed += r.confirmed;
      totals.nacked += r.nacked;
      totals.crashes += r.crashes;
      totals.faults += r.faults;
      if (r.violations.length > 0) failed.push(...r.violations.slice(0, 3));
      if (failed.length >= 10) break;
    }
    console.log(
      `store-sim: ${seeds.length} schedules in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${totals.confirmed} confirmed, ${totals.nacked} nacked, ` +
        `${totals.crashes} crashes, ${totals.faults} disc faults; failures: ${failed.length}`,
    );
    expect(failed).toEqual([]);
  });
});
