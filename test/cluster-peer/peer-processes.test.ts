// Black-box: separate node processes linking over loopback TCP.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, '../..');
const fixture = join(here, 'peer-node.ts');
const WAIT_MS = 8_000;

class NodeProcess {
  readonly events: Array<Record<string, unknown>> = [];
  readonly stderr: string[] = [];
  readonly child: ChildProcess;
  exitCode: number | null | undefined = undefined;
  private readonly listeners = new Set<() => void>();

  constructor(config: object) {
    this.child = spawn(process.execPath, ['--conditions=warren-source', '--import', 'tsx', fixture], {
      cwd: repoRoot,
      env: { ...process.env, WARREN_PEER_NODE: JSON.stringify(config) },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    this.child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      let nl: number;
      while ((nl = out.indexOf('\n')) >= 0) {
        this.events.push(JSON.parse(out.slice(0, nl)) as Record<string, unknown>);
        out = out.slice(nl + 1);
      }
      this.notify();
    });
    let err = '';
    this.child.stderr!.on('data', (chunk: Buffer) => {
      err += chunk.toString();
      const lines = err.split('\n');
      err = lines.pop()!;
      this.stderr.push(...lines);
      this.notify();
    });
    this.child.on('exit', (code) => {
      this.exitCode = code;
      this.notify();
    });
  }

  command(command: object): void {
    this.child.stdin!.write(`${JSON.stringify(command)}\n`);
  }

