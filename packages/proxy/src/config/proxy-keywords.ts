/**
 * Keywords of `defaults`, `frontend`, `backend` and `listen` sections.
 * haproxy: configuration.txt §4.1 "Proxy keywords matrix" (which keyword is valid in which section) and §4.2.
 */
import { parseAddress } from './address.ts';
import { completeServer } from './defaults.ts';
import { parseLogTarget } from './log-target.ts';
import { parseDuration, parseInteger } from './duration.ts';
import { parseServerKeywords } from './server-line.ts';
import type { BalanceAlgorithm, ProxyConfig, Timeouts } from './types.ts';

export type SectionKind = ProxyConfig['kind'] | 'defaults';

export interface KeywordContext {
  proxy: ProxyConfig;
  kind: SectionKind;
  file: string;
  line: number;
  warn(directive: string, message: string): void;
  error(directive: string, message: string): void;
}

type KeywordHandler = (ctx: KeywordContext, args: string[]) => void;

// Letters say where a keyword is valid: d(efaults) f(rontend) b(ackend) l(isten).
interface Keyword {
  where: string;
  handle: KeywordHandler;
}

const TIMEOUTS: Record<string, keyof Timeouts | null> = {
  connect: 'connect',
  client: 'client',
  server: 'server',
  'client-fin': 'clientFin',
  'server-fin': 'serverFin',
  queue: 'queue',
  check: 'check',
  tunnel: 'tunnel',
  // HTTP-mode timeouts: meaningful only for HTTP processing, which this proxy does not do; accepted as haproxy does.
  'http-request': null,
  'http-keep-alive': null,
  tarpit: null,
};

const BALANCE: Record<string, BalanceAlgorithm> = {
  roundrobin: 'roundrobin',
  'static-rr': 'static-rr',
  leastconn: 'leastconn',
  first: 'first',
  source: 'source',
};

/** Options accepted for compatibility that have no effect on a TCP proxy (logging formats, HTTP modes). */
const OPTIONS_NO_EFFECT = new Set([
  'httplog', 'dontlog-normal', 'log-separate-errors', 'logasap', 'log-health-checks',
  'http-server-close', 'httpclose', 'forceclose', 'http-keep-alive', 'forwardfor', 'http-pretend-keepalive',
  'http-buffer-request', 'abortonclose', 'splice-auto', 'splice-request', 'splice-response', 'contstats',
  'socket-stats', 'independent-streams', 'nolinger', 'persist', 'prefer-last-server', 'transparent',
  'tcp-smart-accept', 'tcp-smart-connect', 'http-use-proxy-header', 'accept-invalid-http-request',
  'accept-invalid-http-response', 'checkcache', 'httpchk-ssl', 'disable-h2-upgrade',
]);

/** Checks of other protocols: a TCP connect check is run instead. */
const OPTIONS_OTHER_CHECKS = new Set(['mysql-check', 'pgsql-check', 'redis-check', 'smtpchk', 'ldap-check', 'ssl-hello-chk', 'external-check', 'spop-check']);

