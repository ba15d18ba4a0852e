/**
 * Reads haproxy.cfg text into a Config. Every error names file, line and directive, like haproxy's
 * `parsing [file:line] : ...` alerts; everything is checked before the first error is thrown so `-c` reports all.
 */
import { readFileSync } from 'node:fs';
import { defaultProxy, inheritDefaults } from './defaults.ts';
import { parseDuration, parseInteger } from './duration.ts';
import { parseLogTarget } from './log-target.ts';
import { addBind, option, PROXY_IGNORED, PROXY_KEYWORDS, type KeywordContext, type SectionKind } from './proxy-keywords.ts';
import { tokenize, TokenizeError } from './tokenize.ts';
import type { Config, ConfigMessage, GlobalConfig, ProxyConfig } from './types.ts';

export class ConfigError extends Error {
  readonly code = 'ECONFIG';
  constructor(readonly errors: ConfigMessage[]) {
    super(errors.map(formatMessage).join('\n'));
  }
}

export function formatMessage(m: ConfigMessage): string {
  return `parsing [${m.file}:${m.line}] : ${m.directive ? `'${m.directive}' : ` : ''}${m.message}`;
}

/** Global keywords with no effect here (process management, logging targets, TLS, tuning). */
const GLOBAL_IGNORED = new Set([
  'log-send-hostname', 'chroot', 'user', 'group', 'uid', 'gid', 'nbproc', 'nbthread',
  'cpu-map', 'quiet', 'debug', 'master-worker', 'ulimit-n', 'node', 'description', 'ca-base', 'crt-base', 'maxsslconn',
  'maxconnrate', 'maxsessrate', 'maxpipes', 'server-state-file', 'server-state-base', 'localpeer', 'external-check',
  'insecure-fork-wanted', 'lua-load', 'expose-experimental-directives', 'noepoll', 'nopoll', 'nosplice', 'zero-warning',
  'unix-bind', 'max-spread-checks', 'h1-case-adjust', 'set-dumpable', 'strict-limits', 'busy-polling', 'grace',
]);

const UNSUPPORTED_SECTIONS = new Set(['peers', 'resolvers', 'userlist', 'mailers', 'program', 'cache', 'ring', 'http-errors', 'fcgi-app']);

export function emptyGlobal(): GlobalConfig {
  return { maxconn: null, pidfile: null, daemon: false, statsSockets: [], hardStopAfter: null, spreadChecks: 0, logTargets: [], logTag: 'proxy' };
}

export function parseConfigFiles(files: string[]): Config {
  return parseConfigTexts(files.map((file) => ({ file, text: readFileSync(file, 'utf8') })));
}

