/**
 * The keywords of `server NAME ADDR [kw...]` and `default-server [kw...]`.
 * haproxy: configuration.txt §5.2 "Server and default-server options".
 */
import { parseDuration, parseInteger } from './duration.ts';
import type { ServerConfig } from './types.ts';

export type ServerSettings = Partial<ServerConfig>;

export interface ServerLineResult {
  settings: ServerSettings;
  warnings: string[];
}

type Handler = (s: ServerSettings, arg: string) => string | null; // returns an error message or null

const int =
  (key: 'rise' | 'fall' | 'weight' | 'maxconn' | 'maxqueue', min: number, max: number): Handler =>
  (s, arg) => {
    const n = parseInteger(arg, min, max);
    if (n === null) return `'${key}' expects an integer between ${min} and ${max}, got '${arg}'`;
    s[key] = n;
    return null;
  };

const time =
  (key: 'inter' | 'fastinter' | 'downinter'): Handler =>
  (s, arg) => {
    const n = parseDuration(arg);
    if (n === null || n === 0) return `'${key}' expects a positive time value, got '${arg}'`;
    s[key] = n;
    return null;
  };

/** Keywords that take one argument. */
const WITH_ARG: Record<string, Handler> = {
  inter: time('inter'), // haproxy: check inter
  fastinter: time('fastinter'),
  downinter: time('downinter'),
  rise: int('rise', 1, 1_000_000),
  fall: int('fall', 1, 1_000_000),
  weight: int('weight', 0, 256), // haproxy: weight 0..256
  maxconn: int('maxconn', 0, 1_000_000_000),
  maxqueue: int('maxqueue', 0, 1_000_000_000),
  port: (s, arg) => {
    const n = parseInteger(arg, 1, 65535);
    if (n === null) return `'port' expects a port number, got '${arg}'`;
    s.checkPort = n;
    return null;
  },
  addr: (s, arg) => {
    s.checkAddr = arg;
    return null;
  },
  'on-marked-down': (s, arg) => {
    if (arg !== 'shutdown-sessions') return `'on-marked-down' supports only 'shutdown-sessions', got '${arg}'`;
    s.onMarkedDown = 'shutdown-sessions';
    return null;
  },
  'on-marked-up': (s, arg) => {
    if (arg !== 'shutdown-backup-sessions') return `'on-marked-up' supports only 'shutdown-backup-sessions'`;
    s.onMarkedUp = 'shutdown-backup-sessions';
    return null;
  },
};

const FLAGS: Record<string, (s: ServerSettings) => void> = {
  check: (s) => (s.check = true),
  'no-check': (s) => (s.check = false),
  backup: (s) => (s.backup = true),
  'no-backup': (s) => (s.backup = false),
  disabled: (s) => (s.disabled = true),
  enabled: (s) => (s.disabled = false),
};

/** Accepted for compatibility; they change nothing here. Value: how many arguments they take. */
const IGNORED: Record<string, number> = {
  id: 1,
  cookie: 1,
  slowstart: 1,
  'init-addr': 1,
  resolvers: 1,
  'resolve-prefer': 1,
  'error-limit': 1,
  observe: 1,
  'on-error': 1,
  'agent-check': 0,
  'agent-port': 1,
  'agent-inter': 1,
  'check-send-proxy': 0,
  'log-proto': 1,
  'pool-max-conn': 1,
  'pool-purge-delay': 1,
  'tcp-ut': 1,
  'no-tfo': 0,
  tfo: 0,
  'redir': 1,
  'track': 1,
};

/** Keywords that change behaviour in ways this proxy does not implement: rejected rather than silently ignored. */
const UNSUPPORTED = new Set(['ssl', 'send-proxy', 'send-proxy-v2', 'check-ssl', 'crt', 'ca-file', 'verify', 'sni', 'proto']);

export function parseServerKeywords(words: string[]): ServerLineResult | string {
  const settings: ServerSettings = {};
  const warnings: string[] = [];
  for (let i = 0; i < words.length; i++) {
    const kw = words[i] as string;
    const flag = FLAGS[kw];
    if (flag) {
      flag(settings);
      continue;
    }
    const withArg = WITH_ARG[kw];
    if (withArg) {
      const arg = words[i + 1];
      if (arg === undefined) return `'${kw}' expects an argument`;
      const err = withArg(settings, arg);
      if (err) return err;
      i++;
      continue;
    }
    const ignored = IGNORED[kw];
    if (ignored !== undefined) {
      if (words.length < i + 1 + ignored) return `'${kw}' expects an argument`;
      warnings.push(`server keyword '${kw}' is not implemented and is ignored`);
      i += ignored;
      continue;
    }
    if (UNSUPPORTED.has(kw)) return `server keyword '${kw}' is not supported by this proxy`;
    return `unknown server keyword '${kw}'`;
  }
  return { settings, warnings };
}
