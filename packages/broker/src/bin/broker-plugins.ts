// `broker-plugins`: rabbitmq-plugins for Warren. Edits the enabled_plugins file the broker reads at start.
//   broker-plugins [--data-dir DIR] enable|disable <plugin> ... | list [pattern]
import { parseArgs } from 'node:util';
import { PLUGINS, PLUGINS_VERSION, PluginsFileError, enabledPluginsFile, readEnabledPlugins, withImplied, writeEnabledPlugins } from '../cli/plugins.ts';

const HELP = `Usage

broker-plugins [--data-dir <dir>] [-q] <command> [<plugin> ...]

Enables and disables plugins, as rabbitmq-plugins does: the enabled_plugins file (DATA_DIR/enabled_plugins, or
RABBITMQ_ENABLED_PLUGINS_FILE) is read by the broker when it starts, so a change takes effect at the node's next
start (rabbitmq-plugins --offline). Warren's plugins are built in; rabbitmq_management (HTTP API, web UI, /metrics on
port 15672 unless management.tcp.port or --management-port says otherwise) is the one to enable or disable.

Commands:

   enable <plugin> ...    enables plugins (and the plugins they depend on)
   disable <plugin> ...   disables plugins
   list [<pattern>]       lists plugins and which are enabled (E explicitly, e implicitly)
   set <plugin> ...       enables exactly these plugins

Options:

   -d, --data-dir <dir>   the node's data directory (WARREN_DATA_DIR; default ./data, as the broker's)
   -q, --quiet            no informational messages
   -h, --help             this help`;

function fail(msg: string, code: number): never {
  process.stderr.write(`${msg}\n`);
  process.exit(code);
}

function main(): void {
  let parsed;
  try {
    parsed = parseArgs({ options: { 'data-dir': { type: 'string', short: 'd' }, quiet: { type: 'boolean', short: 'q' }, offline: { type: 'boolean' }, online: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
  } catch (err) {
    fail(`Error: ${(err as Error).message}\n\n${HELP}`, 64);
  }
  const v = parsed.values;
  if (v.help || parsed.positionals[0] === 'help') {
    process.stdout.write(HELP + '\n');
    return;
  }
  const [cmd, ...names] = parsed.positionals;
  const file = enabledPluginsFile(v['data-dir'] ?? process.env['WARREN_DATA_DIR'] ?? 'data');
  if (file === null) fail('Error: no enabled_plugins file', 64);
  const out = (line: string): void => {
    if (!v.quiet) process.stdout.write(line + '\n');
  };
  let enabled: string[];
  try {
    enabled = readEnabledPlugins(file);
  } catch (err) {
    if (err instanceof PluginsFileError) fail(`Error: ${err.message}`, 65);
    throw err;
  }
  const check = (): void => {
    if (names.length === 0) fail(`Error: not enough arguments.\nUsage: broker-plugins ${cmd} <plugin> [<plugin> ...]`, 64);
    const unknown = names.filter((n) => !(n in PLUGINS));
    if (unknown.length > 0) fail(`Error:\n{:plugins_not_found, [${unknown.map((n) => `:${n}`).join(', ')}]}\nWarren's plugins: ${Object.keys(PLUGINS).join(', ')}`, 65);
  };
  const report = (before: string[], after: string[]): void => {
    const was = new Set(withImplied(before));
    const now = withImplied(after);
    out('The following plugins have been configured:');
    for (const n of now) out(`  ${n}`);
    const added = now.filter((n) => !was.has(n));
    const removed = [...was].filter((n) => !now.includes(n));
    if (added.length > 0) out(`The following plugins have been enabled:\n${added.map((n) => `  ${n}`).join('\n')}`);
    if (removed.length > 0) out(`The following plugins have been disabled:\n${removed.map((n) => `  ${n}`).join('\n')}`);
    out(`Offline change; changes will take effect at broker restart (file ${file}).`);
  };
  switch (cmd) {
    case 'enable': {
      check();
      const next = [...enabled, ...names.filter((n) => !enabled.includes(n))];
      out(`Enabling plugins on node (offline, ${file}):\n${names.join('\n')}`);
      writeEnabledPlugins(file, next);
      report(enabled, next);
      return;
    }
    case 'disable': {
      check();
      // disabling a plugin disables the plugins that need it
      const next = enabled.filter((n) => !names.includes(n) && !names.some((d) => PLUGINS[n]?.implies.includes(d)));
      out(`Disabling plugins on node (offline, ${file}):\n${names.join('\n')}`);
      writeEnabledPlugins(file, next);
      report(enabled, next);
      return;
    }
    case 'set': {
      if (names.some((n) => !(n in PLUGINS))) check();
      writeEnabledPlugins(file, names);
      report(enabled, names);
      return;
    }
    case 'list': {
      let re: RegExp;
      try {
        re = new RegExp(names[0] ?? '.*');
      } catch (err) {
        fail(`Error: invalid pattern: ${(err as Error).message}`, 64);
      }
      const implied = withImplied(enabled);
      out(`Listing plugins with pattern "${names[0] ?? '.*'}" ...`);
      out(' Configured: E = explicitly enabled; e = implicitly enabled');
      out(' | Status: the broker reads this at its next start');
      out(' |/');
      const width = Math.max(...Object.keys(PLUGINS).map((n) => n.length));
      for (const n of Object.keys(PLUGINS)) {
        if (!re.test(n)) continue;
        const mark = enabled.includes(n) ? 'E' : implied.includes(n) ? 'e' : ' ';
        process.stdout.write(`[${mark} ] ${n.padEnd(width)} ${PLUGINS_VERSION}\n`);
      }
      return;
    }
    default:
      fail(cmd === undefined ? HELP : `Error: command '${cmd}' not found.\n\n${HELP}`, 64);
  }
}

main();
