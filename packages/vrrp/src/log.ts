// Log lines like keepalived's (timestamp, then "(instance) message"), to stdout or a file.

import { appendFileSync } from 'node:fs';

export class Logger {
  constructor(
    private readonly detailOn: boolean,
    private readonly file?: string,
  ) {}

  private write(line: string): void {
    const text = `${new Date().toISOString()} vrrpd[${process.pid}]: ${line}\n`;
    if (this.file !== undefined) appendFileSync(this.file, text);
    else process.stdout.write(text);
  }

  info = (msg: string): void => this.write(msg);
  detail = (msg: string): void => {
    if (this.detailOn) this.write(msg);
  };
}