  /** Resolves with the first value `probe` returns that is not undefined; rejects after WAIT_MS. */
  waitFor<T>(what: string, probe: () => T | undefined): Promise<T> {
    return new Promise((resolvePromise, reject) => {
      const check = (): void => {
        const value = probe();
        if (value !== undefined) {
          cleanup();
          resolvePromise(value);
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out waiting for ${what}; events ${JSON.stringify(this.events)}; stderr ${this.stderr.join(' | ')}`));
      }, WAIT_MS);
      const cleanup = (): void => {
        clearTimeout(timer);
        this.listeners.delete(check);
      };
      this.listeners.add(check);
      check();
    });
  }

  waitEvent(predicate: (e: Record<string, unknown>) => boolean, what: string, from = 0): Promise<Record<string, unknown>> {
    return this.waitFor(what, () => this.events.slice(from).find(predicate));
  }

  async kill(): Promise<void> {
    if (this.exitCode !== undefined) return;
    const exited = this.waitFor('exit', () => (this.exitCode !== undefined ? true : undefined));
    this.child.kill('SIGKILL');
    await exited;
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }
}

/** A TCP relay that records every byte it forwards, in both directions. */
async function recordingProxy(targetPort: number): Promise<{ port: number; bytes: Buffer[]; close: () => Promise<void> }> {
  const bytes: Buffer[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((inbound) => {
    const outbound = net.connect(targetPort, '127.0.0.1');
    for (const s of [inbound, outbound]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => {
        inbound.destroy();
        outbound.destroy();
      });
    }
    inbound.on('data', (d: Buffer) => {
      bytes.push(Buffer.from(d));
      outbound.write(d);
    });
    outbound.on('data', (d: Buffer) => {
      bytes.push(Buffer.from(d));
      inbound.write(d);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    bytes,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

describe('cluster-peer across processes', { timeout: 20_000 }, () => {
  let dir: string;
  let processes: NodeProcess[];
  let cleanups: Array<() => Promise<void>>;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'warren-peer-'));
    processes = [];
    cleanups = [];
  });
  afterEach(async () => {
    await Promise.all(processes.map((p) => p.kill()));
    for (const cleanup of cleanups) await cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  async function cookieFile(name: string, cookie: string): Promise<string> {
    const path = join(dir, name);
    await writeFile(path, cookie, { mode: 0o600 });
    return path;
  }

  function start(config: object): NodeProcess {
    const p = new NodeProcess(config);
    processes.push(p);
    return p;
  }

  async function listening(p: NodeProcess): Promise<number> {
    return (await p.waitEvent((e) => e['event'] === 'listening', 'listening'))['port'] as number;
  }

  it('links two nodes with the same cookie; requests go both ways; the cookie never crosses the wire', async () => {
    const cookie = 'SHAREDCOOKIEVALUEXYZ';
    const file = await cookieFile('cookie', cookie);
    const a = start({ nodeName: 'rabbit1@localhost', cookieFile: file, port: 0, peers: {} });
    const proxy = await recordingProxy(await listening(a));
    cleanups.push(proxy.close);
    const b = start({ nodeName: 'rabbit2@localhost', cookieFile: file, port: 0, peers: { 'rabbit1@localhost': proxy.port } });
    await b.waitEvent((e) => e['event'] === 'up' && e['node'] === 'rabbit1@localhost', 'b up');
    await a.waitEvent((e) => e['event'] === 'up' && e['node'] === 'rabbit2@localhost', 'a up');
    b.command({ cmd: 'request', node: 'rabbit1@localhost', body: { q: 'hello' } });
    expect(await b.waitEvent((e) => e['event'] === 'reply', 'reply')).toEqual({
      event: 'reply',
      body: { echoedBy: 'rabbit1@localhost', body: { q: 'hello' } },
    });
    a.command({ cmd: 'send', node: 'rabbit2@localhost', body: [1, 2, 3] });
    expect(await b.waitEvent((e) => e['event'] === 'message', 'message')).toEqual({ event: 'message', from: 'rabbit1@localhost', body: [1, 2, 3] });
    const wire = Buffer.concat(proxy.bytes);
    expect(wire.includes(Buffer.from('rabbit2@localhost'))).toBe(true);
    expect(wire.includes(Buffer.from(cookie))).toBe(false);
  });

  it('refuses a node with a different cookie, and both processes say so', async () => {
    const a = start({ nodeName: 'rabbit1@localhost', cookieFile: await cookieFile('a', 'COOKIEONE'), port: 0, peers: {} });
    const port = await listening(a);
    const b = start({ nodeName: 'rabbit2@localhost', cookieFile: await cookieFile('b', 'COOKIETWO'), port: 0, peers: { 'rabbit1@localhost': port } });
    const accepted = await a.waitFor('mismatch on a', () => a.stderr.find((l) => l.includes('cookie mismatch')));
    expect(accepted).toMatch(/peer rabbit2@localhost: cookie mismatch \(connection from 127\.0\.0\.1:\d+ refused\)/);
    const dialed = await b.waitFor('mismatch on b', () => b.stderr.find((l) => l.includes('cookie mismatch')));
    expect(dialed).toContain(`peer rabbit1@localhost: cookie mismatch (connection to 127.0.0.1:${port} refused by the peer)`);
    expect(a.events.some((e) => e['event'] === 'up')).toBe(false);
    expect(b.events.some((e) => e['event'] === 'up')).toBe(false);
  });

  it('notices a killed peer and relinks when it comes back on the same port', async () => {
    const file = await cookieFile('cookie', 'RESTARTCOOKIE');
    const a1 = start({ nodeName: 'rabbit1@localhost', cookieFile: file, port: 0, peers: {}, tickMs: 200 });
    const port = await listening(a1);
    const b = start({ nodeName: 'rabbit2@localhost', cookieFile: file, port: 0, peers: { 'rabbit1@localhost': port }, tickMs: 200 });
    await b.waitEvent((e) => e['event'] === 'up', 'first up');
    await a1.kill();
    await b.waitEvent((e) => e['event'] === 'down', 'down');
    const seen = b.events.length;
    start({ nodeName: 'rabbit1@localhost', cookieFile: file, port, peers: {}, tickMs: 200 });
    await b.waitEvent((e) => e['event'] === 'up' && e['node'] === 'rabbit1@localhost', 'up again', seen);
    b.command({ cmd: 'request', node: 'rabbit1@localhost', body: 'again' });
    expect(await b.waitEvent((e) => e['event'] === 'reply', 'reply', seen)).toMatchObject({ body: { body: 'again' } });
  });

  it('declares a frozen peer (SIGSTOP: socket open, nothing sent) dead by heartbeat within a few ticks', async () => {
    const file = await cookieFile('cookie', 'FROZENCOOKIE');
    const a = start({ nodeName: 'rabbit1@localhost', cookieFile: file, port: 0, peers: {}, tickMs: 200 });
    const port = await listening(a);
    const b = start({ nodeName: 'rabbit2@localhost', cookieFile: file, port: 0, peers: { 'rabbit1@localhost': port }, tickMs: 200 });
    await b.waitEvent((e) => e['event'] === 'up', 'up');
    const frozenAt = Date.now();
    a.child.kill('SIGSTOP');
    const down = await b.waitEvent((e) => e['event'] === 'down', 'down');
    const elapsed = Date.now() - frozenAt;
    expect(down['code']).toBe('HEARTBEAT_TIMEOUT');
    // Dead 4 silent ticks (800 ms) after the last byte from a, which may have left up to a tick before the
    // freeze: 600 ms at the earliest. Allow for a loaded machine above, but not for minutes.
    expect(elapsed).toBeGreaterThanOrEqual(550);
    expect(elapsed).toBeLessThan(3_000);
    expect(b.stderr.join('\n')).toMatch(/peer rabbit1@localhost: nothing received for 800 ms, declaring it dead/);
  });

  it('refuses to start with a cookie file readable by others, naming the file and its mode', async () => {
    const file = await cookieFile('loose', 'LOOSECOOKIE');
    await chmod(file, 0o644);
    const a = start({ nodeName: 'rabbit1@localhost', cookieFile: file, port: 0, peers: {} });
    await a.waitFor('exit', () => (a.exitCode !== undefined ? true : undefined));
    expect(a.exitCode).toBe(2);
    expect(a.stderr.join('\n')).toContain(`cookie file ${file} has mode 0644; it must be accessible by its owner only`);
  });
});
