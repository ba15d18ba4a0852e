// The rabbitmq.conf (new-style, sysctl-like) subset that applies to Warren: `key = value` lines, `#` comments.
// Unknown keys and bad values are errors naming the file, line and key (ConfigError), never silently ignored.
import { readFileSync } from 'node:fs';
import type { BrokerOptions } from '../server/broker.ts';

export class ConfigError extends Error {
  readonly file: string;
  readonly line: number;
  constructor(file: string, line: number, message: string) {
    super(`${file}:${line}: ${message}`);
    this.file = file;
    this.line = line;
  }
}

export interface NodeConfig extends BrokerOptions {
  /** control / distribution port (brokerctl talks to it). Default: AMQP port + 20000. */
  distPort?: number;
  cookieFile?: string;
  managementPort?: number;
  managementHost?: string;
  /** ms between the management statistics' samples (rates are taken between the last two) */
  statsIntervalMs?: number;
  partitionHandling?: 'ignore' | 'pause_minority' | 'autoheal';
}

/** Byte sizes as RabbitMQ writes them: 1024, 1KB, 1MB, 1GB, 1KiB, 2GiB... */
export function parseBytes(v: string): number | null {
  const m = /^(\d+(?:\.\d+)?)\s*(k|kb|kib|m|mb|mib|g|gb|gib|t|tb|tib)?$/i.exec(v.trim());
  if (!m) return null;
  const n = Number(m[1]);
  const unit = (m[2] ?? '').toLowerCase();
  const mult: Record<string, number> = {
    '': 1, k: 1024, kib: 1024, kb: 1000, m: 1024 ** 2, mib: 1024 ** 2, mb: 1000 ** 2,
    g: 1024 ** 3, gib: 1024 ** 3, gb: 1000 ** 3, t: 1024 ** 4, tib: 1024 ** 4, tb: 1000 ** 4,
  };
  return Math.floor(n * (mult[unit] ?? 1));
}

type Setter = (cfg: NodeConfig, value: string, fail: (msg: string) => never, key: string) => void;

const int = (min: number, max: number, set: (cfg: NodeConfig, n: number) => void): Setter => (cfg, v, fail) => {
  if (!/^\d+$/.test(v)) fail(`expected an integer, got '${v}'`);
  const n = Number(v);
  if (n < min || n > max) fail(`must be between ${min} and ${max}, got ${n}`);
  set(cfg, n);
};

const bool = (v: string, fail: (msg: string) => never): boolean => {
  if (v === 'true') return true;
  if (v === 'false') return false;
  return fail(`expected true or false, got '${v}'`);
};

function listener(cfg: NodeConfig, v: string, fail: (msg: string) => never): void {
  // listeners.tcp.default = 5672 | 127.0.0.1:5672 | :::5672
  const m = /^(?:(.*):)?(\d+)$/.exec(v);
  if (!m) fail(`expected a port or host:port, got '${v}'`);
  const port = Number(m![2]);
  if (port > 65535) fail(`port out of range: ${port}`);
  cfg.port = port;
  if (m![1] !== undefined && m![1] !== '') cfg.host = m![1].replace(/^\[|\]$/g, '');
}