export function parseConfigTexts(sources: { file: string; text: string }[]): Config {
  const errors: ConfigMessage[] = [];
  const warnings: ConfigMessage[] = [];
  const global = emptyGlobal();
  const proxies: ProxyConfig[] = [];
  let defaults = defaultProxy('listen', '', '', 0);
  for (const { file, text } of sources) {
    let kind: SectionKind | 'global' | 'skip' | null = null;
    let proxy: ProxyConfig = defaults;
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const line = i + 1;
      const error = (directive: string, message: string): void => void errors.push({ file, line, directive, message });
      const warn = (directive: string, message: string): void => void warnings.push({ file, line, directive, message });
      let words: string[];
      try {
        words = tokenize(lines[i] as string);
      } catch (e) {
        if (e instanceof TokenizeError) error('', e.message);
        else throw e;
        continue;
      }
      const kw = words[0];
      if (kw === undefined) continue;
      const args = words.slice(1);
      if (kw === 'global') {
        kind = 'global';
        continue;
      }
      if (kw === 'defaults') {
        kind = 'defaults';
        defaults = inheritDefaults(defaults, 'listen', args[0] ?? '', file, line);
        proxy = defaults;
        continue;
      }
      if (kw === 'frontend' || kw === 'backend' || kw === 'listen') {
        const name = args[0];
        if (!name) {
          error(kw, 'expects a name');
          kind = 'skip';
          continue;
        }
        if (!/^[A-Za-z0-9_.:-]+$/.test(name)) error(kw, `invalid character in name '${name}'`);
        const clash = proxies.find((p) => p.name === name && (p.kind === 'listen' || kw === 'listen' || p.kind === kw));
        if (clash) error(kw, `'${name}' has the same name as the ${clash.kind} declared at ${clash.file}:${clash.line}`);
        kind = kw;
        proxy = inheritDefaults(defaults, kw, name, file, line);
        proxies.push(proxy);
        const ctx = makeContext(proxy, kind, file, line, warn, error);
        if (args[1] !== undefined) {
          // haproxy 1.x: `listen NAME ADDR:PORT`; haproxy 2.x rejects it, we keep accepting it as a `bind`.
          if (kw === 'backend') error(kw, 'a backend takes no address');
          else {
            warn(kw, `address on the '${kw}' line is deprecated; use 'bind ${args[1]}'`);
            for (const part of args[1].split(',')) addBind(ctx, kw, part);
          }
        }
        continue;
      }
      if (UNSUPPORTED_SECTIONS.has(kw)) {
        warn(kw, `'${kw}' sections are not implemented; the section is ignored`);
        kind = 'skip';
        continue;
      }
      if (kind === null) {
        error(kw, `unknown keyword '${kw}' out of section`);
        continue;
      }
      if (kind === 'skip') continue;
      if (kind === 'global') {
        globalKeyword(global, kw, args, warn, error, file, line);
        continue;
      }
      proxyKeyword(makeContext(proxy, kind, file, line, warn, error), kw, args);
    }
  }
  checkReferences(proxies, errors, warnings);
  if (errors.length) throw new ConfigError(errors);
  return { files: sources.map((s) => s.file), global, proxies, warnings };
}

function makeContext(
  proxy: ProxyConfig,
  kind: SectionKind,
  file: string,
  line: number,
  warn: KeywordContext['warn'],
  error: KeywordContext['error'],
): KeywordContext {
  return { proxy, kind, file, line, warn, error };
}

function proxyKeyword(ctx: KeywordContext, kw: string, args: string[]): void {
  if (kw === 'no' && args[0] === 'option') {
    return option(ctx, args.slice(1), true);
  }
  if (kw === 'no' && args[0] === 'log') {
    ctx.proxy.logTargets = [];
    ctx.proxy.logGlobal = false;
    return;
  }
  const k = PROXY_KEYWORDS[kw];
  if (k) {
    const letter = ctx.kind[0] as string;
    if (!k.where.includes(letter)) return ctx.error(kw, `not allowed in a '${ctx.kind}' section`);
    return k.handle(ctx, args);
  }
  if (PROXY_IGNORED.has(kw)) return ctx.warn(kw, 'not implemented and ignored');
  ctx.error(kw, `unknown keyword '${kw}' in '${ctx.kind}' section`);
}

function globalKeyword(
  g: GlobalConfig,
  kw: string,
  args: string[],
  warn: (d: string, m: string) => void,
  error: (d: string, m: string) => void,
  file: string,
  line: number,
): void {
  switch (kw) {
    case 'maxconn': {
      const n = args[0] === undefined ? null : parseInteger(args[0], 1);
      if (n === null) return error(kw, `expects a positive integer, got '${args[0] ?? ''}'`);
      g.maxconn = n;
      return;
    }
    case 'daemon': // haproxy: run in the background (bin/proxy.ts forks; `-db` keeps it in the foreground)
      g.daemon = true;
      return;
    case 'pidfile':
      if (!args[0]) return error(kw, 'expects a file name');
      g.pidfile = args[0];
      return;
    case 'hard-stop-after': {
      const t = args[0] === undefined ? null : parseDuration(args[0]);
      if (t === null) return error(kw, `expects a time value, got '${args[0] ?? ''}'`);
      g.hardStopAfter = t;
      return;
    }
    case 'spread-checks': {
      const n = args[0] === undefined ? null : parseInteger(args[0], 0, 50);
      if (n === null) return error(kw, 'expects a percentage between 0 and 50');
      g.spreadChecks = n;
      return;
    }
    case 'setenv':
    case 'presetenv': {
      const [name, value] = args;
      if (!name || value === undefined) return error(kw, 'expects <name> <value>');
      if (kw === 'setenv' || process.env[name] === undefined) process.env[name] = value;
      return;
    }
    case 'stats':
      return globalStats(g, args, warn, error, file, line);
    case 'log': {
      const t = parseLogTarget(args, file, line);
      if (typeof t === 'string') return error(kw, t);
      if (t === null) return warn(kw, `unix socket log targets are not supported; '${args[0] ?? ''}' is ignored`);
      g.logTargets.push(t);
      return;
    }
    case 'log-tag':
      if (!args[0]) return error(kw, 'expects a tag');
      g.logTag = args[0];
      return;
  }
  if (GLOBAL_IGNORED.has(kw) || kw.startsWith('tune.') || kw.startsWith('ssl-') || kw.startsWith('h2-')) {
    return warn(kw, 'not implemented and ignored');
  }
  error(kw, `unknown keyword '${kw}' in 'global' section`);
}

