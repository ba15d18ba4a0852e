// A coverage-guided mutation fuzzer, in-process, with no dependency beyond Node.
//
// Coverage comes from V8's block coverage through node:inspector (Profiler.startPreciseCoverage with callCount and
// detailed: every basic block of the files a target names, counted). Taking coverage costs milliseconds, so it is
// taken per batch of inputs, not per input: a batch that reached no new block is done; one that did is bisected
// (each half replayed, coverage taken after it) down to the inputs that reached something new, and those join the
// corpus. The batch grows while nothing new turns up (1 .. MAX_BATCH), so a warmed-up run spends almost all its time
// executing inputs.
//
// Inputs are byte strings, mutated AFL-style (bit flips, interesting integers, inserts, deletes, copies, splices with
// another corpus entry, stacked 1-8 deep). A run is reproducible from its seed. A crash (the target threw) is
// minimised (chunks removed while the same error still comes, from half the input down to single bytes) and saved
// as a regression fixture; a hang is an input whose run took longer than hangMs.
import { Session } from 'node:inspector';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { prng } from '../cluster/fault-schedule.ts';

/** A full GC before memory is sampled, so start and end figures compare live data, not garbage not yet collected. */
function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

export interface FuzzTarget {
  readonly name: string;
  /** substrings of the script URLs whose blocks count as coverage */
  readonly cover: readonly string[];
  /** longest input tried */
  readonly maxLen: number;
  /** valid inputs to start from */
  seeds(): Buffer[];
  /** Runs one input; throws only for a bug (a refused input is a normal return). */
  run(input: Buffer): void | Promise<void>;
  /** called every so often and at the end: drop state that accumulates (connections, queues) */
  reset?(): void | Promise<void>;
  close?(): void | Promise<void>;
}

export interface FuzzOptions {
  runs: number;
  seed: number;
  /** stop after this long even if runs are left */
  maxMs?: number;
  /** a run longer than this is a hang */
  hangMs?: number;
  /** where crashes are saved (a directory per target); none: not saved */
  fixturesDir?: string;
  /** extra corpus entries (a directory of files) */
  corpusDir?: string;
  log?: (line: string) => void;
}

export interface FuzzStats {
  target: string;
  execs: number;
  ms: number;
  execsPerSec: number;
  corpus: number;
  /** blocks reached by the seeds (and saved inputs) alone */
  seedFeatures: number;
  /** blocks reached in all */
  features: number;
  crashes: Crash[];
  hangs: number;
  slowestMs: number;
  heapStartMB: number;
  heapEndMB: number;
  rssStartMB: number;
  rssEndMB: number;
}

export interface Crash {
  error: string;
  input: Buffer;
  file?: string;
}

const MAX_BATCH = 4096;
const INTERESTING_8 = [0, 1, 0x7f, 0x80, 0xff, 0xce, 0x41, 0x46];
const INTERESTING_16 = [0, 1, 0x7fff, 0x8000, 0xffff, 10, 20, 40, 50, 60, 90];
const INTERESTING_32 = [0, 1, 0x7fffffff, 0x80000000, 0xffffffff, 0x10000, 131072, 4096];

// the seeded generator the fault schedules use (mulberry32)
export { prng };

class Coverage {
  private readonly session = new Session();
  constructor() {
    this.session.connect();
    this.post('Profiler.enable');
    this.post('Profiler.startPreciseCoverage', { callCount: true, detailed: true });
  }

  private post(method: string, params?: object): any {
    let out: any;
    let error: Error | null = null;
    // a same-thread session answers synchronously
    this.session.post(method, params ?? {}, (err, res) => {
      error = err;
      out = res;
    });
    if (error) throw error;
    return out;
  }

  /** every range V8 ever reported per function ("url:start"): the blocks known so far */
  private readonly blocks = new Map<string, { start: number; end: number }[]>();
  private readonly blockKeys = new Set<string>();

