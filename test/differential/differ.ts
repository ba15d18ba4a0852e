// Runs a sequence on both brokers, compares what the client observed, and turns a difference into a minimal sequence
// printed as a ready-to-paste test.
//
// A difference counts only when it is stable: the sequence is run again on both, and if RabbitMQ disagrees with
// itself (a race between a consumer's delivery and another connection's operation, a TTL at the edge of its
// tolerance) the sequence is reported as nondeterministic, not as a difference.
import { randomBytes } from 'node:crypto';
import { generate, type Op } from './ops.ts';
import { Runner, createVhost, deleteVhost, type Target } from './runner.ts';

export interface Outcome {
  /** first differing line, or null */
  diff: { index: number; warren: string | undefined; rabbit: string | undefined } | null;
  warren: string[];
  rabbit: string[];
}

/**
 * Vhosts ready for a sequence, per broker. Creating and deleting a vhost costs RabbitMQ more than running a sequence
 * (it starts and stops the vhost's message stores), so a vhost is emptied after its sequence (Runner.run, see
 * emptyVhost) and used again; one that could not be emptied is deleted.
 */
const idle = new Map<Target, string[]>();

async function takeVhost(t: Target): Promise<string> {
  const v = idle.get(t)?.pop();
  if (v !== undefined) return v;
  const vhost = `diff-${randomBytes(4).toString('hex')}`;
  await createVhost(t, vhost);
  return vhost;
}

/** Deletes the vhosts kept for reuse (at the end of a run). */
export async function dropVhosts(t: Target): Promise<void> {
  for (const v of idle.get(t)?.splice(0) ?? []) await deleteVhost(t, v);
}

export async function observe(t: Target, ops: Op[], paceMs = 0): Promise<string[]> {
  const vhost = await takeVhost(t);
  const runner = new Runner(t, vhost, paceMs);
  try {
    return await runner.run(ops);
  } finally {
    if (runner.emptied) {
      let l = idle.get(t);
      if (!l) idle.set(t, (l = []));
      l.push(vhost);
    } else await deleteVhost(t, vhost);
  }
}

export function firstDiff(a: string[], b: string[]): Outcome['diff'] {
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return { index: i, warren: a[i], rabbit: b[i] };
  return null;
}

export async function compare(warren: Target, rabbit: Target, ops: Op[]): Promise<Outcome> {
  const [w, r] = await Promise.all([observe(warren, ops), observe(rabbit, ops)]);
  return { diff: firstDiff(w, r), warren: w, rabbit: r };
}

/**
 * A difference that shows again on further runs, where RabbitMQ agrees with itself. Outcomes that depend on timing
 * (a 150 ms TTL against the time the next operations take on a loaded machine) get a tolerance: the sequence is run up
 * to RERUNS more times on both, and if Warren's observation ever equals one of RabbitMQ's, or RabbitMQ's ever changes,
 * it is nondeterministic, not a difference.
 */
const RERUNS = 3;

export async function stableDiff(warren: Target, rabbit: Target, ops: Op[]): Promise<Outcome | 'nondeterministic' | null> {
  const first = await compare(warren, rabbit, ops);
  if (first.diff === null) return null;
  const seenWarren = [first.warren];
  for (let i = 0; i < RERUNS; i++) {
    const [w, r] = await Promise.all([observe(warren, ops), observe(rabbit, ops)]);
    if (firstDiff(first.rabbit, r) !== null) return 'nondeterministic';
    seenWarren.push(w);
    if (seenWarren.some((x) => firstDiff(x, r) === null)) return 'nondeterministic';
  }
  if (hasShortTimers(ops)) {
    // the same sequence with a pause longer than every short timer after each operation: what expires between two
    // operations is then the same on both whatever the load; if they agree that way, the difference was one of speed
    // (RabbitMQ at load 40 takes longer than 150 ms for a few operations that Warren does in less)
    const [w, r] = await Promise.all([observe(warren, ops, PACE_MS), observe(rabbit, ops, PACE_MS)]);
    if (firstDiff(w, r) === null) return 'nondeterministic';
  }
  return first;
}

/** longer than the generator's short timers (150 ms TTL and expiration, 1 ms x-expires) with a margin */
const PACE_MS = 400;