export function option(ctx: KeywordContext, args: string[], negate: boolean): void {
  const name = args[0];
  const directive = `${negate ? 'no ' : ''}option ${name ?? ''}`.trim();
  if (name === undefined) return ctx.error('option', 'expects an option name');
  const o = ctx.proxy.options;
  const on = !negate;
  switch (name) {
    case 'tcpka': // haproxy: option tcpka = clitcpka + srvtcpka
      o.clitcpka = on;
      o.srvtcpka = on;
      return;
    case 'clitcpka':
      o.clitcpka = on;
      return;
    case 'srvtcpka':
      o.srvtcpka = on;
      return;
    case 'redispatch': {
      o.redispatch = on;
      if (args[1] !== undefined) {
        const n = parseInteger(args[1], -1_000_000, 1_000_000);
        if (n === null || n === 0) return ctx.error(directive, `expects a non-zero retry interval, got '${args[1]}'`);
        o.redispatchInterval = n;
      }
      return;
    }
    case 'amqp-check': // Warren: AMQP protocol header in, connection.start expected back
      o.amqpCheck = on;
      if (on) o.httpCheck = null;
      return;
    case 'httpchk':
      o.httpCheck = on ? { method: args.length >= 3 ? (args[1] as string) : 'OPTIONS', uri: args[2] ?? args[1] ?? '/', version: args[3] ?? 'HTTP/1.0' } : null;
      if (on) o.amqpCheck = false;
      return;
    case 'tcp-check': // without tcp-check rules this is a plain connect check
      o.amqpCheck = false;
      o.httpCheck = null;
      return;
    case 'allbackups':
      o.allbackups = on;
      return;
    case 'tcplog': // haproxy: one log line per TCP session, at its end
      o.tcplog = on;
      return;
    case 'dontlognull': // haproxy: no log line for sessions that transferred no data
      o.dontlognull = on;
      return;
  }
  if (OPTIONS_NO_EFFECT.has(name)) {
    if (ctx.proxy.mode === 'tcp' && name.startsWith('http')) ctx.warn(directive, `ignored in 'mode tcp'`);
    return;
  }
  if (OPTIONS_OTHER_CHECKS.has(name)) return ctx.warn(directive, 'not implemented; a TCP connect check is used instead');
  ctx.error(directive, `unknown option '${name}'`);
}

function stats(ctx: KeywordContext, args: string[]): void {
  const sub = args[0];
  const directive = `stats ${sub ?? ''}`.trim();
  const s = ctx.proxy.stats;
  if (sub === undefined) return ctx.error('stats', 'expects a sub-keyword');
  if (sub === 'socket' || sub === 'timeout' || sub === 'maxconn' || sub === 'bind-process')
    return ctx.error(directive, `only valid in the 'global' section`);
  s.enabled = true; // haproxy: any stats keyword enables stats
  switch (sub) {
    case 'enable':
      return;
    case 'uri':
      if (!args[1]) return ctx.error(directive, 'expects a URI prefix');
      if (args.length > 2) ctx.warn(directive, `extra argument(s) '${args.slice(2).join(' ')}' ignored; using '${args[1]}'`);
      s.uri = args[1];
      return;
    case 'refresh': {
      const t = args[1] === undefined ? null : parseDuration(args[1]);
      if (t === null) return ctx.error(directive, `expects a time value, got '${args[1] ?? ''}'`);
      s.refresh = t;
      return;
    }
    case 'realm':
      if (!args[1]) return ctx.error(directive, 'expects a realm');
      s.realm = args.slice(1).join(' ');
      return;
    case 'auth': {
      const cred = args[1];
      const colon = cred?.indexOf(':') ?? -1;
      if (!cred || colon < 1) return ctx.error(directive, `expects <user>:<password>, got '${cred ?? ''}'`);
      s.auth.push({ user: cred.slice(0, colon), password: cred.slice(colon + 1) });
      return;
    }
    case 'admin': {
      const cond = args.slice(1).join(' ');
      if (cond === 'if TRUE' || cond === 'if LOCALHOST') s.admin = true;
      else if (cond === 'if FALSE' || cond === 'unless TRUE') s.admin = false;
      else return ctx.error(directive, `only 'if TRUE', 'if LOCALHOST' and 'if FALSE' conditions are supported`);
      return;
    }
    case 'hide-version':
      s.hideVersion = true;
      return;
    case 'show-legends':
    case 'show-node':
    case 'show-desc':
    case 'show-modules':
    case 'scope':
    case 'http-request':
      return ctx.warn(directive, 'not implemented and ignored');
  }
  ctx.error(directive, `unknown stats keyword '${sub}'`);
}

