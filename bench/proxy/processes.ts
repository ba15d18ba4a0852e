/** The processes a proxy bench run needs: a byte sink, Warren's broker, Warren's proxy and haproxy. All are killed on exit. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const HAPROXY = '/usr/sbin/haproxy';

const children = new Set<ChildProcess>();
const dirs = new Set<string>();
let hooked = false;

function hook(): void {
  if (hooked) return;
  hooked = true;
  const killAll = (): void => {
    for (const c of children) c.kill('SIGKILL');
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  };
  process.on('exit', killAll);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => process.exit(130));
}

export function tempDir(): string {
  hook();
  const d = mkdtempSync(join(tmpdir(), 'warren-proxy-bench-'));
  dirs.add(d);
  return d;
}

export function start(cmd: string, args: string[], opts: { quiet?: boolean } = {}): ChildProcess {
  hook();
  const c = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', 'pipe', opts.quiet ? 'ignore' : 'pipe'] });
  let err = '';
  c.stderr?.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
  c.once('exit', (code, sig) => {
    children.delete(c);
    if (code && code !== 0) process.stderr.write(`${cmd} exited ${code ?? sig}: ${err}\n`);
  });
  children.add(c);
  return c;
}

export async function stop(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return;
  const gone = new Promise((r) => c.once('exit', r));
  c.kill('SIGKILL');
  await gone;
}

export async function freePort(): Promise<number> {
  const s = net.createServer().listen(0, '127.0.0.1');
  await new Promise((r) => s.once('listening', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

export async function waitForPort(port: number, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > end) throw new Error(`port ${port} did not open`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A sink: counts the bytes of each connection and, on the client's FIN, answers the count and closes. */
const SINK_JS = `
const net = require('node:net');
net.createServer({ allowHalfOpen: true }, (s) => {
  let n = 0;
  s.on('data', (d) => { n += d.length; });
  s.on('end', () => s.end(String(n)));
  s.on('error', () => {});
}).listen(Number(process.argv[1]), '127.0.0.1');
`;

export async function startSink(): Promise<{ port: number; proc: ChildProcess }> {
  const port = await freePort();
  const proc = start(process.execPath, ['-e', SINK_JS, String(port)]);
  await waitForPort(port);
  return { port, proc };
}

const ECHO_JS = `
require('node:net').createServer((s) => { s.setNoDelay(true); s.on('error', () => {}); s.pipe(s); })
  .listen(Number(process.argv[1]), '127.0.0.1');
`;

export async function startEcho(): Promise<{ port: number; proc: ChildProcess }> {
  const port = await freePort();
  const proc = start(process.execPath, ['-e', ECHO_JS, String(port)]);
  await waitForPort(port);
  return { port, proc };
}

/** CPU time (user + system) a process has used so far, in milliseconds; NaN where /proc is not available. */
export function cpuMs(pid: number | undefined): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * 10; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return NaN;
  }
}

export async function startBroker(): Promise<{ port: number; proc: ChildProcess }> {
  const port = await freePort();
  const proc = start(process.execPath, ['--conditions=warren-source', '--import', 'tsx', 'packages/broker/src/bin/broker.ts', '--port', String(port), '--memory', '--dist-port', '0', '--quiet'], { quiet: true });
  await waitForPort(port, 30_000);
  return { port, proc };
}

/** The same haproxy.cfg runs under both proxies. */
export function proxyConfig(listens: { name: string; port: number; server: number }[]): string {
  let cfg = 'global\n    maxconn 4000\n\ndefaults\n    mode tcp\n    timeout connect 5s\n    timeout client 60s\n    timeout server 60s\n';
  for (const l of listens) cfg += `\nlisten ${l.name}\n    bind 127.0.0.1:${l.port}\n    balance roundrobin\n    server s1 127.0.0.1:${l.server}\n`;
  return cfg;
}

export async function startProxies(cfg: string, ports: number[]): Promise<{ warren: ChildProcess; haproxy: ChildProcess | null; warrenPorts: number[]; haproxyPorts: number[] }> {
  const dir = tempDir();
  // Each proxy gets its own ports: the config is the same text with the ports shifted.
  const warrenPorts = await Promise.all(ports.map(() => freePort()));
  const haproxyPorts = await Promise.all(ports.map(() => freePort()));
  const shift = (to: number[]): string => ports.reduce((c, p, i) => c.replace(`127.0.0.1:${p}\n`, `127.0.0.1:${to[i]}\n`), cfg);
  writeFileSync(join(dir, 'warren.cfg'), shift(warrenPorts));
  writeFileSync(join(dir, 'haproxy.cfg'), shift(haproxyPorts));
  const warren = start(process.execPath, ['--conditions=warren-source', '--import', 'tsx', 'packages/proxy/src/bin/proxy.ts', '-q', '-f', join(dir, 'warren.cfg')], { quiet: true });
  let haproxy: ChildProcess | null = null;
  try {
    haproxy = start(HAPROXY, ['-db', '-q', '-f', join(dir, 'haproxy.cfg')], { quiet: true });
  } catch {
    haproxy = null;
  }
  await Promise.all(warrenPorts.map((p) => waitForPort(p)));
  if (haproxy) await Promise.all(haproxyPorts.map((p) => waitForPort(p)));
  return { warren, haproxy, warrenPorts, haproxyPorts };
}
