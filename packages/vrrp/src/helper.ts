// A long-lived `sh` that runs the takeover commands (`ip addr add/del`, `arping`) for us.
//
// Why: forking the Node process for every `ip`/`arping` costs 1-90 ms on a loaded 2-core machine (measured:
// child_process.spawn of `true`), while a small `sh` that is already running forks in well under a millisecond.
// Failover time is detection + this work, so the helper takes it off the critical path. Protocol: we write
// "<id> <shell-quoted command>\n"; the helper evals it and prints "@@<id> <exit code>\n<output>\n@@\n".
// If the helper is gone, the caller falls back to a direct spawn (exec.ts).

import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { childProcess } from './builtins.ts';
import { run as directRun, type ExecResult } from './exec.ts';

const HELPER_SCRIPT = `while IFS= read -r line; do
  id=\${line%% *}; cmd=\${line#* }
  out=$(eval "$cmd" 2>&1); rc=$?
  printf '@@%s %s\\n%s\\n@@\\n' "$id" "$rc" "$out"
done`;

export const HELPER_TIMEOUT_MS = 5000;

/** Quote one argument for sh. */
export function shQuote(s: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

interface Pending {
  resolve: (r: ExecResult) => void;
  timer: NodeJS.Timeout;
}

export class ShellHelper {
  private child: ChildProcessWithoutNullStreams | undefined;
  private readonly pending = new Map<number, Pending>();
  private seq = 0;
  private buf = '';

  private ensure(): ChildProcessWithoutNullStreams | undefined {
    if (this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null) return this.child;
    try {
      const c = childProcess().spawn('sh', ['-c', HELPER_SCRIPT], { stdio: ['pipe', 'pipe', 'pipe'] });
      c.stdout.setEncoding('utf8');
      c.stdout.on('data', (d: string) => this.onData(d));
      c.stderr.resume();
      c.on('error', () => this.failAll());
      c.on('exit', () => {
        if (this.child === c) this.child = undefined;
        this.failAll();
      });
      c.stdin.on('error', () => this.failAll());
      this.child = c;
      return c;
    } catch {
      return undefined;
    }
  }

  /** Start the helper ahead of the first takeover. */
  warm(): void {
    this.ensure();
  }

  private onData(d: string): void {
    this.buf += d;
    for (;;) {
      const m = /^@@(\d+) (\d+)\n([\s\S]*?)\n@@\n/.exec(this.buf);
      if (m === null) return;
      this.buf = this.buf.slice(m[0].length);
      const id = Number(m[1]);
      const p = this.pending.get(id);
      if (p === undefined) continue;
      this.pending.delete(id);
      clearTimeout(p.timer);
      const code = Number(m[2]);
      p.resolve({ code, signal: null, stdout: m[3]!, stderr: code === 0 ? '' : m[3]!, timedOut: false });
    }
  }

  private failAll(): void {
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.resolve({ code: 127, signal: null, stdout: '', stderr: 'vrrpd helper shell exited', timedOut: false });
      this.pending.delete(id);
    }
    this.buf = '';
  }

  /** Run argv (no shell interpretation of its words). `detach`: start it in the background and return at once. */
  run(argv: readonly string[], opts: { detach?: boolean } = {}): Promise<ExecResult> {
    const c = this.ensure();
    if (c === undefined) return directRun(argv[0]!, argv.slice(1), HELPER_TIMEOUT_MS);
    const cmd = argv.map(shQuote).join(' ');
    return this.write(c, opts.detach === true ? `(${cmd} >/dev/null 2>&1 &)` : cmd);
  }

  private write(c: ChildProcessWithoutNullStreams, line: string): Promise<ExecResult> {
    const id = ++this.seq;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        resolve({ code: null, signal: null, stdout: '', stderr: 'timed out', timedOut: true });
      }, HELPER_TIMEOUT_MS);
      this.pending.set(id, { resolve, timer });
      c.stdin.write(`${id} ${line}\n`);
    });
  }

  /** Start several commands in the background with one helper round trip; resolves once they are started. */
  runDetached(argvs: readonly (readonly string[])[]): Promise<ExecResult> {
    if (argvs.length === 0) return Promise.resolve({ code: 0, signal: null, stdout: '', stderr: '', timedOut: false });
    const c = this.ensure();
    if (c === undefined) {
      return Promise.all(argvs.map((a) => directRun(a[0]!, a.slice(1), HELPER_TIMEOUT_MS))).then((rs) => rs[0]!);
    }
    return this.write(c, `(${argvs.map((a) => `${a.map(shQuote).join(' ')} >/dev/null 2>&1 &`).join(' ')})`);
  }

  close(): void {
    this.child?.stdin.end();
    this.child = undefined;
  }
}
