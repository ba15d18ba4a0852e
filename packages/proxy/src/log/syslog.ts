/**
 * Sends log lines to syslog servers over UDP in the RFC 3164 layout haproxy uses by default
 * (`<PRI>Mmm dd hh:mm:ss tag[pid]: message`), or writes them raw to stdout/stderr.
 * PRI = facility * 8 + severity (RFC 3164 §4.1.1). A line goes to a target when its severity is at or below the
 * target's level. UDP sends are fire-and-forget, as syslog over UDP is.
 */
import dgram from 'node:dgram';
import { isIPv6 } from 'node:net';
import type { LogTarget } from '../config/types.ts';

export const LOG_EMERG = 0;
export const LOG_ALERT = 1;
export const LOG_WARNING = 4;
export const LOG_NOTICE = 5;
export const LOG_INFO = 6;

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

export function rfc3164Line(facility: number, severity: number, tag: string, pid: number, msg: string, now: Date): string {
  const day = String(now.getDate()).padStart(2, ' ');
  const time = [now.getHours(), now.getMinutes(), now.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
  return `<${facility * 8 + severity}>${MONTHS[now.getMonth()]} ${day} ${time} ${tag}[${pid}]: ${msg}`;
}

export class Syslog {
  private udp4: dgram.Socket | null = null;
  private udp6: dgram.Socket | null = null;

  constructor(private readonly tag: string) {}

  send(targets: readonly LogTarget[], severity: number, msg: string): void {
    for (const t of targets) {
      if (severity > t.level) continue;
      if (t.kind !== 'udp') {
        (t.kind === 'stdout' ? process.stdout : process.stderr).write(`${msg}\n`);
        continue;
      }
      const line = Buffer.from(rfc3164Line(t.facility, severity, this.tag, process.pid, msg, new Date()));
      this.socket(isIPv6(t.host)).send(line, t.port, t.host, () => {});
    }
  }

  private socket(v6: boolean): dgram.Socket {
    if (v6) return (this.udp6 ??= this.open('udp6'));
    return (this.udp4 ??= this.open('udp4'));
  }

  private open(type: 'udp4' | 'udp6'): dgram.Socket {
    const s = dgram.createSocket(type);
    s.on('error', () => {}); // a syslog server that is down must not take the proxy down
    s.unref();
    return s;
  }

  close(): void {
    this.udp4?.close();
    this.udp6?.close();
    this.udp4 = this.udp6 = null;
  }
}
