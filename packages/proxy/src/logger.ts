/** Log lines in haproxy's stderr style: `[NOTICE]`, `[WARNING]`, `[ALERT]`. */
export interface Logger {
  notice(msg: string): void;
  warn(msg: string): void;
  alert(msg: string): void;
}

export class StderrLogger implements Logger {
  /** Set once a daemon has detached: its stderr is gone, as haproxy closes it; the `log` targets still get lines. */
  muted = false;

  constructor(private readonly quiet = false) {}

  notice(msg: string): void {
    if (!this.quiet && !this.muted) process.stderr.write(`[NOTICE]   (${process.pid}) : ${msg}\n`);
  }

  warn(msg: string): void {
    if (!this.muted) process.stderr.write(`[WARNING]  (${process.pid}) : ${msg}\n`);
  }

  alert(msg: string): void {
    if (!this.muted) process.stderr.write(`[ALERT]    (${process.pid}) : ${msg}\n`);
  }
}

/** Collects lines in memory; for tests and embedding. */
export class MemoryLogger implements Logger {
  readonly lines: string[] = [];

  notice(msg: string): void {
    this.lines.push(`NOTICE ${msg}`);
  }

  warn(msg: string): void {
    this.lines.push(`WARNING ${msg}`);
  }

  alert(msg: string): void {
    this.lines.push(`ALERT ${msg}`);
  }
}
