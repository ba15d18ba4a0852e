/**
 * Per-session log lines of a frontend (haproxy: configuration.txt §8.2.2 "TCP log format"):
 *
 *   %ci:%cp [%t] %ft %b/%s %Tw/%Tc/%Tt %B %ts %ac/%fc/%bc/%sc/%rc %sq/%bq
 *   127.0.0.1:41236 [25/Nov/2026:15:02:11.042] rmq rmq/rabbit1 0/1/5032 1430 -- 1/1/1/1/0 0/0
 *
 * Tw = time queued, Tc = time to connect (-1: never connected), Tt = total, B = bytes sent to the client, ts = the
 * two-letter termination state (who ended it, and in which phase), then the connection counts (global, frontend,
 * backend, server), the retries, and the queue lengths. Without `option tcplog`, haproxy logs one "Connect from"
 * line per accepted connection instead. `option dontlognull` drops sessions that carried no data.
 */
import type { LogTarget } from '../config/types.ts';
import type { Syslog } from './syslog.ts';
import { LOG_INFO } from './syslog.ts';

export interface LoggedSession {
  clientAddress: string;
  clientPort: number;
  localAddress: string;
  localPort: number;
  frontend: string;
  backend: string;
  server: string; // '<NOSRV>' when none was reached
  acceptedAt: number; // epoch ms
  queueMs: number;
  connectMs: number; // -1: never connected
  totalMs: number;
  bytesIn: number;
  bytesOut: number;
  termination: string;
  actconn: number;
  feconn: number;
  beconn: number;
  srvconn: number;
  retries: number;
  srvQueue: number;
  backendQueue: number;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

export function formatAcceptDate(ms: number): string {
  const d = new Date(ms);
  const p2 = (n: number): string => String(n).padStart(2, '0');
  return `${p2(d.getDate())}/${MONTHS[d.getMonth()]}/${d.getFullYear()}:${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

export function tcpLogLine(s: LoggedSession): string {
  return (
    `${s.clientAddress}:${s.clientPort} [${formatAcceptDate(s.acceptedAt)}] ${s.frontend} ${s.backend}/${s.server} ` +
    `${s.queueMs}/${s.connectMs}/${s.totalMs} ${s.bytesOut} ${s.termination} ` +
    `${s.actconn}/${s.feconn}/${s.beconn}/${s.srvconn}/${s.retries} ${s.srvQueue}/${s.backendQueue}`
  );
}

export class SessionLog {
  constructor(
    private readonly syslog: Syslog,
    private readonly targets: readonly LogTarget[],
    private readonly tcplog: boolean,
    private readonly dontlognull: boolean,
  ) {}

  get enabled(): boolean {
    return this.targets.length > 0;
  }

  accepted(clientAddress: string, clientPort: number, localAddress: string, localPort: number, frontend: string): void {
    if (this.tcplog || this.targets.length === 0) return;
    this.syslog.send(this.targets, LOG_INFO, `Connect from ${clientAddress}:${clientPort} to ${localAddress}:${localPort} (${frontend}/TCP)`);
  }

  ended(s: LoggedSession): void {
    if (!this.tcplog || this.targets.length === 0) return;
    if (this.dontlognull && s.bytesIn === 0 && s.bytesOut === 0) return;
    this.syslog.send(this.targets, LOG_INFO, tcpLogLine(s));
  }
}