function bind(ctx: KeywordContext, args: string[]): void {
  const list = args[0];
  if (!list) return ctx.error('bind', 'expects an address');
  for (const part of list.split(',')) addBind(ctx, 'bind', part);
  for (let i = 1; i < args.length; i++) {
    const kw = args[i] as string;
    if (kw === 'ssl' || kw === 'crt' || kw === 'alpn') return ctx.error('bind', `'${kw}' is not supported by this proxy`);
    if (['name', 'id', 'process', 'mode', 'user', 'group', 'backlog', 'maxconn', 'interface', 'nice', 'uid', 'gid', 'level'].includes(kw)) i++;
    ctx.warn('bind', `bind option '${kw}' is not implemented and is ignored`);
  }
}

export function addBind(ctx: KeywordContext, directive: string, text: string): void {
  const a = parseAddress(text);
  if (typeof a === 'string') return ctx.error(directive, a);
  if (a.port === null) return ctx.error(directive, `missing port in address '${text}'`);
  if (/^\d+-\d+$/.test(text.slice(text.lastIndexOf(':') + 1))) return ctx.error(directive, 'port ranges are not supported');
  ctx.proxy.binds.push({ host: a.host, port: a.port, file: ctx.file, line: ctx.line });
}

function server(ctx: KeywordContext, args: string[]): void {
  const [name, addr] = args;
  if (!name || !addr) return ctx.error('server', 'expects <name> and <address>');
  const a = parseAddress(addr);
  if (typeof a === 'string') return ctx.error('server', a);
  if (a.host === '') return ctx.error('server', `server '${name}' needs a host in '${addr}'`);
  const kws = parseServerKeywords(args.slice(2));
  if (typeof kws === 'string') return ctx.error('server', kws);
  for (const w of kws.warnings) ctx.warn('server', w);
  if (ctx.proxy.servers.some((s) => s.name === name)) return ctx.error('server', `duplicate server name '${name}' in '${ctx.proxy.name}'`);
  ctx.proxy.servers.push(completeServer(kws.settings, ctx.proxy.defaultServer, name, a.host, a.port, ctx.file, ctx.line));
}

function defaultServer(ctx: KeywordContext, args: string[]): void {
  const kws = parseServerKeywords(args);
  if (typeof kws === 'string') return ctx.error('default-server', kws);
  for (const w of kws.warnings) ctx.warn('default-server', w);
  Object.assign(ctx.proxy.defaultServer, kws.settings);
}

function timeout(ctx: KeywordContext, args: string[]): void {
  const [which, value] = args;
  const directive = `timeout ${which ?? ''}`.trim();
  if (which === undefined || !(which in TIMEOUTS)) return ctx.error(directive, `unknown timeout '${which ?? ''}'`);
  const t = value === undefined ? null : parseDuration(value);
  if (t === null) return ctx.error(directive, `expects a time value, got '${value ?? ''}'`);
  // haproxy 2.6 (proxy_parse_timeout): one value only.
  if (args[2] !== undefined) return ctx.error(directive, `unexpected extra argument '${args[2]}' after value '${value as string}'.`);
  const key = TIMEOUTS[which];
  if (key) ctx.proxy.timeouts[key] = t === 0 ? null : t; // haproxy: a zero timeout means no timeout
}

/**
 * The haproxy 1.x spellings `contimeout`, `clitimeout`, `srvtimeout`: haproxy 2.1 removed them, and 2.6 refuses a
 * config that uses them (cfgparse-listen.c), with this message.
 */
const removedTimeout =
  (old: string, modern: string): KeywordHandler =>
  (ctx) =>
    ctx.error('', `the '${old}' directive is not supported anymore since HAProxy 2.1. Use '${modern}'.`);