  /**
   * Blocks run since the last call, in scripts whose URL contains one of `cover`, as "url:start:end" keys (a function's
   * own range counts as a block). V8 leaves out a nested range whose count equals its parent's, so the ranges of one
   * report do not name every block run: a block is any range ever reported, and it ran if its function ran and no
   * range with count 0 in this report contains it.
   */
  take(cover: readonly string[]): string[] {
    const res = this.post('Profiler.takePreciseCoverage') as { result: { url: string; functions: { ranges: { startOffset: number; endOffset: number; count: number }[] }[] }[] };
    const out: string[] = [];
    for (const script of res.result) {
      if (!cover.some((c) => script.url.includes(c))) continue;
      for (const fn of script.functions) {
        const ranges = fn.ranges;
        if (ranges.length === 0 || ranges[0]!.count === 0) continue;
        const fnKey = `${script.url}:${ranges[0]!.startOffset}`;
        let known = this.blocks.get(fnKey);
        if (known === undefined) this.blocks.set(fnKey, (known = []));
        for (const r of ranges) {
          const k = `${fnKey}:${r.startOffset}:${r.endOffset}`;
          if (!this.blockKeys.has(k)) {
            this.blockKeys.add(k);
            known.push({ start: r.startOffset, end: r.endOffset });
          }
        }
        for (const b of known) {
          let ran = true;
          for (let i = 1; i < ranges.length; i++) {
            const r = ranges[i]!;
            if (r.count === 0 && r.startOffset <= b.start && b.end <= r.endOffset) {
              ran = false;
              break;
            }
          }
          if (ran) out.push(`${fnKey}:${b.start}:${b.end}`);
        }
      }
    }
    return out;
  }

  close(): void {
    this.post('Profiler.stopPreciseCoverage');
    this.post('Profiler.disable');
    this.session.disconnect();
  }
}

export class Fuzzer {
  private readonly target: FuzzTarget;
  private readonly opts: FuzzOptions;
  private readonly rand: () => number;
  private readonly corpus: Buffer[] = [];
  private readonly seen = new Set<string>();
  private readonly crashKeys = new Set<string>();
  private readonly crashes: Crash[] = [];
  private hangs = 0;
  private slowest = 0;
  private coverage: Coverage | null = null;

  constructor(target: FuzzTarget, opts: FuzzOptions) {
    this.target = target;
    this.opts = opts;
    this.rand = prng(opts.seed);
  }

  async run(): Promise<FuzzStats> {
    const log = this.opts.log ?? (() => {});
    const t = this.target;
    this.coverage = new Coverage();
    const start = performance.now();
    const deadline = this.opts.maxMs === undefined ? Infinity : start + this.opts.maxMs;
    let execs = 0;
    try {
      // the seeds, and saved fixtures and corpus, one by one: each that reaches something new is kept
      const initial = [...t.seeds(), ...this.load(this.opts.fixturesDir), ...this.load(this.opts.corpusDir)];
      this.coverage.take(t.cover);
      for (const input of initial) {
        await this.exec(input);
        execs++;
        this.learn(input, this.coverage.take(t.cover), true);
      }
      if (this.corpus.length === 0) this.corpus.push(Buffer.alloc(0));
      const seedFeatures = this.seen.size;
      collectGarbage();
      const mem0 = process.memoryUsage();
      let batchSize = 1;
      let lastLog = performance.now();
      const batch: Buffer[] = [];
      while (execs < this.opts.runs && performance.now() < deadline) {
        batch.length = 0;
        const n = Math.min(batchSize, this.opts.runs - execs);
        for (let i = 0; i < n; i++) {
          const input = this.mutate();
          batch.push(input);
          await this.exec(input);
        }
        execs += n;
        const blocks = this.coverage.take(t.cover);
        if (blocks.some((b) => !this.seen.has(b))) {
          await this.bisect(batch, 0, batch.length, blocks);
          batchSize = Math.max(1, batchSize >> 1);
        } else {
          batchSize = Math.min(MAX_BATCH, batchSize * 2);
        }
        if (execs % 100_000 < n) await t.reset?.();
        const now = performance.now();
        if (now - lastLog > 10_000) {
          lastLog = now;
          log(`${t.name}: ${execs} execs, ${Math.round(execs / ((now - start) / 1000))}/s, corpus ${this.corpus.length}, blocks ${this.seen.size}, crashes ${this.crashes.length}, hangs ${this.hangs}, heap ${mb(process.memoryUsage().heapUsed)} MB`);
        }
      }
      await t.reset?.();
      collectGarbage();
      const mem1 = process.memoryUsage();
      const ms = performance.now() - start;
      return {
        target: t.name,
        execs,
        ms,
        execsPerSec: Math.round(execs / (ms / 1000)),
        corpus: this.corpus.length,
        seedFeatures,
        features: this.seen.size,
        crashes: this.crashes,
        hangs: this.hangs,
        slowestMs: Math.round(this.slowest),
        heapStartMB: mb(mem0.heapUsed),
        heapEndMB: mb(mem1.heapUsed),
        rssStartMB: mb(mem0.rss),
        rssEndMB: mb(mem1.rss),
      };
    } finally {
      this.coverage.close();
      this.coverage = null;
    }
  }

