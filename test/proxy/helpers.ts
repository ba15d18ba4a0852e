/** Helpers for the proxy's black-box tests: backend processes, the proxy in-process or as a binary, clients. */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LoadBalancer } from '../../packages/proxy/src/load-balancer.ts';
import { MemoryLogger } from '../../packages/proxy/src/logger.ts';
import { parseConfigTexts } from '../../packages/proxy/src/config/parse-config.ts';
import { collectStats, type StatRow } from '../../packages/proxy/src/stats/stats-rows.ts';

export const HERE = dirname(fileURLToPath(import.meta.url));
export const ROOT = join(HERE, '..', '..');
export const PROXY_BIN = join(ROOT, 'packages/proxy/src/bin/proxy.ts');
/** The real haproxy 2.6, where installed: side-by-side tests run it on the same config. */
export const HAPROXY = '/usr/sbin/haproxy';
export const hasHaproxy = existsSync(HAPROXY);

const children = new Set<ChildProcess>();
const lbs = new Set<LoadBalancer>();
const dirs = new Set<string>();
const sockets = new Set<net.Socket>();
// If a worker exits without running afterEach (a crash, a timeout), still take the backend processes down.
process.once('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

/** Kills every process, proxy, socket and temp dir the helpers made; call from afterEach. */
export async function cleanup(): Promise<void> {
  for (const s of sockets) s.destroy();
  sockets.clear();
  for (const lb of lbs) await lb.stop({ graceful: false });
  lbs.clear();
  const exits = [...children].map((c) => (c.exitCode !== null || c.signalCode !== null ? Promise.resolve() : new Promise<void>((r) => c.once('exit', () => r()))));
  for (const c of children) c.kill('SIGKILL');
  await Promise.all(exits);
  children.clear();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs.clear();
}

export function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'warren-proxy-'));
  dirs.add(d);
  return d;
}

export interface BackendProc {
  tag: string;
  port: number;
  healthPort: number | null;
  proc: ChildProcess;
  kill(): Promise<void>;
}

export async function startBackend(tag: string, opts: { port?: number; health?: boolean; silent?: boolean } = {}): Promise<BackendProc> {
  const args = [join(HERE, 'backend-server.mjs'), '--tag', tag];
  if (opts.port) args.push('--port', String(opts.port));
  if (opts.health) args.push('--health');
  if (opts.silent) args.push('--silent');
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  children.add(proc);
  const line = await firstLine(proc, 10_000);
  const info = JSON.parse(line) as { port: number; healthPort: number | null };
  return {
    tag,
    port: info.port,
    healthPort: info.healthPort,
    proc,
    kill: () =>
      new Promise((r) => {
        if (proc.exitCode !== null || proc.signalCode !== null) return r();
        proc.once('exit', () => r());
        proc.kill('SIGKILL');
      }),
  };
}

function firstLine(proc: ChildProcess, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const t = setTimeout(() => reject(new Error('child did not start')), timeoutMs);
    proc.stdout?.on('data', (d: Buffer) => {
      buf += d.toString();
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(t);
        resolve(buf.slice(0, nl));
      }
    });
    proc.once('exit', () => reject(new Error('child exited before start')));
  });
}

/** Starts the proxy in this process from config text. */
export async function startProxy(text: string): Promise<{ lb: LoadBalancer; log: MemoryLogger; port(name: string): number }> {
  const log = new MemoryLogger();
  const lb = await LoadBalancer.start(parseConfigTexts([{ file: 'test.cfg', text }]), { log });
  lbs.add(lb);
  return {
    lb,
    log,
    port: (name) => {
      const a = lb.addresses(name)[0];
      if (!a) throw new Error(`no listener for ${name}`);
      return a.port;
    },
  };
}

export interface ProxyProc {
  proc: ChildProcess;
  cfg: string;
  ports: Map<string, number>;
  stderr(): string;
  waitForLog(re: RegExp, timeoutMs?: number): Promise<void>;
}