function globalStats(
  g: GlobalConfig,
  args: string[],
  warn: (d: string, m: string) => void,
  error: (d: string, m: string) => void,
  file: string,
  line: number,
): void {
  const sub = args[0];
  const directive = `stats ${sub ?? ''}`.trim();
  if (sub === 'socket') {
    const path = args[1];
    if (!path) return error(directive, 'expects a path');
    if (/^(ipv4@|ipv6@)?[\d.*]*:\d+$/.test(path)) return error(directive, 'only unix socket paths are supported');
    const sock = { path: path.replace(/^unix@/, ''), mode: null as number | null, level: 'admin' as 'user' | 'operator' | 'admin', file, line };
    for (let i = 2; i < args.length; i += 2) {
      const key = args[i] as string;
      const val = args[i + 1];
      if (val === undefined) return error(directive, `'${key}' expects an argument`);
      if (key === 'level') {
        if (val !== 'user' && val !== 'operator' && val !== 'admin') return error(directive, `invalid level '${val}'`);
        sock.level = val;
      } else if (key === 'mode') {
        if (!/^[0-7]{3,4}$/.test(val)) return error(directive, `invalid mode '${val}'`);
        sock.mode = parseInt(val, 8);
      } else warn(directive, `'${key}' is not implemented and ignored`);
    }
    g.statsSockets.push(sock);
    return;
  }
  if (sub === 'timeout' || sub === 'maxconn' || sub === 'bind-process') return warn(directive, 'not implemented and ignored');
  error(directive, `unknown global stats keyword '${sub ?? ''}'`);
}

function checkReferences(proxies: ProxyConfig[], errors: ConfigMessage[], warnings: ConfigMessage[]): void {
  for (const p of proxies) {
    if (p.kind === 'backend') continue;
    if (p.binds.length === 0 && !p.disabled) {
      errors.push({ file: p.file, line: p.line, directive: p.kind, message: `${p.kind} '${p.name}' has no 'bind' directive` });
    }
    if (p.defaultBackend !== null) {
      const target = proxies.find((b) => b.name === p.defaultBackend && b.kind !== 'frontend');
      const w = p.defaultBackendWhere ?? p;
      if (!target) errors.push({ file: w.file, line: w.line, directive: 'use_backend', message: `unable to find backend '${p.defaultBackend}' for '${p.name}'` });
    } else if (p.kind === 'frontend' && !p.stats.enabled) {
      warnings.push({ file: p.file, line: p.line, directive: p.kind, message: `'${p.name}' has no backend; its connections will be closed` });
    } else if (p.kind === 'listen' && p.servers.length === 0 && !p.stats.enabled) {
      warnings.push({ file: p.file, line: p.line, directive: p.kind, message: `'${p.name}' has no server available` });
    }
  }
  for (const p of proxies) {
    if (p.kind !== 'frontend' && p.mode === 'tcp' && p.servers.length === 0 && p.kind === 'backend') {
      warnings.push({ file: p.file, line: p.line, directive: p.kind, message: `'${p.name}' has no server available` });
    }
  }
}