  /** The corpus entries kept (after a run): each reached blocks no smaller entry reached. */
  get entries(): readonly Buffer[] {
    return this.corpus;
  }

  /**
   * Finds the inputs of batch[lo, hi) that reached new blocks (`blocks`: what the range reached together): one alone
   * is kept; a range is split in halves, each replayed with coverage taken after it, and a half that reached nothing
   * new is dropped. A few dozen coverage takes for a batch of thousands with one new input in it.
   */
  private async bisect(batch: Buffer[], lo: number, hi: number, blocks: string[]): Promise<void> {
    if (!blocks.some((b) => !this.seen.has(b))) return;
    if (hi - lo === 1) {
      this.learn(batch[lo]!, blocks, false);
      return;
    }
    const mid = (lo + hi) >> 1;
    for (const [a, b] of [[lo, mid], [mid, hi]] as const) {
      for (let i = a; i < b; i++) await this.exec(batch[i]!);
      await this.bisect(batch, a, b, this.coverage!.take(this.target.cover));
    }
  }

  private learn(input: Buffer, blocks: string[], always: boolean): void {
    let fresh = false;
    for (const b of blocks) {
      if (!this.seen.has(b)) {
        this.seen.add(b);
        fresh = true;
      }
    }
    if (fresh || (always && this.corpus.length === 0)) this.corpus.push(input);
  }

  private async exec(input: Buffer): Promise<void> {
    const t0 = performance.now();
    try {
      const r = this.target.run(input);
      if (r !== undefined) await r;
    } catch (err) {
      await this.crashed(input, err);
    }
    const dt = performance.now() - t0;
    if (dt > this.slowest) this.slowest = dt;
    if (dt > (this.opts.hangMs ?? 2000)) {
      this.hangs++;
      this.save(input, `hang-${Math.round(dt)}ms`);
    }
  }

  private async crashed(input: Buffer, err: unknown): Promise<void> {
    const sig = signature(err);
    if (this.crashKeys.has(sig)) return;
    this.crashKeys.add(sig);
    const small = await this.minimise(input, sig);
    const crash: Crash = { error: describe(err), input: small };
    const file = this.save(small, 'crash');
    if (file !== undefined) crash.file = file;
    this.crashes.push(crash);
    this.opts.log?.(`${this.target.name}: CRASH ${crash.error.split('\n')[0]} (${small.length} bytes${file ? `, saved as ${file}` : ''})`);
  }

  /** Removes chunks, halving their size down to one byte, while the input still fails with the same signature. */
  private async minimise(input: Buffer, sig: string): Promise<Buffer> {
    let cur = input;
    const fails = async (b: Buffer): Promise<boolean> => {
      try {
        const r = this.target.run(b);
        if (r !== undefined) await r;
        return false;
      } catch (err) {
        return signature(err) === sig;
      }
    };
    for (let chunk = Math.max(1, cur.length >> 1); chunk >= 1; chunk >>= 1) {
      for (let at = 0; at < cur.length; ) {
        const cand = Buffer.concat([cur.subarray(0, at), cur.subarray(at + chunk)]);
        if (await fails(cand)) cur = cand;
        else at += chunk;
      }
    }
    return cur;
  }

