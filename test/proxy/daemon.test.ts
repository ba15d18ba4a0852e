// The seeds start haproxy as `haproxy -f /etc/haproxy/haproxy.cfg` (their configs say `daemon`), and keepalived's
// check scripts look for it by name: `ps -C haproxy --no-header | wc -l` (seed 001), `killall -0 haproxy` (seed 000).
// A `haproxy` symlink to bin/proxy must behave the same: the command returns with the proxy running in the background,
// the pidfile names it, and the process is called `haproxy`.
import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, freePort, HAPROXY, hasHaproxy, ROOT, startBackend, tempDir, waitFor, whoAnswers } from './helpers.ts';

const BIN = join(ROOT, 'packages/proxy/bin/proxy');
const started: number[] = [];

afterEach(async () => {
  for (const pid of started.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await cleanup();
});

/** Runs a command to its end (bounded): exit code and output. */
function run(cmd: string, args: string[], timeoutMs = 60_000): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const t = setTimeout(() => {
      p.kill('SIGKILL');
      out += '\n(still running: killed)';
    }, timeoutMs);
    p.once('exit', (code) => {
      clearTimeout(t);
      resolve({ code, out });
    });
  });
}

const sh = (script: string): Promise<string> =>
  new Promise((resolve) => execFile('sh', ['-c', script], (_e, stdout) => resolve(stdout.trim())));

const comm = (pid: number): string => readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
const alive = (pid: number): boolean => existsSync(`/proc/${pid}`);

function config(port: number, server: number, global: string): string {
  return (
    `global\n${global}defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 10s\n    timeout server 10s\n` +
    `listen rabbitmq_cluster\n    bind 127.0.0.1:${port}\n    server rabbit1 127.0.0.1:${server}\n`
  );
}

async function readPid(file: string): Promise<number> {
  await waitFor(() => existsSync(file) && readFileSync(file, 'utf8').trim() !== '', 5000, `pidfile ${file}`);
  const pid = Number(readFileSync(file, 'utf8').trim());
  started.push(pid);
  return pid;
}

describe('daemon mode and the process name', () => {
  it('`haproxy -f cfg` through a haproxy symlink with `daemon`: returns, runs in the background as `haproxy`, found by the seeds\' check scripts, as the real haproxy', async () => {
    const backend = await startBackend('R1');
    const dir = tempDir();
    const link = join(dir, 'haproxy');
    symlinkSync(BIN, link);
    const targets = [{ name: 'warren', bin: link }];
    if (hasHaproxy) targets.push({ name: 'haproxy', bin: HAPROXY });
    for (const t of targets) {
      const port = await freePort();
      const pidfile = join(dir, `${t.name}.pid`);
      const cfg = join(dir, `${t.name}.cfg`);
      writeFileSync(cfg, config(port, backend.port, `    daemon\n    pidfile ${pidfile}\n`));
      const r = await run(t.bin, ['-f', cfg]);
      expect(r.code, `${t.name}: ${r.out}`).toBe(0);
      const pid = await readPid(pidfile);
      expect(alive(pid)).toBe(true);
      expect(comm(pid)).toBe('haproxy');
      expect((await sh('ps -C haproxy -o pid=')).split(/\s+/)).toContain(String(pid));
      // Seed 001's haproxy_check.sh test, and seed 000's.
      expect(await sh('if [ `ps -C haproxy --no-header | wc -l` -eq 0 ]; then echo down; else echo up; fi')).toBe('up');
      expect(await sh('killall -0 haproxy && echo found')).toBe('found');
      expect(await whoAnswers(port)).toBe('R1');
      process.kill(pid, 'SIGTERM');
      await waitFor(() => !alive(pid), 10_000, `${t.name} to stop`);
      if (t.name === 'warren') expect(existsSync(pidfile)).toBe(false); // removed at exit, as haproxy's master does
    }
  }, 120_000);

  it('started as `proxy` it is named `proxy`; -D backgrounds without `daemon` in the config; -db keeps a `daemon` config in the foreground', async () => {
    const backend = await startBackend('R1');
    const dir = tempDir();
    const port = await freePort();
    const pidfile = join(dir, 'proxy.pid');
    const cfg = join(dir, 'plain.cfg');
    writeFileSync(cfg, config(port, backend.port, '    maxconn 100\n'));
    const r = await run(BIN, ['-D', '-p', pidfile, '-f', cfg]);
    expect(r.code, r.out).toBe(0);
    const pid = await readPid(pidfile);
    expect(comm(pid)).toBe('proxy');
    expect(await whoAnswers(port)).toBe('R1');
    process.kill(pid, 'SIGTERM');
    await waitFor(() => !alive(pid), 10_000, 'proxy to stop');

    const port2 = await freePort();
    const cfg2 = join(dir, 'daemon.cfg');
    writeFileSync(cfg2, config(port2, backend.port, '    daemon\n'));
    const fg = spawn(BIN, ['-db', '-f', cfg2], { stdio: ['ignore', 'ignore', 'pipe'] });
    started.push(fg.pid as number);
    let err = '';
    fg.stderr.on('data', (d: Buffer) => (err += d.toString()));
    await waitFor(() => /started, pid/.test(err), 60_000, 'foreground start');
    expect(fg.exitCode).toBeNull(); // still running in the foreground
    expect(await whoAnswers(port2)).toBe('R1');
    fg.kill('SIGTERM');
    await new Promise((res) => fg.once('exit', res));
  }, 120_000);

  it('a daemon that cannot bind says so and the command exits 1, leaving no pidfile', async () => {
    const dir = tempDir();
    const busy = net.createServer().listen(0, '127.0.0.1');
    await new Promise((res) => busy.once('listening', res));
    const port = (busy.address() as net.AddressInfo).port;
    const pidfile = join(dir, 'proxy.pid');
    const cfg = join(dir, 'busy.cfg');
    writeFileSync(cfg, config(port, 1, `    daemon\n    pidfile ${pidfile}\n`));
    const r = await run(BIN, ['-f', cfg]);
    busy.close();
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/cannot bind 127\.0\.0\.1:\d+: EADDRINUSE/);
    expect(existsSync(pidfile)).toBe(false);
  }, 120_000);
});
