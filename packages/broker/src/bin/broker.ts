// The `broker` binary: one node. Flags override the config file (rabbitmq.conf format), which overrides defaults.
//   broker [-detached] [--config FILE] [--port N] [--host H] [--data-dir DIR | --memory] [--node-name rabbit@host]
//          [--dist-port N] [--cookie-file FILE] [--quiet]
import { hostname, tmpdir } from 'node:os';
import { mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { BrokerNode } from '../server/node.ts';
import { ConfigError, loadConfig, type NodeConfig } from '../config/rabbitmq-conf.ts';
import { defaultConfigFile } from '../config/default-config-file.ts';
import { DEFAULT_DIST_PORT, NodeNameInUseError, defaultCookieFile } from '../cli/control.ts';
import { ClusterService } from '../cluster/cluster-service.ts';
import { runCommand } from '../cli/commands.ts';
import { PluginsFileError, enabledPluginsFile, managementEnabled } from '../cli/plugins.ts';

function log(level: string, line: string): void {
  const t = new Date().toISOString().replace('T', ' ').replace('Z', '');
  process.stdout.write(`${t} [${level}] ${line}\n`);
}

const USAGE = 'usage: broker [-detached] [--config FILE] [--port N] [--host H] [--data-dir DIR | --memory] [--node-name rabbit@host] [--dist-port N] [--cookie-file FILE] [--management-port N] [--management-host H] [--force-boot] [--quiet]';

const HELP = `${USAGE}

Runs one Warren node (rabbitmq-server): the AMQP listener, its distribution port (brokerctl and cluster peers) and,
when enabled, the management plugin. Options override the config file, which overrides the defaults.

  -detached               run in the background, as rabbitmq-server -detached: returns once the node has started
                          (exit 0) or failed (its exit code); the node's output goes to its log file,
                          DATA_DIR/NODE.log (with --memory: $TMPDIR/warren-NODE.log)
  -C, --config FILE       rabbitmq.conf-style config file (or RABBITMQ_CONFIG_FILE)
  -p, --port N            AMQP port (RABBITMQ_NODE_PORT, listeners.tcp.default; default 5672)
  --host H                address to listen on (default all interfaces)
  -d, --data-dir DIR      data directory: definitions, messages, cluster membership (WARREN_DATA_DIR; default ./data)
  --memory                keep everything in memory (no data directory)
  -n, --node-name NAME    node name, rabbit@host (RABBITMQ_NODENAME; default rabbit@<short hostname>); a name
                          already taken by a running node on this host is refused
  --dist-port N           distribution port for brokerctl and peers (RABBITMQ_DIST_PORT; default AMQP port + 20000)
  --cookie-file FILE      shared cookie (WARREN_COOKIE_FILE; default ~/.erlang.cookie, created if missing)
  --management-port N     run the management plugin (HTTP API, UI, /metrics) on this port; without it, the plugin
                          runs on 15672 when enabled with broker-plugins enable rabbitmq_management
  --management-host H     management listener address (default 127.0.0.1; 0.0.0.0 when the plugin runs on 15672 by
                          its enabled_plugins file, as RabbitMQ's)
  --force-boot            start on this disc node's own copy of the cluster metadata (rabbitmqctl force_boot)
  -q, --quiet             log nothing but warnings and errors
  -h, --help              this help

Signals: SIGTERM and SIGINT stop the node gracefully. Exit codes: 0 stopped, 1 could not start, 64 usage, 78 config.`;

function usage(msg: string): never {
  process.stderr.write(`broker: ${msg}\n${USAGE}\nRun broker --help for the options.\n`);
  process.exit(64);
}

/**
 * -detached (rabbitmq-server's): start this same command again without it, in its own session, with its output in
 * a log file, and return once it reports startup complete (exit 0) or exits (its code, with the log's tail).
 */
function detach(args: string[], logFile: string): void {
  mkdirSync(dirname(logFile), { recursive: true });
  const fd = openSync(logFile, 'a');
  const child = spawn(process.execPath, [...process.execArgv, process.argv[1]!, ...args], { detached: true, stdio: ['ignore', fd, fd, 'ipc'] });
  const tail = (): string => {
    try {
      return readFileSync(logFile, 'utf8').split('\n').slice(-15).join('\n');
    } catch {
      return '';
    }
  };
  child.once('message', (m) => {
    if (m === 'failed') {
      process.stderr.write(`broker: the node's app failed to start; the node runs with its app stopped (pid ${child.pid}); log ${logFile}:\n${tail()}\n`);
      child.disconnect();
      child.unref();
      process.exit(1);
    }
    if (m !== 'started') return;
    process.stdout.write(`broker: node started in the background (pid ${child.pid}); log: ${logFile}\n`);
    child.disconnect();
    child.unref();
    process.exit(0);
  });
  child.once('exit', (code) => {
    process.stderr.write(`broker: the node failed to start (exit ${code}); log ${logFile}:\n${tail()}\n`);
    process.exit(code ?? 1);
  });
}

async function main(): Promise<void> {
  // rabbitmq-server's single-dash -detached (parseArgs would read it as -d etached); other single-dash words are
  // refused rather than split into short options
  const argv = process.argv.slice(2);
  const detached = argv.includes('-detached') || argv.includes('--detached');
  const args = argv.filter((a) => a !== '-detached' && a !== '--detached');
  for (const a of args) if (/^-[^-]{2,}/.test(a)) usage(`unknown option '${a}' (long options take two dashes: -${a})`);
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'C' },
        port: { type: 'string', short: 'p' },
        host: { type: 'string' },
        'data-dir': { type: 'string', short: 'd' },
        memory: { type: 'boolean' },
        'node-name': { type: 'string', short: 'n' },
        'dist-port': { type: 'string' },
        'cookie-file': { type: 'string' },
        'management-port': { type: 'string' },
        'force-boot': { type: 'boolean' },
        'management-host': { type: 'string' },
        quiet: { type: 'boolean', short: 'q' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    });
  } catch (err) {
    const m = /^Unknown option '([^']+)'/.exec((err as Error).message);
    usage(m ? `unknown option '${m[1]}'` : (err as Error).message);
  }
  const v = parsed.values;
  if (v.help) {
    process.stdout.write(HELP + '\n');
    process.exit(0);
  }
  // rabbitmq-server start (the seeds' init-script habit): the same as no argument
  for (const p of parsed.positionals) if (p !== 'start') usage(`unexpected argument '${p}'`);
  const quiet = v.quiet === true;
  const info = (line: string): void => {
    if (!quiet) log('info', line);
  };
  let cfg: NodeConfig = {};
  const configFile = v.config ?? process.env['RABBITMQ_CONFIG_FILE'] ?? defaultConfigFile();
  if (configFile) {
    try {
      cfg = loadConfig(configFile, (w) => log('warning', w));
      info(`config file ${configFile}`);
    } catch (err) {
      if (err instanceof ConfigError) {
        process.stderr.write(`broker: config error: ${err.message}\n`);
        process.exit(78);
      }
      throw err;
    }
  }
  const num = (s: string | undefined, what: string): number | undefined => {
    if (s === undefined) return undefined;
    if (!/^\d+$/.test(s) || Number(s) > 65535) usage(`${what} must be a port number, got '${s}'`);
    return Number(s);
  };
  const port = num(v.port ?? process.env['RABBITMQ_NODE_PORT'], '--port') ?? cfg.port ?? 5672;
  const host = v.host ?? cfg.host;
  const short = hostname().split('.')[0] ?? 'localhost';
  const nodeName = v['node-name'] ?? process.env['RABBITMQ_NODENAME'] ?? cfg.nodeName ?? `rabbit@${short}`;
  const fullName = nodeName.includes('@') ? nodeName : `${nodeName}@${short}`;
  const dataDir = v.memory ? undefined : (v['data-dir'] ?? process.env['WARREN_DATA_DIR'] ?? cfg.dataDir ?? 'data');
  // RabbitMQ's rule: the distribution port is the AMQP port + 20000; past 65535 (an ephemeral AMQP port) any free port
  // will do, since brokerctl and peers on this host find it by node name
  const distPort = num(v['dist-port'] ?? process.env['RABBITMQ_DIST_PORT'], '--dist-port') ?? cfg.distPort ?? (port === 0 || port + 20000 > 65535 ? 0 : port === 5672 ? DEFAULT_DIST_PORT : port + 20000);
  const cookieFile = v['cookie-file'] ?? cfg.cookieFile ?? defaultCookieFile();
  if (detached) {
    detach(args, dataDir !== undefined ? join(resolve(dataDir), `${fullName}.log`) : join(tmpdir(), `warren-${fullName}.log`));
    return;
  }

  // the management plugin runs when a port is configured (RabbitMQ's management.tcp.port), on loopback by default
  // or when enabled in the enabled_plugins file (broker-plugins enable rabbitmq_management, as rabbitmq-plugins): then
  // on RabbitMQ's port 15672, on every interface as RabbitMQ's listener, unless configured
  let pluginEnabled = false;
  const pluginsFile = enabledPluginsFile(dataDir);
  try {
    pluginEnabled = managementEnabled(pluginsFile);
  } catch (err) {
    if (!(err instanceof PluginsFileError)) throw err;
    process.stderr.write(`broker: config error: ${err.message}\n`);
    process.exit(78);
  }
  const mgmtPort = num(v['management-port'], '--management-port') ?? cfg.managementPort ?? (pluginEnabled ? 15672 : undefined);
  const mgmtDefaultHost = v['management-port'] === undefined && cfg.managementPort === undefined ? '0.0.0.0' : '127.0.0.1';
  const mgmt =
    mgmtPort === undefined ? null : { port: mgmtPort, host: v['management-host'] ?? cfg.managementHost ?? mgmtDefaultHost, ...(cfg.statsIntervalMs !== undefined ? { sampleIntervalMs: cfg.statsIntervalMs } : {}) };
  const node = new BrokerNode({ ...cfg, port, nodeName: fullName, dataDir, ...(host !== undefined ? { host } : {}), log: info }, mgmt);
  let stopping = false;
  const control = new ClusterService(node, { log: info, warn: (line) => log('warning', line), onExit: () => void shutdown('stop command'), runCommand, partitionHandling: cfg.partitionHandling ?? 'ignore' });
  async function shutdown(why: string): Promise<void> {
    if (stopping) return;
    stopping = true;
    info(`${why}: stopping node ${fullName}`);
    const hard = setTimeout(() => process.exit(1), 10_000);
    hard.unref();
    try {
      await node.stopApp();
      await control.close();
    } finally {
      process.exit(0);
    }
  }
  if (v['force-boot'] === true) {
    const marker = control.forceBootMarker();
    if (marker === null) usage('--force-boot needs a data directory');
    writeFileSync(marker, `${new Date().toISOString()}\n`);
  }
  // a broker logs an unexpected failure and goes on serving; it does not die of one stray promise
  process.on('unhandledRejection', (err) => log('error', `unhandled rejection: ${(err as Error)?.stack ?? String(err)}`));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  // the distribution port first: a clustered node needs its peers to get its metadata
  try {
    const cport = await control.listen(host ?? '0.0.0.0', distPort, cookieFile);
    info(`distribution port (brokerctl, cluster peers) ${cport}, cookie ${cookieFile}`);
  } catch (err) {
    if (err instanceof NodeNameInUseError) process.stderr.write(`broker: ${err.message}\n`);
    else process.stderr.write(`broker: cannot open the distribution port ${distPort}: ${(err as Error).message}\n`);
    process.exit(1);
  }
  try {
    await node.startApp();
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'INCONSISTENT_CLUSTER') {
      // as after rabbitmqctl start_app on a forgotten node: the app stays stopped and the node process up, so that
      // brokerctl reset (or force_reset) and then join_cluster or start_app can follow
      process.stderr.write(`broker: BOOT FAILED on node ${fullName}: ${e.message}\n`);
      log('error', `BOOT FAILED: ${e.message}; the node stays up with its app stopped`);
      if (process.send !== undefined) {
        process.send('failed');
        process.disconnect();
      }
      return;
    }
    process.stderr.write(`broker: cannot start node ${fullName}: ${e.code === 'EADDRINUSE' ? `port ${port} is in use` : e.message}\n`);
    await control.close();
    process.exit(1);
  }
  info(`Server startup complete; data ${dataDir ?? '(in memory)'}`);
  // a -detached parent waits for this
  if (process.send !== undefined) {
    process.send('started');
    process.disconnect();
  }
}

void main();
