// Processes of the lab: started detached (they outlive `lab up`), output to a log file in the lab directory, found
// again by pid from the state file. A pid is only signalled while its command line still names the lab directory, so
// a pid the system has reused since is never touched.
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, openSync, readFileSync, readdirSync } from 'node:fs';

function cwdMarker(env: Record<string, string>): string {
  return env['WARREN_LAB'] ?? '';
}

export function startDetached(argv: string[], env: Record<string, string>, log: string, cwd: string): number {
  const fd = openSync(log, 'a');
  const child = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: ['ignore', fd, fd], env: { ...process.env, ...env, WARREN_LAB: cwdMarker(env) }, cwd });
  closeSync(fd);
  child.unref();
  if (child.pid === undefined) throw new Error(`could not start ${argv.join(' ')}`);
  return child.pid;
}

/**
 * What identifies a lab process: its command line, and its environment (the proxy renames its process, which
 * overwrites its command line; every lab process has WARREN_LAB=<lab directory> in its environment).
 */
function cmdline(pid: number): string | null {
  try {
    const env = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').find((e) => e.startsWith('WARREN_LAB=')) ?? '';
    return `${readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ')} ${env}\0`;
  } catch {
    return null;
  }
}

/** The process state letter from /proc (R, S, T stopped, Z zombie), null when gone. */
export function procState(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return null;
  }
}

/** Whether `pid` is alive and one of ours (its command line mentions `marker`, the lab directory). */
export function ours(pid: number, marker: string): boolean {
  if (pid <= 0) return false;
  const st = procState(pid);
  if (st === null || st === 'Z') return false;
  const c = cmdline(pid);
  return c !== null && (c.includes(` WARREN_LAB=${marker}\0`) || c.includes(`${marker}/`));
}

export function signal(pid: number, marker: string, sig: NodeJS.Signals): boolean {
  if (!ours(pid, marker)) return false;
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}

/** Every live process whose command line mentions `marker` (catches children a crashed lab left behind). */
export function findByMarker(marker: string): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    const c = cmdline(Number(d));
    if (c !== null && (c.includes(` WARREN_LAB=${marker}\0`) || c.includes(`${marker}/`))) out.push(Number(d));
  }
  return out;
}

/** Children of a pid (keepalived's VRRP child; a SIGKILL takes them first so the crash stays a crash). */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

export async function waitGone(pid: number, marker: string, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (!ours(pid, marker)) return true;
    await sleep(20);
  }
  return !ours(pid, marker);
}

export function run(cmd: string, args: string[], input?: string): { code: number; out: string; err: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...(input !== undefined ? { input } : {}) });
  return { code: r.status ?? -1, out: r.stdout ?? '', err: (r.stderr ?? '') + (r.error?.message ?? '') };
}

/** run, without blocking the event loop (the live page's looks: a spawnSync can take 0.5 s on a loaded machine) */
export function runAsync(cmd: string, args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((res) => {
    const c = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.once('error', () => res({ code: -1, out }));
    c.once('close', (code) => res({ code: code ?? -1, out }));
  });
}

export function must(cmd: string, args: string[], input?: string): string {
  const r = run(cmd, args, input);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.code}): ${r.err.trim()}`);
  return r.out;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `cond` until true or `ms` pass; the elapsed ms, or undefined. */
export async function waitFor(cond: () => boolean | Promise<boolean>, ms: number, every = 50): Promise<number | undefined> {
  const t0 = Date.now();
  for (;;) {
    if (await cond()) return Date.now() - t0;
    if (Date.now() - t0 > ms) return undefined;
    await sleep(every);
  }
}
