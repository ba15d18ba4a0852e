/** Built-in defaults, as haproxy has them when a `defaults` section says nothing. */
import type { ProxyConfig, ServerConfig, StatsConfig } from './types.ts';

export const DEFAULT_INTER_MS = 2000; // haproxy: check inter defaults to 2s
export const DEFAULT_RISE = 2; // haproxy: rise defaults to 2
export const DEFAULT_FALL = 3; // haproxy: fall defaults to 3
export const DEFAULT_RETRIES = 3; // haproxy: retries defaults to 3
export const DEFAULT_STATS_URI = '/haproxy?stats'; // haproxy: stats uri default prefix
export const DEFAULT_GLOBAL_MAXCONN = 4096;

export function defaultStats(): StatsConfig {
  return { enabled: false, uri: DEFAULT_STATS_URI, refresh: null, realm: 'HAProxy Statistics', auth: [], admin: false, hideVersion: false };
}

export function defaultProxy(kind: ProxyConfig['kind'], name: string, file: string, line: number): ProxyConfig {
  return {
    kind,
    name,
    file,
    line,
    mode: 'tcp',
    disabled: false,
    binds: [],
    defaultBackend: null,
    defaultBackendWhere: null,
    balance: 'roundrobin',
    servers: [],
    defaultServer: {},
    options: {
      clitcpka: false,
      srvtcpka: false,
      redispatch: false,
      redispatchInterval: -1,
      amqpCheck: false,
      httpCheck: null,
      allbackups: false,
      tcplog: false,
      dontlognull: false,
    },
    retries: DEFAULT_RETRIES,
    timeouts: { connect: null, client: null, server: null, clientFin: null, serverFin: null, queue: null, check: null, tunnel: null },
    maxconn: null,
    stats: defaultStats(),
    logTargets: [],
    logGlobal: false,
  };
}

/** A new proxy section starts as a copy of the last `defaults` section (haproxy: configuration.txt §4). */
export function inheritDefaults(defaults: ProxyConfig, kind: ProxyConfig['kind'], name: string, file: string, line: number): ProxyConfig {
  const p = defaultProxy(kind, name, file, line);
  p.mode = defaults.mode;
  p.balance = defaults.balance;
  p.defaultServer = { ...defaults.defaultServer };
  p.options = { ...defaults.options };
  p.retries = defaults.retries;
  p.timeouts = { ...defaults.timeouts };
  p.maxconn = defaults.maxconn;
  p.stats = { ...defaults.stats, auth: [...defaults.stats.auth] };
  p.logTargets = [...defaults.logTargets];
  p.logGlobal = defaults.logGlobal;
  p.defaultBackend = defaults.defaultBackend;
  p.defaultBackendWhere = defaults.defaultBackendWhere;
  return p;
}

export function completeServer(partial: Partial<ServerConfig>, base: Partial<ServerConfig>, name: string, host: string, port: number | null, file: string, line: number): ServerConfig {
  const s = { ...base, ...partial };
  return {
    name,
    host,
    port,
    file,
    line,
    check: s.check ?? false,
    checkPort: s.checkPort ?? null,
    checkAddr: s.checkAddr ?? null,
    inter: s.inter ?? DEFAULT_INTER_MS,
    fastinter: s.fastinter ?? null,
    downinter: s.downinter ?? null,
    rise: s.rise ?? DEFAULT_RISE,
    fall: s.fall ?? DEFAULT_FALL,
    weight: s.weight ?? 1,
    backup: s.backup ?? false,
    disabled: s.disabled ?? false,
    maxconn: s.maxconn ?? 0,
    maxqueue: s.maxqueue ?? 0,
    onMarkedDown: s.onMarkedDown ?? null,
    onMarkedUp: s.onMarkedUp ?? null,
  };
}
