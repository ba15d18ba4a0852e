// The enabled_plugins file, as RabbitMQ keeps it (an Erlang list: `[rabbitmq_management].`), read by the broker at
// start and written by broker-plugins (rabbitmq-plugins). Warren's plugins are built in; the only one that can be
// enabled or disabled is the management plugin (HTTP API, web UI, /metrics), which then listens on 15672 unless
// management.tcp.port or --management-port says otherwise.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/** Plugins broker-plugins knows; enabling the first enables the others (RabbitMQ's dependencies). */
export const PLUGINS: Record<string, { description: string; implies: string[] }> = {
  rabbitmq_management: { description: 'HTTP API, web UI and /metrics (Warren: built in)', implies: ['rabbitmq_management_agent', 'rabbitmq_web_dispatch'] },
  rabbitmq_management_agent: { description: 'statistics for the management plugin (built in)', implies: [] },
  rabbitmq_web_dispatch: { description: 'HTTP listener of the management plugin (built in)', implies: [] },
};

export const PLUGINS_VERSION = '3.10.0';

/** RABBITMQ_ENABLED_PLUGINS_FILE, else DATA_DIR/enabled_plugins (the data directory the broker uses). */
export function enabledPluginsFile(dataDir: string | undefined): string | null {
  const env = process.env['RABBITMQ_ENABLED_PLUGINS_FILE'];
  if (env !== undefined && env !== '') return resolve(env);
  return dataDir === undefined ? null : join(resolve(dataDir), 'enabled_plugins');
}

export class PluginsFileError extends Error {}

/** The plugins the file enables explicitly ([] when there is no file). */
export function readEnabledPlugins(file: string | null): string[] {
  if (file === null || !existsSync(file)) return [];
  const text = readFileSync(file, 'utf8').replace(/%.*$/gm, '').trim();
  const m = /^\[([\s\S]*)\]\s*\.$/.exec(text);
  if (m === null) throw new PluginsFileError(`${file}: not an Erlang list of plugin names such as [rabbitmq_management].`);
  const names = m[1]!.split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const n of names) if (!/^[a-z][a-z0-9_]*$/.test(n)) throw new PluginsFileError(`${file}: '${n}' is not a plugin name`);
  return names;
}

export function writeEnabledPlugins(file: string, names: string[]): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(`${file}.tmp`, `[${names.join(',')}].\n`);
  renameSync(`${file}.tmp`, file);
}

/** Explicitly enabled plugins with the ones they imply. */
export function withImplied(names: string[]): string[] {
  const out = new Set<string>();
  for (const n of names) {
    out.add(n);
    for (const i of PLUGINS[n]?.implies ?? []) out.add(i);
  }
  return [...out];
}

/** Whether the broker runs the management plugin by its enabled_plugins file. */
export function managementEnabled(file: string | null): boolean {
  return withImplied(readEnabledPlugins(file)).includes('rabbitmq_management');
}
