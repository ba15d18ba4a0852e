/**
 * `log <target> [len <n>] [format <fmt>] [sample <r>:<s>] <facility> [<level> [<minlevel>]]`, in `global` and in
 * proxies, and `log global` in proxies (haproxy: configuration.txt §3.1 "log" and §4.2 "log").
 * Targets: an IPv4/IPv6 address with an optional UDP port (default 514), `udp@addr[:port]`, `stdout`, `stderr`.
 * Unix datagram sockets (`/dev/log`) cannot be opened from Node; such lines are accepted with a warning and ignored.
 */
import { parseAddress } from './address.ts';
import type { LogTarget } from './types.ts';

export const SYSLOG_FACILITIES = [
  'kern', 'user', 'mail', 'daemon', 'auth', 'syslog', 'lpr', 'news', 'uucp', 'cron', 'auth2', 'ftp', 'ntp', 'audit',
  'alert', 'cron2', 'local0', 'local1', 'local2', 'local3', 'local4', 'local5', 'local6', 'local7',
];
export const SYSLOG_LEVELS = ['emerg', 'alert', 'crit', 'err', 'warning', 'notice', 'info', 'debug'];
const DEFAULT_SYSLOG_PORT = 514;

/** Returns a target, null for an accepted-but-ignored target, or an error message. */
export function parseLogTarget(args: string[], file: string, line: number): LogTarget | null | string {
  const words = [...args];
  const target = words.shift();
  if (!target) return 'expects a target address';
  // Options between the target and the facility.
  while (words[0] === 'len' || words[0] === 'format' || words[0] === 'sample' || words[0] === 'profile') {
    if (words[1] === undefined) return `'${words[0]}' expects an argument`;
    words.splice(0, 2);
  }
  const [facility, level] = words;
  if (facility === undefined) return 'expects a facility';
  const f = SYSLOG_FACILITIES.indexOf(facility);
  if (f < 0) return `unknown facility '${facility}'`;
  const l = level === undefined ? 7 : SYSLOG_LEVELS.indexOf(level);
  if (l < 0) return `unknown log level '${level}'`;
  if (target === 'stdout' || target === 'stderr') return { kind: target, host: '', port: 0, facility: f, level: l, file, line };
  if (target.startsWith('/') || target.startsWith('unix@')) return null;
  const a = parseAddress(target.replace(/^udp[46]?@/, ''));
  if (typeof a === 'string') return a;
  if (a.host === '') return `log target '${target}' needs an address`;
  return { kind: 'udp', host: a.host, port: a.port ?? DEFAULT_SYSLOG_PORT, facility: f, level: l, file, line };
}