/** Runs the `proxy` binary on a config file; resolves once it has announced its listeners. */
export async function spawnProxy(text: string, dir = tempDir()): Promise<ProxyProc> {
  const cfg = join(dir, 'haproxy.cfg');
  writeFileSync(cfg, text);
  // -db: in the foreground even where the config says `daemon` (the seed configs do), as with haproxy.
  const proc = spawn(process.execPath, ['--conditions=warren-source', '--import', 'tsx', PROXY_BIN, '-db', '-f', cfg], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(proc);
  let err = '';
  proc.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const p: ProxyProc = {
    proc,
    cfg,
    ports: new Map(),
    stderr: () => err,
    waitForLog: (re, timeoutMs = 10_000) => waitFor(() => re.test(err), timeoutMs, `log ${re}`),
  };
  await p.waitForLog(/started, pid/, 20_000).catch((e: Error) => {
    throw new Error(`${e.message}\n${err}`);
  });
  for (const m of err.matchAll(/proxy '([^']+)' listening on [^ ]+:(\d+)/g)) p.ports.set(m[1] as string, Number(m[2]));
  return p;
}

/** `proxy -c -f FILE`, or with `bin` = HAPROXY, `haproxy -c -f FILE`: exit code and all output. */
export function runProxyCheck(file: string, bin: string = PROXY_BIN): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const argv = ['-c', '-f', file];
    const proc = bin === PROXY_BIN ? spawn(process.execPath, ['--conditions=warren-source', '--import', 'tsx', PROXY_BIN, ...argv], { cwd: ROOT }) : spawn(bin, argv, { cwd: ROOT });
    children.add(proc);
    let out = '';
    proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
    proc.on('exit', (code) => resolve({ code, out }));
  });
}

/** Runs haproxy in the foreground on config text; resolves once `port` accepts connections. */
export async function startHaproxy(text: string, port: number): Promise<{ proc: ChildProcess; stderr(): string }> {
  const cfg = join(tempDir(), 'haproxy.cfg');
  writeFileSync(cfg, text);
  const proc = spawn(HAPROXY, ['-db', '-f', cfg], { stdio: ['ignore', 'ignore', 'pipe'] });
  children.add(proc);
  let err = '';
  proc.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  await waitFor(() => canConnect(port), 10_000, `haproxy on port ${port}`).catch((e: Error) => {
    throw new Error(`${e.message}\n${err}`);
  });
  return { proc, stderr: () => err };
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

/** A port that was free a moment ago, for configs that both proxies must run with the same fixed address. */
export async function freePort(): Promise<number> {
  const s = net.createServer().listen(0, '127.0.0.1');
  await new Promise((r) => s.once('listening', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

export async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A client connection with its received data collected. */
export interface Client {
  socket: net.Socket;
  data(): string;
  ended: Promise<void>;
  closed: Promise<void>;
  line(): Promise<string>;
}

export function connect(port: number): Promise<Client> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    sockets.add(socket);
    let buf = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (buf += d));
    socket.on('error', () => {});
    const ended = new Promise<void>((r) => socket.once('end', () => r()));
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    socket.once('connect', () =>
      resolve({
        socket,
        data: () => buf,
        ended,
        closed,
        line: async () => {
          await Promise.race([waitFor(() => buf.includes('\n'), 10_000, 'a line'), ended]);
          const nl = buf.indexOf('\n');
          return nl < 0 ? '' : buf.slice(0, nl);
        },
      }),
    );
    socket.once('error', reject);
  });
}

/** Connects, reads the backend's greeting and closes: which server took the connection ('' if none). */
export async function whoAnswers(port: number, lb?: LoadBalancer): Promise<string> {
  const c = await connect(port);
  const tag = await c.line();
  c.socket.destroy();
  await c.closed;
  // With the proxy in this process, wait until it has seen the close too, so the next pick sees true loads.
  if (lb) await waitFor(() => lb.sessionCount === 0, 5000, 'session release');
  return tag;
}

export function stats(lb: LoadBalancer, px: string, sv: string): StatRow {
  const row = collectStats(lb).find((r) => r.pxname === px && r.svname === sv);
  if (!row) throw new Error(`no stats row ${px}/${sv}`);
  return row;
}

export function httpGet(port: number, path: string, auth?: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return fetch(`http://127.0.0.1:${port}${path}`, { headers: auth ? { authorization: `Basic ${Buffer.from(auth).toString('base64')}` } : {} }).then(
    async (r) => ({ status: r.status, headers: Object.fromEntries(r.headers.entries()), body: await r.text() }),
  );
}

/** Sends one command to a runtime API unix socket and returns the answer. */
export function cli(path: string, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(path);
    let out = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => (out += d));
    s.on('end', () => resolve(out));
    s.on('error', reject);
    s.end(`${command}\n`);
  });
}
