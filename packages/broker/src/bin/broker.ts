// The `broker` binary: one node. Flags override the config file (rabbitmq.conf format), which overrides defaults.
//   broker [--config FILE] [--port N] [--host H] [--data-dir DIR | --memory] [--node-name rabbit@host]
//          [--dist-port N] [--cookie-file FILE] [--quiet]
import { hostname } from 'node:os';
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { BrokerNode } from '../server/node.ts';
import { ConfigError, loadConfig, type NodeConfig } from '../config/rabbitmq-conf.ts';
import { defaultConfigFile } from '../config/default-config-file.ts';
import { DEFAULT_DIST_PORT, defaultCookieFile } from '../cli/control.ts';
import { ClusterService } from '../cluster/cluster-service.ts';

function log(level: string, line: string): void {
  const t = new Date().toISOString().replace('T', ' ').replace('Z', '');
  process.stdout.write(`${t} [${level}] ${line}\n`);
}

function usage(msg: string): never {
  process.stderr.write(`broker: ${msg}\nusage: broker [--config FILE] [--port N] [--host H] [--data-dir DIR | --memory] [--node-name rabbit@host] [--dist-port N] [--cookie-file FILE] [--management-port N] [--management-host H] [--force-boot] [--quiet]\n`);
  process.exit(64);
}

async function main(): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
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
    usage((err as Error).message);
  }
  const v = parsed.values;
  if (v.help) usage('help');
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

  // the management plugin runs when a port is configured (RabbitMQ's management.tcp.port), on loopback by default
  const mgmtPort = num(v['management-port'], '--management-port') ?? cfg.managementPort;
  const mgmt =
    mgmtPort === undefined ? null : { port: mgmtPort, host: v['management-host'] ?? cfg.managementHost ?? '127.0.0.1', ...(cfg.statsIntervalMs !== undefined ? { sampleIntervalMs: cfg.statsIntervalMs } : {}) };
  const node = new BrokerNode({ ...cfg, port, nodeName: fullName, dataDir, ...(host !== undefined ? { host } : {}), log: info }, mgmt);
  let stopping = false;
  const control = new ClusterService(node, { log: info, warn: (line) => log('warning', line), onExit: () => void shutdown('stop command'), partitionHandling: cfg.partitionHandling ?? 'ignore' });
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
    process.stderr.write(`broker: cannot open the distribution port ${distPort}: ${(err as Error).message}\n`);
    process.exit(1);
  }
  try {
    await node.startApp();
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    process.stderr.write(`broker: cannot start node ${fullName}: ${e.code === 'EADDRINUSE' ? `port ${port} is in use` : e.message}\n`);
    await control.close();
    process.exit(1);
  }
  info(`Server startup complete; data ${dataDir ?? '(in memory)'}`);
}

void main();
