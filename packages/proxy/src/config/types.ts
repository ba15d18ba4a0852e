/** The configuration model the parser produces and the runtime consumes. Times are milliseconds. */

export type Mode = 'tcp' | 'http';
export type BalanceAlgorithm = 'roundrobin' | 'static-rr' | 'leastconn' | 'first' | 'source';
export type CheckKind = 'tcp' | 'amqp' | 'http';

export interface Where {
  file: string;
  line: number;
}

export interface Bind extends Where {
  host: string; // '' = all addresses
  port: number;
}

export interface ServerConfig extends Where {
  name: string;
  host: string;
  port: number | null; // null: same port as the one the client connected to (haproxy: server without port)
  check: boolean;
  checkPort: number | null;
  checkAddr: string | null;
  inter: number;
  fastinter: number | null;
  downinter: number | null;
  rise: number;
  fall: number;
  weight: number;
  backup: boolean;
  disabled: boolean;
  maxconn: number; // 0 = no limit
  maxqueue: number; // 0 = no limit
  onMarkedDown: 'shutdown-sessions' | null;
  onMarkedUp: 'shutdown-backup-sessions' | null;
}

export interface Timeouts {
  connect: number | null;
  client: number | null;
  server: number | null;
  clientFin: number | null;
  serverFin: number | null;
  queue: number | null;
  check: number | null;
  tunnel: number | null;
}

export interface StatsConfig {
  enabled: boolean;
  uri: string;
  refresh: number | null;
  realm: string;
  auth: { user: string; password: string }[];
  admin: boolean;
  hideVersion: boolean;
}

export interface LogTarget extends Where {
  kind: 'udp' | 'stdout' | 'stderr';
  host: string;
  port: number;
  facility: number; // syslog facility number (local0 = 16)
  level: number; // highest severity number sent (notice = 5: emerg..notice)
}

export interface ProxyOptions {
  clitcpka: boolean;
  srvtcpka: boolean;
  redispatch: boolean;
  redispatchInterval: number; // haproxy: option redispatch <interval>, -1 = on the last retry
  amqpCheck: boolean;
  httpCheck: { method: string; uri: string; version: string } | null;
  allbackups: boolean;
  tcplog: boolean;
  dontlognull: boolean;
}

export interface ProxyConfig extends Where {
  kind: 'frontend' | 'backend' | 'listen';
  name: string;
  mode: Mode;
  disabled: boolean;
  binds: Bind[];
  defaultBackend: string | null;
  defaultBackendWhere: Where | null;
  balance: BalanceAlgorithm;
  servers: ServerConfig[];
  defaultServer: Partial<ServerConfig>;
  options: ProxyOptions;
  retries: number;
  timeouts: Timeouts;
  maxconn: number | null;
  stats: StatsConfig;
  /** `log` lines of the section; `log global` adds the global targets. */
  logTargets: LogTarget[];
  logGlobal: boolean;
}

export interface StatsSocketConfig extends Where {
  path: string;
  mode: number | null;
  level: 'user' | 'operator' | 'admin';
}

export interface GlobalConfig {
  maxconn: number | null;
  pidfile: string | null;
  daemon: boolean;
  statsSockets: StatsSocketConfig[];
  hardStopAfter: number | null;
  spreadChecks: number;
  logTargets: LogTarget[];
  logTag: string;
}

export interface ConfigMessage extends Where {
  directive: string;
  message: string;
}

export interface Config {
  files: string[];
  global: GlobalConfig;
  proxies: ProxyConfig[];
  warnings: ConfigMessage[];
}
