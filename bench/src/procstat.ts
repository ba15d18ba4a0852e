/** Reads RSS and CPU time of a process (and, optionally, its descendants) from /proc. */
import { readFileSync, readdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

let clkTck = 100;
try {
  clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
} catch {
  /* keep the Linux default */
}
const PAGE = 4096;

export interface ProcSample {
  /** CPU seconds (user + system) used so far. */
  cpuSec: number;
  /** Resident set size in bytes. */
  rssBytes: number;
  /** Monotonic time of the sample, in seconds. */
  at: number;
}

function statFields(pid: number): string[] | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name is in parentheses and may contain spaces: split after the last ')'.
    const rest = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return rest; // rest[0] is field 3 (state)
  } catch {
    return undefined;
  }
}

function rssOf(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(status);
    return m?.[1] !== undefined ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** The pid and all its descendants, found through the ppid field of /proc/<pid>/stat. */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const f = statFields(Number(e));
    const ppid = Number(f?.[1]);
    if (!Number.isFinite(ppid)) continue;
    const list = children.get(ppid) ?? [];
    list.push(Number(e));
    children.set(ppid, list);
  }
  const out: number[] = [];
  const stack = [root];
  while (stack.length > 0) {
    const p = stack.pop()!;
    out.push(p);
    for (const c of children.get(p) ?? []) stack.push(c);
  }
  return out;
}

export function sampleOne(pid: number): ProcSample | undefined {
  const f = statFields(pid);
  if (!f) return undefined;
  // Fields 14 and 15 (utime, stime) are at rest[11], rest[12]; field 24 (rss pages) at rest[21].
  const cpuSec = (Number(f[11]) + Number(f[12])) / clkTck;
  const rss = rssOf(pid) || Number(f[21]) * PAGE;
  return { cpuSec, rssBytes: rss, at: performance.now() / 1000 };
}

/** Sum over the process tree rooted at pid (e.g. the rabbitmq-server script, beam.smp and erl_child_setup). */
export function sampleTree(pid: number): ProcSample | undefined {
  const root = sampleOne(pid);
  if (!root) return undefined;
  let cpuSec = 0;
  let rssBytes = 0;
  for (const p of processTree(pid)) {
    const s = sampleOne(p);
    if (!s) continue;
    cpuSec += s.cpuSec;
    rssBytes += s.rssBytes;
  }
  return { cpuSec, rssBytes, at: performance.now() / 1000 };
}

/** CPU use between two samples as a percentage of one core (200 % = both cores of a 2-core machine). */
export function cpuPercent(a: ProcSample, b: ProcSample): number {
  const dt = b.at - a.at;
  return dt > 0 ? ((b.cpuSec - a.cpuSec) / dt) * 100 : 0;
}

/** Busy and total CPU time of the whole machine so far, in seconds (from /proc/stat). */
export function machineCpu(): { busySec: number; at: number } {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal ...
    const idle = (f[3] ?? 0) + (f[4] ?? 0);
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
    return { busySec: (total - idle) / clkTck, at: performance.now() / 1000 };
  } catch {
    return { busySec: NaN, at: performance.now() / 1000 };
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Waits up to maxSec for the whole machine to be quiet: CPU over 500 ms below 30 % of one core. */
export async function quiet(maxSec: number): Promise<void> {
  const until = performance.now() + maxSec * 1000;
  while (performance.now() < until) {
    const a = machineCpu();
    await sleep(500);
    const b = machineCpu();
    if (((b.busySec - a.busySec) / (b.at - a.at)) * 100 < 30) return;
  }
}

/** Waits (up to 15 s) until the broker is idle again: the previous run's queue deletion, GC and so on. */
export async function settle(pid: number): Promise<void> {
  const until = performance.now() + 15_000;
  let prev = sampleTree(pid);
  while (prev && performance.now() < until) {
    await sleep(500);
    const cur = sampleTree(pid);
    if (!cur) return;
    if (cpuPercent(prev, cur) < 15) return;
    prev = cur;
  }
}