/** whether the outcome can depend on how long operations take: short TTLs, expirations, queue expiry, waits */
export function hasShortTimers(ops: Op[]): boolean {
  return ops.some((op) => {
    if (op.t === 'wait') return true;
    if (op.t === 'qdecl') {
      const ttl = op.args['x-message-ttl'];
      const exp = op.args['x-expires'];
      return (typeof ttl === 'number' && ttl > 0 && ttl < 10_000) || (typeof exp === 'number' && exp > 0 && exp < 10_000);
    }
    if (op.t === 'pub') {
      const e = Number(op.props.expiration);
      return e > 0 && e < 10_000;
    }
    return false;
  });
}

/** Removes operations (halves, quarters, ... single ones) while a stable difference remains. */
export async function shrink(warren: Target, rabbit: Target, ops: Op[], log: (s: string) => void = () => {}): Promise<{ ops: Op[]; outcome: Outcome }> {
  let cur = ops;
  let best = await stableDiff(warren, rabbit, cur);
  if (best === null || best === 'nondeterministic') throw new Error('no stable difference to shrink');
  let chunk = Math.max(1, Math.floor(cur.length / 2));
  while (chunk >= 1) {
    let removed = false;
    for (let i = 0; i + chunk <= cur.length; ) {
      const cand = [...cur.slice(0, i), ...cur.slice(i + chunk)];
      const o = cand.length === 0 ? null : await stableDiff(warren, rabbit, cand);
      if (o !== null && o !== 'nondeterministic') {
        cur = cand;
        best = o;
        removed = true;
        log(`  shrunk to ${cur.length} operations`);
      } else i += chunk;
    }
    if (!removed) chunk = Math.floor(chunk / 2);
  }
  return { ops: cur, outcome: best };
}

/** The shrunk sequence as a test that runs it on Warren alone and expects what RabbitMQ 3.10 did. */
export function asTest(ops: Op[], outcome: Outcome, title: string): string {
  const d = outcome.diff!;
  return [
    `it(${JSON.stringify(`matches RabbitMQ 3.10: ${title}`)}, async () => {`,
    `  // Warren: ${JSON.stringify(d.warren ?? '(nothing)')}`,
    `  // RabbitMQ: ${JSON.stringify(d.rabbit ?? '(nothing)')}`,
    `  const ops: Op[] = ${JSON.stringify(ops, null, 2).replace(/\n/g, '\n  ')};`,
    `  expect(await observe(warren, ops)).toEqual(${JSON.stringify(outcome.rabbit, null, 2).replace(/\n/g, '\n  ')});`,
    `});`,
  ].join('\n');
}

export interface SoakResult {
  ran: number;
  differences: { seed: number; test: string; diff: Outcome['diff'] }[];
  nondeterministic: number[];
}

/** Runs seeds [from, from + count); shrinks and prints every stable difference. */
export async function soak(warren: Target, rabbit: Target, from: number, count: number, o: { length?: number; log?: (s: string) => void; shrinkDiffs?: boolean; parallel?: number; seeds?: number[] } = {}): Promise<SoakResult> {
  const log = o.log ?? (() => {});
  const res: SoakResult = { ran: 0, differences: [], nondeterministic: [] };
  let next = from;
  // sequences run side by side in vhosts of their own: the brokers and the client mostly wait on each other
  const worker = async (): Promise<void> => {
    if (o.seeds !== undefined) while (o.seeds.length > 0) await one(o.seeds.shift()!);
    else while (next < from + count) await one(next++);
  };
  const one = async (seed: number): Promise<void> => {
    const ops = generate(seed, o.length ?? 30);
    const out = await stableDiff(warren, rabbit, ops);
    res.ran++;
    if (out === null) return;
    if (out === 'nondeterministic') {
      res.nondeterministic.push(seed);
      log(`seed ${seed}: nondeterministic (RabbitMQ disagrees with itself, or the outcome depends on timing), skipped`);
      return;
    }
    log(`seed ${seed}: difference at line ${out.diff!.index}\n  Warren:   ${out.diff!.warren}\n  RabbitMQ: ${out.diff!.rabbit}`);
    if (o.shrinkDiffs === false) {
      res.differences.push({ seed, test: asTest(ops, out, `seed ${seed}`), diff: out.diff });
      return;
    }
    try {
      const s = await shrink(warren, rabbit, ops, log);
      const test = asTest(s.ops, s.outcome, `seed ${seed}`);
      log(test);
      res.differences.push({ seed, test, diff: s.outcome.diff });
    } catch {
      // the difference went away while shrinking: it depended on timing after all
      res.nondeterministic.push(seed);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, o.parallel ?? 1) }, worker));
  return res;
}
