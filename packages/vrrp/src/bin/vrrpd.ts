// vrrpd: a keepalived-compatible VRRP daemon.  vrrpd -f /etc/keepalived/keepalived.conf [-l] [-D]
// Options follow keepalived where they make sense; see usage() and packages/vrrp/README.md.

import { unlinkSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config.ts';
import { checkConfig, CHK_EXIT_CONFIG, CHK_EXIT_CONFIG_TEST, formatCheckLine } from '../config-check.ts';
import { Daemon } from '../daemon.ts';
import { Logger } from '../log.ts';
import { DEFAULT_CONFIG_FILE, VRRPD_HELP as USAGE } from './help.ts';


function main(): void {
  let args;
  try {
    args = parseArgs({
      options: {
        'use-file': { type: 'string', short: 'f' },
        'config-test': { type: 'boolean', short: 't' },
        'log-console': { type: 'boolean', short: 'l' },
        'log-detail': { type: 'boolean', short: 'D' },
        'log-file': { type: 'string', short: 'g' },
        'status-socket': { type: 'string', short: 's' },
        'status-port': { type: 'string' },
        pid: { type: 'string', short: 'p' },
        vrrp_pid: { type: 'string', short: 'r' },
        'dont-fork': { type: 'boolean', short: 'n' },
        vrrp: { type: 'boolean', short: 'P' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }).values;
  } catch (e) {
    process.stderr.write(`vrrpd: ${(e as Error).message}\n${USAGE}`);
    process.exit(2);
  }
  if (args.help === true) {
    process.stdout.write(USAGE);
    return;
  }
  const file = args['use-file'] ?? DEFAULT_CONFIG_FILE;
  const test = args['config-test'] === true;
  let config;
  try {
    config = loadConfig(file);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`vrrpd: configuration error: ${e.message}\n`);
      // keepalived -t: 4 when the file cannot be read, 5 for an error in it. (keepalived 2.2.7 itself exits 0
      // for a missing file; a test that passes on a missing file helps nobody.)
      process.exit(test ? (e.code === 'IO' ? CHK_EXIT_CONFIG : CHK_EXIT_CONFIG_TEST) : 1);
    }
    throw e;
  }
  if (test) {
    for (const w of config.warnings) process.stderr.write(`vrrpd: warning: ${w.file}:${w.line}: ${w.keyword}: ${w.message}\n`);
    const report = checkConfig(config);
    for (const l of report.lines) if (l.config) process.stderr.write(`vrrpd: ${formatCheckLine(l)}\n`);
    const summary = `${config.instances.length} vrrp_instance, ${config.scripts.size} vrrp_script`;
    if (report.exitCode === 0) process.stdout.write(`vrrpd: ${file}: configuration OK (${summary})\n`);
    else process.stdout.write(`vrrpd: ${file}: configuration parsed (${summary}), but not usable as it is on this system (exit ${report.exitCode})\n`);
    process.exit(report.exitCode);
  }
  const log = new Logger(args['log-detail'] === true, args['log-file']);
  const pidFiles = [args.pid, args.vrrp_pid].filter((p): p is string => p !== undefined);
  for (const p of pidFiles) writeFileSync(p, `${process.pid}\n`);
  const opts: Parameters<typeof Daemon.start>[1] = { log };
  if (args['status-socket'] !== undefined) opts.statusSocket = args['status-socket'];
  if (args['status-port'] !== undefined) opts.statusPort = Number(args['status-port']);
  log.info(`Starting vrrpd (config ${file}${config.global.routerId !== undefined ? `, router_id ${config.global.routerId}` : ''})`);
  Daemon.start(config, opts).then(
    (daemon) => {
      let stopping = false;
      const stop = (sig: string): void => {
        if (stopping) return;
        stopping = true;
        log.info(`Stopping on ${sig}`);
        const hard = setTimeout(() => process.exit(1), 5000);
        hard.unref();
        void daemon.stop().then(() => {
          for (const p of pidFiles) {
            try {
              unlinkSync(p);
            } catch {
              // already gone
            }
          }
          log.info('Stopped');
          process.exit(0);
        });
      };
      process.on('SIGTERM', () => stop('SIGTERM'));
      process.on('SIGINT', () => stop('SIGINT'));
      let reloading: Promise<void> = Promise.resolve();
      process.on('SIGHUP', () => {
        reloading = reloading.then(async () => {
          if (stopping) return;
          log.info(`SIGHUP: reloading ${file}`);
          let next;
          try {
            next = loadConfig(file);
          } catch (e) {
            log.info(`reload failed, keeping the running configuration: ${(e as Error).message}`);
            return;
          }
          await daemon.reload(next).catch((e: unknown) => log.info(`reload: ${(e as Error).message}`));
        });
      });
      process.on('SIGUSR1', () => log.info(`status: ${JSON.stringify(daemon.statusJson())}`));
    },
    (e: unknown) => {
      log.info(`vrrpd: ${(e as Error).message}`);
      process.exit(1);
    },
  );
}

main();