const KEYS: Record<string, Setter> = {
  'listeners.tcp.default': listener,
  'listeners.tcp.1': listener,
  'listeners.tcp': (cfg, v, fail) => {
    if (v !== 'none') fail(`only 'none' is accepted here`);
  },
  default_user: (cfg, v) => void (cfg.defaultUser = v),
  default_pass: (cfg, v) => void (cfg.defaultPass = v),
  default_vhost: (cfg, v) => void (cfg.defaultVhost = v),
  loopback_users: (cfg, v, fail) => {
    if (v !== 'none') fail(`only 'none' is accepted for loopback_users (or use loopback_users.NAME = true|false)`);
    cfg.loopbackUsers = [];
  },
  heartbeat: int(0, 86400, (c, n) => void (c.heartbeat = n)),
  frame_max: int(4096, 1 << 30, (c, n) => void (c.frameMax = n)),
  channel_max: int(0, 65535, (c, n) => void (c.channelMax = n === 0 ? 65535 : n)),
  'vm_memory_high_watermark.relative': (cfg, v, fail) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0 || n > 1) fail(`expected a fraction in (0, 1], got '${v}'`);
    cfg.memoryHighWatermark = n;
  },
  'vm_memory_high_watermark.absolute': (cfg, v, fail) => {
    const n = parseBytes(v);
    if (n === null || n <= 1) fail(`expected a byte size like 1GB, got '${v}'`);
    cfg.memoryHighWatermark = n!;
  },
  // RabbitMQ's free disc space alarm: bytes (50MB, 1GB, 2GiB) or a multiple of total memory
  'disk_free_limit.absolute': (cfg, v, fail) => {
    const n = parseBytes(v);
    if (n === null) fail(`expected a byte size like 50MB or 1GB, got '${v}'`);
    cfg.diskFreeLimit = n!;
  },
  'disk_free_limit.relative': (cfg, v, fail) => {
    const n = Number(v);
    if (!/^\d+(\.\d+)?$/.test(v) || !Number.isFinite(n)) fail(`expected a multiple of total memory like 1.0 or 1.5, got '${v}'`);
    cfg.diskFreeLimit = { memRelative: n };
  },
  data_dir: (cfg, v) => void (cfg.dataDir = v),
  node_name: (cfg, v) => void (cfg.nodeName = v),
  'distribution.listener.port_range.min': int(1, 65535, (c, n) => void (c.distPort = n)),
  cookie_file: (cfg, v) => void (cfg.cookieFile = v),
  'management.tcp.port': int(1, 65535, (c, n) => void (c.managementPort = n)),
  'management.tcp.ip': (cfg, v) => void (cfg.managementHost = v),
  // RabbitMQ's statistics interval, in ms (its default: 5000)
  collect_statistics_interval: int(100, 3_600_000, (c, n) => void (c.statsIntervalMs = n)),
  cluster_partition_handling: (cfg, v, fail) => {
    if (v !== 'ignore' && v !== 'pause_minority' && v !== 'autoheal') fail(`expected ignore, pause_minority or autoheal, got '${v}'`);
    cfg.partitionHandling = v as 'ignore' | 'pause_minority' | 'autoheal';
  },
};

/** Keys RabbitMQ has that make no difference here: accepted with a warning. */
const IGNORED = /^(log\.|cluster_formation\.|collect_statistics$|management\.|ssl_options\.|listeners\.ssl\.|mqtt\.|stomp\.|queue_master_locator|total_memory_available_override_value|num_acceptors\.|handshake_timeout|tcp_listen_options\.)/;

export function parseConfig(text: string, file: string, warn: (line: string) => void = () => {}): NodeConfig {
  const cfg: NodeConfig = {};
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    const line = raw.replace(/(^|\s)#.*$/, '').trim();
    if (line === '') continue;
    const eq = line.indexOf('=');
    if (eq < 0) throw new ConfigError(file, i + 1, `expected 'key = value', got '${line}'`);
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim();
    const fail = (msg: string): never => {
      throw new ConfigError(file, i + 1, `${key}: ${msg}`);
    };
    if (value === '') fail('missing value');
    const lu = /^loopback_users\.(.+)$/.exec(key);
    if (lu) {
      const on = bool(value, fail);
      const users = new Set(cfg.loopbackUsers ?? ['guest']);
      if (on) users.add(lu[1]!);
      else users.delete(lu[1]!);
      cfg.loopbackUsers = [...users];
      continue;
    }
    const setter = KEYS[key];
    if (setter) {
      setter(cfg, value, fail, key);
      continue;
    }
    if (IGNORED.test(key)) {
      warn(`${file}:${i + 1}: ${key} is accepted but has no effect in Warren`);
      continue;
    }
    throw new ConfigError(file, i + 1, `unknown key '${key}'`);
  }
  return cfg;
}

export function loadConfig(file: string, warn?: (line: string) => void): NodeConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, 0, `cannot read config file: ${(err as Error).message}`);
  }
  return parseConfig(text, file, warn);
}
