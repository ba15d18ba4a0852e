/**
 * Parses `HOST:PORT` addresses as haproxy accepts them: `:5672` and `*:5672` (all addresses), `0.0.0.0:5672`,
 * `[::1]:5672`, `ipv4@1.2.3.4:5`, `ipv6@:::5672`, a host name, or no port at all where the caller allows it.
 * haproxy: configuration.txt §11 "Address formats".
 */
export interface Address {
  host: string;
  port: number | null;
}

export function parseAddress(text: string): Address | string {
  let s = text;
  const at = s.indexOf('@');
  if (at >= 0) {
    const family = s.slice(0, at);
    if (family !== 'ipv4' && family !== 'ipv6') return `unsupported address family '${family}@'`;
    s = s.slice(at + 1);
  }
  let host: string;
  let portText: string | null;
  if (s.startsWith('[')) {
    const end = s.indexOf(']');
    if (end < 0) return `unterminated '[' in address '${text}'`;
    host = s.slice(1, end);
    const rest = s.slice(end + 1);
    if (rest !== '' && !rest.startsWith(':')) return `invalid address '${text}'`;
    portText = rest === '' ? null : rest.slice(1);
  } else {
    const colon = s.lastIndexOf(':');
    if (colon < 0) {
      host = s;
      portText = null;
    } else {
      host = s.slice(0, colon);
      portText = s.slice(colon + 1);
    }
  }
  if (host === '*') host = '';
  let port: number | null = null;
  if (portText !== null && portText !== '') {
    if (!/^\d+$/.test(portText)) return `invalid port '${portText}' in address '${text}'`;
    port = Number(portText);
    if (port > 65535) return `port ${port} out of range in address '${text}'`;
  }
  return { host, port };
}
