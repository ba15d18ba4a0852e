/**
 * `proxy -f haproxy.cfg [-f more.cfg] [-c] [-D | -db] [-p pidfile] [-q]`: haproxy's command line, the part that matters.
 *
 * Signals, as haproxy (management.txt §4): SIGHUP reloads the configuration without dropping established
 * connections (a bad new configuration is reported and the old one keeps running); SIGTERM and SIGUSR1 stop
 * gracefully (listeners close, sessions finish, bounded by `hard-stop-after`); a second SIGTERM or SIGINT stops now.
 *
 * Daemon mode (`daemon` in the global section, or `-D`; `-db` keeps the foreground): as haproxy, the command returns
 * once the proxy runs in the background, with its listeners bound and the pidfile written; a config error or a bind
 * that fails is reported by the command, which then exits 1. Node cannot fork(), so the command starts the proxy
 * again as a detached process (its own session) and waits for it to say it is ready.
 *
 * The process name (what `ps -C` and `killall` match) is the name the command was started as: bin/proxy passes it in
 * WARREN_PROXY_NAME, so a `haproxy` symlink to bin/proxy runs as `haproxy`, as the seeds' check scripts expect.
 */
import { spawn } from 'node:child_process';
import { lookup } from 'node:dns/promises';
import { unlinkSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { basename } from 'node:path';
import { ConfigError, formatMessage, parseConfigFiles } from '../config/parse-config.ts';
import type { Config } from '../config/types.ts';
import { LoadBalancer } from '../load-balancer.ts';
import { StderrLogger } from '../logger.ts';
import { DEFAULT_CONFIG_FILE, PROXY_HELP } from './help.ts';

const VERSION = 'warren-proxy 0.1.0 (haproxy.cfg compatible)';

interface Args {
  files: string[];
  check: boolean;
  pidfile: string | null;
  quiet: boolean;
  daemon: boolean; // -D
  foreground: boolean; // -db: overrides `daemon` and -D
}

// the name it was run as: the development wrapper passes it; the compiled binary takes it from its own path (a symlink
// named haproxy to dist/bin/proxy.js runs as haproxy)
const PROCESS_NAME = process.env.WARREN_PROXY_NAME || basename(process.argv[1] ?? 'proxy').replace(/\.(m?js|ts)$/, '') || 'proxy';
delete process.env.WARREN_PROXY_NAME;
process.title = PROCESS_NAME;
// Set in the background process that daemon mode starts; it reports back over IPC once it runs.
const DAEMON_CHILD = process.env.WARREN_PROXY_DAEMON_CHILD === '1';
delete process.env.WARREN_PROXY_DAEMON_CHILD;
// How long the command waits for the background proxy to bind its listeners (host names are resolved first).
const DAEMON_START_TIMEOUT_MS = 30_000;

function usage(msg?: string): never {
  if (msg) process.stderr.write(`proxy: ${msg}\n`);
  process.stderr.write('usage: proxy [-f <cfgfile>]... [-c] [-D | -db] [-p <pidfile>] [-q] [-v]; proxy --help for more\n');
  process.exit(1);
}

function parseArgs(argv: string[]): Args {
  const a: Args = { files: [], check: false, pidfile: null, quiet: false, daemon: false, foreground: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    switch (arg) {
      case '-f': {
        const f = argv[++i];
        if (!f) usage('-f expects a file');
        a.files.push(f);
        break;
      }
      case '-c':
        a.check = true;
        break;
      case '-p': {
        const p = argv[++i];
        if (!p) usage('-p expects a file');
        a.pidfile = p;
        break;
      }
      case '-q':
        a.quiet = true;
        break;
      case '-db':
        a.foreground = true;
        break;
      case '-V':
        break;
      case '-D':
        a.daemon = true;
        break;
      case '-v':
      case '-vv':
        process.stdout.write(`${VERSION}\n`);
        process.exit(0);
        break;
      case '-h':
      case '--help':
        process.stdout.write(PROXY_HELP);
        process.exit(0);
        break;
      default:
        usage(`unknown option '${arg}'`);
    }
  }
  if (a.files.length === 0) a.files.push(DEFAULT_CONFIG_FILE);
  return a;
}

function load(files: string[], log: StderrLogger): Config | null {
  try {
    const cfg = parseConfigFiles(files);
    for (const w of cfg.warnings) log.warn(`config : ${formatMessage(w)}`);
    return cfg;
  } catch (e) {
    if (e instanceof ConfigError) {
      for (const m of e.errors) log.alert(`config : ${formatMessage(m)}`);
      log.alert(`config : Fatal errors found in configuration.`);
    } else log.alert(`config : ${(e as Error).message}`);
    return null;
  }
}

/**
 * haproxy refuses to start when a server name does not resolve. Here names are resolved at connect time (so a
 * config written for other machines still loads), and an unresolvable name is a warning naming file and line.
 */
async function warnUnresolved(cfg: Config, log: StderrLogger): Promise<void> {
  const RESOLVE_TIMEOUT_MS = 2000; // a broken resolver must not hold up start-up or `-c`
  const checks: Promise<string | null>[] = [];
  for (const p of cfg.proxies) {
    for (const srv of p.servers) {
      if (isIP(srv.host)) continue;
      const msg = `config : [${srv.file}:${srv.line}] : 'server ${p.name}/${srv.name}' : could not resolve address '${srv.host}' (will retry at connect time).`;
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<string>((r) => (timer = setTimeout(() => r(msg), RESOLVE_TIMEOUT_MS)));
      checks.push(
        Promise.race([lookup(srv.host).then(() => null, () => msg), timeout]).finally(() => clearTimeout(timer)),
      );
    }
  }
  for (const m of await Promise.all(checks)) if (m) log.warn(m);
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const log = new StderrLogger(args.quiet);
  const cfg = load(args.files, log);
  if (cfg) await warnUnresolved(cfg, log);
  if (args.check) {
    if (!cfg) process.exit(1);
    process.stdout.write('Configuration file is valid\n');
    process.exit(0);
  }
  if (!cfg) process.exit(1);
  if ((args.daemon || cfg.global.daemon) && !args.foreground && !DAEMON_CHILD) return daemonize();
  let lb: LoadBalancer;
  try {
    lb = await LoadBalancer.start(cfg, { log });
  } catch (e) {
    log.alert(`Starting proxy: ${(e as Error).message}`);
    process.exit(1);
  }
  const announce = (): void => {
    for (const p of lb.config.proxies) for (const a of lb.addresses(p.name)) log.notice(`proxy '${p.name}' listening on ${a.host}:${a.port}`);
  };
  announce();
  const pidfile = args.pidfile ?? cfg.global.pidfile;
  if (pidfile) {
    try {
      writeFileSync(pidfile, `${process.pid}\n`);
    } catch (e) {
      log.warn(`cannot write pidfile ${pidfile}: ${(e as Error).message}`);
    }
  }
  log.notice(`${VERSION} started, pid ${process.pid}`);
  if (DAEMON_CHILD && process.send) {
    // Running: the command that started us may return. stderr goes with it (haproxy closes it in daemon mode).
    process.stderr.on('error', () => {});
    process.send('ready', () => {
      log.muted = true;
      process.disconnect();
    });
  }

  let reloading = false;
  process.on('SIGHUP', () => {
    if (reloading) return;
    reloading = true;
    log.notice('SIGHUP received: reloading configuration');
    const next = load(args.files, log);
    if (!next) {
      log.alert('reload aborted: keeping the running configuration');
      reloading = false;
      return;
    }
    lb.reload(next).then(
      () => {
        announce();
        reloading = false;
      },
      (e: Error) => {
        log.alert(`reload failed: ${e.message}; keeping the running configuration`);
        reloading = false;
      },
    );
  });

  let stopping = false;
  const exit = (code: number): never => {
    if (pidfile) {
      try {
        unlinkSync(pidfile);
      } catch {
        // already gone
      }
    }
    process.exit(code);
  };
  const graceful = (sig: string): void => {
    if (stopping) {
      log.warn(`${sig} received again: stopping now`);
      void lb.stop({ graceful: false }).then(() => exit(0));
      return;
    }
    stopping = true;
    log.notice(`${sig} received: stopping gracefully (${lb.sessionCount} sessions to finish)`);
    void lb.stop({ graceful: true, hardStopAfterMs: lb.config.global.hardStopAfter }).then(() => exit(0));
  };
  process.on('SIGTERM', () => graceful('SIGTERM'));
  process.on('SIGUSR1', () => graceful('SIGUSR1'));
  process.on('SIGINT', () => {
    log.notice('SIGINT received: stopping now');
    void lb.stop({ graceful: false }).then(() => exit(0));
  });
}

/**
 * Starts this same command again as a detached background process and returns once it is running (exit 0), or with
 * its exit code and its messages if it fails to start.
 */
function daemonize(): void {
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    env: { ...process.env, WARREN_PROXY_NAME: PROCESS_NAME, WARREN_PROXY_DAEMON_CHILD: '1' },
  });
  child.stderr?.pipe(process.stderr, { end: false });
  const timer = setTimeout(() => {
    process.stderr.write(`[ALERT]    (${process.pid}) : the background proxy did not start within ${DAEMON_START_TIMEOUT_MS / 1000}s\n`);
    child.kill('SIGKILL');
    process.exit(1);
  }, DAEMON_START_TIMEOUT_MS);
  child.once('message', () => {
    clearTimeout(timer);
    child.stderr?.unpipe(process.stderr);
    child.stderr?.destroy();
    child.disconnect();
    child.unref();
    process.exit(0);
  });
  child.once('exit', (code) => {
    clearTimeout(timer);
    process.exit(code ?? 1);
  });
}

void main();