export const PROXY_KEYWORDS: Record<string, Keyword> = {
  bind: { where: 'fl', handle: bind },
  mode: {
    where: 'dfbl',
    handle: (ctx, [m]) => {
      if (m !== 'tcp' && m !== 'http') return ctx.error('mode', `expects 'tcp' or 'http', got '${m ?? ''}'`);
      ctx.proxy.mode = m;
    },
  },
  balance: {
    where: 'dbl',
    handle: (ctx, [alg]) => {
      const b = alg === undefined ? undefined : BALANCE[alg];
      if (!b) return ctx.error('balance', `unsupported algorithm '${alg ?? ''}' (roundrobin, static-rr, leastconn, first, source)`);
      ctx.proxy.balance = b;
    },
  },
  server: { where: 'bl', handle: server },
  'default-server': { where: 'dbl', handle: defaultServer },
  default_backend: {
    where: 'dfl',
    handle: (ctx, [name]) => {
      if (!name) return ctx.error('default_backend', 'expects a backend name');
      ctx.proxy.defaultBackend = name;
      ctx.proxy.defaultBackendWhere = { file: ctx.file, line: ctx.line };
    },
  },
  use_backend: {
    where: 'fl',
    handle: (ctx, args) => {
      const [name, cond] = args;
      if (!name) return ctx.error('use_backend', 'expects a backend name');
      if (cond !== undefined) return ctx.error('use_backend', 'ACL conditions are not supported; use an unconditional use_backend or default_backend');
      // Unconditional use_backend acts as the default backend for every connection.
      ctx.proxy.defaultBackend = name;
      ctx.proxy.defaultBackendWhere = { file: ctx.file, line: ctx.line };
    },
  },
  option: { where: 'dfbl', handle: (ctx, args) => option(ctx, args, false) },
  retries: {
    where: 'dbl',
    handle: (ctx, [n]) => {
      const v = n === undefined ? null : parseInteger(n, 0, 1000);
      if (v === null) return ctx.error('retries', `expects an integer, got '${n ?? ''}'`);
      ctx.proxy.retries = v;
    },
  },
  timeout: { where: 'dfbl', handle: timeout },
  contimeout: { where: 'dfbl', handle: removedTimeout('contimeout', 'timeout connect') },
  clitimeout: { where: 'dfbl', handle: removedTimeout('clitimeout', 'timeout client') },
  srvtimeout: { where: 'dfbl', handle: removedTimeout('srvtimeout', 'timeout server') },
  maxconn: {
    where: 'dfl',
    handle: (ctx, [n]) => {
      const v = n === undefined ? null : parseInteger(n, 0);
      if (v === null) return ctx.error('maxconn', `expects an integer, got '${n ?? ''}'`);
      ctx.proxy.maxconn = v;
    },
  },
  stats: { where: 'dfbl', handle: stats },
  disabled: { where: 'dfbl', handle: (ctx) => void (ctx.proxy.disabled = true) },
  enabled: { where: 'dfbl', handle: (ctx) => void (ctx.proxy.disabled = false) },
  transparent: { where: 'dbl', handle: (ctx) => ctx.warn('transparent', 'not implemented and ignored') },
  log: {
    where: 'dfbl',
    handle: (ctx, args) => {
      if (args[0] === 'global') return void (ctx.proxy.logGlobal = true);
      const t = parseLogTarget(args, ctx.file, ctx.line);
      if (typeof t === 'string') return ctx.error('log', t);
      if (t === null) return ctx.warn('log', `unix socket log targets are not supported; '${args[0] ?? ''}' is ignored`);
      ctx.proxy.logTargets.push(t);
    },
  },
};

/** Keywords accepted with a warning: logging, ACLs, HTTP processing, and the like. */
export const PROXY_IGNORED = new Set([
  'description', 'id', 'fullconn', 'hash-type', 'cookie', 'acl', 'tcp-request', 'tcp-response', 'http-request',
  'http-response', 'http-check', 'tcp-check', 'errorfile', 'errorloc', 'capture', 'monitor-uri', 'monitor', 'source',
  'rate-limit', 'backlog', 'log-format', 'unique-id-format', 'unique-id-header', 'compression', 'http-reuse',
  'stick-table', 'stick', 'persist', 'dispatch', 'bind-process', 'grace', 'redirect', 'reqadd', 'rspadd', 'email-alert',
  'load-server-state-from-file', 'server-state-file-name', 'log-tag', 'max-keep-alive-queue', 'http-send-name-header',
]);
