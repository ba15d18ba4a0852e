// Run a helper program (ip, arping, track and notify scripts) without a shell, with a time limit.

import { childProcess } from './builtins.ts';

export interface ExecResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export function run(cmd: string, args: readonly string[], timeoutMs: number): Promise<ExecResult> {
  return new Promise((resolve) => {
    const child = childProcess().execFile(
      cmd,
      args,
      { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 1 << 20, encoding: 'utf8' },
      (err, stdout, stderr) => {
        const e = err as (NodeJS.ErrnoException & { killed?: boolean; code?: number | string }) | null;
        resolve({
          code: e === null ? 0 : typeof e.code === 'number' ? e.code : (child.exitCode ?? 127),
          signal: child.signalCode,
          stdout,
          stderr: e !== null && typeof e.code === 'string' ? `${e.code}: ${e.message}` : stderr,
          timedOut: e?.killed === true && child.signalCode === 'SIGKILL',
        });
      },
    );
  });
}

/** Fire and forget (notify scripts): detached from our stdio, errors reported to the callback. */
export function launch(cmd: string, args: readonly string[], onExit: (code: number | null, err?: Error) => void): void {
  try {
    const child = childProcess().spawn(cmd, args, { stdio: 'ignore' });
    child.on('error', (e) => onExit(null, e));
    child.on('exit', (code) => onExit(code));
  } catch (e) {
    onExit(null, e as Error);
  }
}

/**
 * Split a keepalived script line into argv: words separated by blanks, single or double quotes group words.
 * keepalived execs scripts directly (no shell), so neither do we.
 */
export function splitCommand(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quote: string | undefined;
  let any = false;
  for (const c of line) {
    if (quote !== undefined) {
      if (c === quote) quote = undefined;
      else cur += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      any = true;
    } else if (c === ' ' || c === '\t') {
      if (cur !== '' || any) out.push(cur);
      cur = '';
      any = false;
    } else {
      cur += c;
    }
  }
  if (cur !== '' || any) out.push(cur);
  return out;
}
