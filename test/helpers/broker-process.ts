// Starts real `broker` processes for black-box tests: free ports, a private cookie and node registry, cleanup.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const REPO = resolve(import.meta.dirname, '..', '..');
export const BROKER_BIN = join(REPO, 'packages/broker/bin/broker');
export const BROKERCTL_BIN = join(REPO, 'packages/broker/bin/brokerctl');

/** Ports this test process handed out: the kernel may offer a closed one again before its broker binds it. */
const handedOut = new Set<number>();

/** A port free on 127.0.0.1 now, and never handed out before by this process. */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((res, rej) => {
      const s = createServer();
      s.once('error', rej);
      s.listen(0, '127.0.0.1', () => {
        const a = s.address();
        const p = typeof a === 'object' && a ? a.port : 0;
        s.close(() => res(p));
      });
    });
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
}

export function waitForPort(port: number, timeoutMs = 15_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  return new Promise((res, rej) => {
    const attempt = (): void => {
      const s = connect({ port, host: '127.0.0.1' });
      s.once('connect', () => {
        s.destroy();
        res();
      });
      s.once('error', () => {
        s.destroy();
        if (Date.now() > until) rej(new Error(`port ${port} did not open within ${timeoutMs} ms`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

/** A scratch environment: cookie file and node registry private to the test. */
export class TestEnv {
  readonly dir: string;
  readonly env: NodeJS.ProcessEnv;
  private readonly procs = new Set<ChildProcess>();

  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), 'warren-test-'));
    this.env = { ...process.env, WARREN_COOKIE_FILE: join(this.dir, 'cookie'), WARREN_NODE_REGISTRY: join(this.dir, 'registry') };
  }

  async startBroker(args: string[], port: number, timeoutMs = 60_000): Promise<BrokerProcess> {
    const child = spawn(BROKER_BIN, ['--port', String(port), ...args], { env: this.env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.procs.add(child);
    child.once('exit', () => this.procs.delete(child));
    const out: string[] = [];
    child.stdout!.on('data', (d: Buffer) => out.push(d.toString()));
    child.stderr!.on('data', (d: Buffer) => out.push(d.toString()));
    const exited = new Promise<never>((_, rej) => child.once('exit', (code) => rej(new Error(`broker exited (${code}): ${out.join('')}`))));
    // (a loaded machine takes a while to start several brokers at once: wait on the port, bounded generously)
    await Promise.race([waitForPort(port, timeoutMs), exited]);
    exited.catch(() => {});
    return { child, port, output: () => out.join('') };
  }

  ctl(args: string[], timeoutMs = 20_000): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((res) => {
      const child = spawn(BROKERCTL_BIN, args, { env: this.env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.once('exit', (code) => {
        clearTimeout(t);
        res({ code: code ?? -1, stdout, stderr });
      });
    });
  }

  async cleanup(): Promise<void> {
    await Promise.all(
      [...this.procs].map(
        (p) =>
          new Promise<void>((res) => {
            if (p.exitCode !== null || p.signalCode !== null) return res();
            p.once('exit', () => res());
            p.kill('SIGKILL');
          }),
      ),
    );
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface BrokerProcess {
  child: ChildProcess;
  port: number;
  output(): string;
}

export function kill9(p: BrokerProcess): Promise<void> {
  return new Promise((res) => {
    if (p.child.exitCode !== null || p.child.signalCode !== null) return res();
    p.child.once('exit', () => res());
    p.child.kill('SIGKILL');
  });
}
