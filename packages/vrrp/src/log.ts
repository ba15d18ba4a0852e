// Log lines like keepalived's (timestamp, then "(instance) message"), to stdout or a file.
//
// Lines go to stdout with a plain write(2) on fd 1, as keepalived's console log does: creating process.stdout
// (a net.Socket for a pipe, loading node:net) cost ~10 ms of start-up. If fd 1 is non-blocking and full (EAGAIN),
// that line and every later one go through process.stdout instead, which queues them in order.

import { appendFileSync, writeSync } from 'node:fs';

export class Logger {
  private viaStream = false;

  constructor(
    private readonly detailOn: boolean,
    private readonly file?: string,
  ) {}

  private write(line: string): void {
    const text = `${new Date().toISOString()} vrrpd[${process.pid}]: ${line}\n`;
    if (this.file !== undefined) appendFileSync(this.file, text);
    else if (this.viaStream) process.stdout.write(text);
    else writeStdout(text, () => (this.viaStream = true));
  }

  info = (msg: string): void => this.write(msg);
  detail = (msg: string): void => {
    if (this.detailOn) this.write(msg);
  };
}

function writeStdout(text: string, fallBack: () => void): void {
  let buf = Buffer.from(text);
  try {
    while (buf.length > 0) buf = buf.subarray(writeSync(1, buf));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EAGAIN') {
      fallBack();
      process.stdout.write(buf);
    }
    // Otherwise (EPIPE: nobody reads stdout any more) the line is lost, as keepalived's would be; the daemon goes on.
  }
}
