/**
 * Every process the bench starts is registered here and killed on exit, Ctrl-C, SIGTERM or an uncaught error;
 * every temp dir is removed. Processes started with `detached: true` lead their own process group, and the whole
 * group is killed (RabbitMQ's start script, erl, beam.smp, erl_child_setup).
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';

const children = new Set<ChildProcess>();
const groups = new Set<number>();
const tempDirs = new Set<string>();
let installed = false;

export function track(child: ChildProcess, group = false): ChildProcess {
  installHandlers();
  children.add(child);
  if (group && child.pid !== undefined) groups.add(child.pid);
  child.once('exit', () => {
    children.delete(child);
  });
  return child;
}

export function spawnTracked(cmd: string, args: string[], opts: SpawnOptions, group = false): ChildProcess {
  const child = spawn(cmd, args, { ...opts, detached: group });
  return track(child, group);
}

export function makeTempDir(prefix: string): string {
  installHandlers();
  const d = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.add(d);
  return d;
}

export function removeTempDir(d: string): void {
  try {
    rmSync(d, { recursive: true, force: true });
  } catch {
    /* best effort */
  }
  tempDirs.delete(d);
}

function killGroup(pgid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pgid, sig);
  } catch {
    /* gone */
  }
}

/** Kills one tracked process (its group if it leads one): SIGTERM, then SIGKILL after graceMs. */
export async function stopProcess(child: ChildProcess, graceMs = 5000): Promise<void> {
  const pid = child.pid;
  const isGroup = pid !== undefined && groups.has(pid);
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    if (isGroup) killGroup(pid, 'SIGTERM');
    else child.kill('SIGTERM');
    const t = setTimeout(() => {
      if (isGroup) killGroup(pid, 'SIGKILL');
      else child.kill('SIGKILL');
    }, graceMs);
    await exited;
    clearTimeout(t);
  }
  // Leftovers in the group (beam.smp children) go too.
  if (isGroup) {
    killGroup(pid, 'SIGKILL');
    groups.delete(pid);
  }
  children.delete(child);
}

/** Synchronous last-resort cleanup, safe to call from an 'exit' handler. */
export function killAllSync(): void {
  for (const pgid of groups) killGroup(pgid, 'SIGKILL');
  groups.clear();
  for (const c of children) {
    try {
      c.kill('SIGKILL');
    } catch {
      /* gone */
    }
  }
  children.clear();
  for (const d of tempDirs) {
    try {
      rmSync(d, { recursive: true, force: true });
    } catch {
      /* best effort */
    }
  }
  tempDirs.clear();
}

function installHandlers(): void {
  if (installed) return;
  installed = true;
  process.on('exit', killAllSync);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      process.stderr.write(`\nbench: ${sig}, stopping everything it started\n`);
      killAllSync();
      process.exit(130);
    });
  }
  process.on('uncaughtException', (e) => {
    process.stderr.write(`bench: uncaught ${e.stack ?? String(e)}\n`);
    killAllSync();
    process.exit(1);
  });
}

/** A free TCP port on 127.0.0.1 (the OS picks it; there is a small race until it is bound again). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export function tcpConnectOnce(port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    const done = (ok: boolean): void => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