  private save(input: Buffer, kind: string): string | undefined {
    const dir = this.opts.fixturesDir;
    if (dir === undefined) return undefined;
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `${kind}-${createHash('sha1').update(input).digest('hex').slice(0, 12)}.bin`);
    writeFileSync(file, input);
    return file;
  }

  private load(dir: string | undefined): Buffer[] {
    if (dir === undefined || !existsSync(dir)) return [];
    return readdirSync(dir).sort().map((f) => readFileSync(join(dir, f)));
  }

  // ---- mutation

  private int(n: number): number {
    return Math.floor(this.rand() * n);
  }

  private mutate(): Buffer {
    const base = this.corpus[this.int(this.corpus.length)]!;
    let b: Buffer = Buffer.from(base);
    const stack = 1 << this.int(4);
    for (let i = 0; i < stack; i++) b = this.mutateOnce(b);
    return b.length > this.target.maxLen ? b.subarray(0, this.target.maxLen) : b;
  }

  private mutateOnce(b: Buffer): Buffer {
    const len = b.length;
    const pos = (): number => this.int(Math.max(1, len));
    switch (this.int(len === 0 ? 2 : 11)) {
      case 0:
      case 1: {
        // insert random bytes
        const at = this.int(len + 1);
        const ins = Buffer.alloc(1 + this.int(8));
        for (let i = 0; i < ins.length; i++) ins[i] = this.int(256);
        return Buffer.concat([b.subarray(0, at), ins, b.subarray(at)]);
      }
      case 2: {
        const p = pos();
        b[p] = b[p]! ^ (1 << this.int(8));
        return b;
      }
      case 3:
        b[pos()] = INTERESTING_8[this.int(INTERESTING_8.length)]!;
        return b;
      case 4:
        b[pos()] = this.int(256);
        return b;
      case 5: {
        if (len < 2) return b;
        const p = this.int(len - 1);
        b.writeUInt16BE(INTERESTING_16[this.int(INTERESTING_16.length)]!, p);
        return b;
      }
      case 6: {
        if (len < 4) return b;
        const p = this.int(len - 3);
        const v = this.rand() < 0.5 ? INTERESTING_32[this.int(INTERESTING_32.length)]! : (b.readUInt32BE(p) + this.int(33) - 16) >>> 0;
        b.writeUInt32BE(v >>> 0, p);
        return b;
      }
      case 7: {
        // delete a range
        const a = pos();
        const n = 1 + this.int(Math.min(16, len - a));
        return Buffer.concat([b.subarray(0, a), b.subarray(a + n)]);
      }
      case 8: {
        // copy a range elsewhere (repeats structure: nested tables, repeated frames)
        const a = pos();
        const n = 1 + this.int(Math.min(64, len - a));
        const at = this.int(len + 1);
        return Buffer.concat([b.subarray(0, at), b.subarray(a, a + n), b.subarray(at)]);
      }
      case 9: {
        // splice with another corpus entry
        const other = this.corpus[this.int(this.corpus.length)]!;
        if (other.length === 0) return b;
        const cut = pos();
        const from = this.int(other.length);
        return Buffer.concat([b.subarray(0, cut), other.subarray(from)]);
      }
      default:
        // truncate
        return b.subarray(0, pos());
    }
  }
}

function signature(err: unknown): string {
  if (err instanceof Error) {
    // the error type and the first frame of the stack inside the project
    const frame = (err.stack ?? '').split('\n').find((l) => l.includes('/packages/')) ?? '';
    return `${err.name}: ${frame.trim()}`;
  }
  return String(err);
}

function describe(err: unknown): string {
  return err instanceof Error ? (err.stack ?? err.message) : String(err);
}

function mb(n: number): number {
  return Math.round(n / 1024 / 1024);
}
