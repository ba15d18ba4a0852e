// `brokerctl`: rabbitmqctl for Warren. Talks to a running node over its cookie-authenticated control channel.
//   brokerctl [-n rabbit@host] [-p vhost] [-q] [--formatter json] [--no-table-headers] <command> [args...]
import { existsSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { TcpTransport, dialPeer, readCookieFile, resolvePeerOptions, silentLogger } from '@warren/cluster-peer';
import { DEFAULT_DIST_PORT, defaultCookieFile, lookupDataDir, lookupNode, type ControlReply } from '../cli/control.ts';
import type { CommandRequest } from '../cli/commands.ts';

const HELP = `Usage: brokerctl [-n <node>] [-p <vhost>] [-q] [--formatter json] [--no-table-headers] <command> [<args>]

Commands: status, ping, stop, stop_app, start_app, reset, force_reset, await_startup, cluster_status,
  set_cluster_name, add_user, delete_user, change_password, clear_password, authenticate_user, set_user_tags,
  list_users, add_vhost, delete_vhost, list_vhosts, set_permissions, clear_permissions, list_permissions,
  list_user_permissions, set_policy, clear_policy, list_policies, list_queues, list_exchanges, list_bindings,
  list_connections, list_channels, list_consumers, purge_queue, delete_queue, close_connection,
  close_all_connections
Options: --dist-port N (control port when not found by name), --cookie-file FILE, -t/--timeout SECONDS`;

function fail(msg: string, code: number): never {
  process.stderr.write(`${msg}\n`);
  process.exit(code);
}

function format(v: unknown): string {
  if (typeof v === 'string') return v;
  return JSON.stringify(v);
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const short = hostname().split('.')[0] ?? 'localhost';
  let node = process.env['RABBITMQ_NODENAME'] ?? `rabbit@${short}`;
  let vhost = '/';
  let quiet = false;
  let json = false;
  let headers = true;
  let distPort: number | null = null;
  let cookieFile = defaultCookieFile();
  let timeoutS = 60;
  const flags: Record<string, string | boolean> = {};
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const next = (): string => {
      const v = argv[++i];
      if (v === undefined) fail(`option ${a} needs a value`, 64);
      return v;
    };
    if (a === '-n' || a === '--node') node = next();
    else if (a === '-p' || a === '--vhost') vhost = next();
    else if (a === '-q' || a === '--quiet') quiet = true;
    else if (a === '-s' || a === '--silent') (quiet = true), (headers = false);
    else if (a === '--formatter') json = next() === 'json';
    else if (a === '--no-table-headers') headers = false;
    else if (a === '--dist-port') distPort = Number(next());
    else if (a === '--cookie-file') cookieFile = next();
    else if (a === '-t' || a === '--timeout') timeoutS = Number(next());
    else if (a === '--priority' || a === '--apply-to') flags[a.slice(2)] = next();
    else if (a === '--if-unused' || a === '--if-empty' || a === '--ram' || a === '--offline') flags[a.slice(2)] = true;
    else if (a === '-h' || a === '--help' || a === 'help') {
      process.stdout.write(HELP + '\n');
      return;
    } else rest.push(a);
  }
  const [cmd, ...args] = rest;
  if (!cmd) fail(HELP, 64);
  if (!node.includes('@')) node = `${node}@${short}`;
  const host = node.slice(node.indexOf('@') + 1);
  // a node registered on this host (our epmd stand-in) is reached on loopback
  const registered = lookupNode(node);
  const port = distPort ?? registered ?? DEFAULT_DIST_PORT;
  let cookie: string;
  try {
    cookie = await readCookieFile(cookieFile, { create: false });
  } catch (err) {
    fail(`Error: ${(err as Error).message}`, 77);
  }
  const config = resolvePeerOptions({
    nodeName: `brokerctl-${process.pid}@${short}`,
    cookie,
    transport: new TcpTransport(),
    logger: silentLogger,
    handler: { onMessage: () => {} },
    requestTimeoutMs: timeoutS * 1000,
  });
  const target = registered !== null || host === short || host === 'localhost' ? '127.0.0.1' : host;
  let link;
  try {
    link = await dialPeer(config, node, { host: target, port });
  } catch (err) {
    // force_boot is an offline command, as rabbitmqctl's: on a stopped node it marks the node's data directory
    if (cmd === 'force_boot') return forceBootOffline(node);
    fail(
      `Error: unable to perform an operation on node '${node}'. Please see diagnostics information and suggestions below.\n\n` +
        `DIAGNOSTICS\n===========\n\n${(err as Error).message}\n\n * node ${node} is not running, or its control port (${port}) is unreachable, or the cookie differs`,
      69,
    );
  }
  const req: CommandRequest = { cmd, args, vhost, flags };
  let reply: ControlReply;
  try {
    reply = (await link.request(req)) as ControlReply;
  } catch (err) {
    link.close();
    fail(`Error: ${(err as Error).message}`, 75);
  }
  link.close();
  if (!reply.ok) fail(`Error:\n${reply.error ?? 'unknown error'}`.replace('Error:\nError:', 'Error:'), reply.exitCode ?? 70);
  const r = reply.result ?? {};
  const out: string[] = [];
  if (r.info && !quiet && !json) out.push(r.info);
  if (r.columns && r.rows) {
    if (json) out.push(JSON.stringify(r.rows.map((row) => Object.fromEntries(r.columns!.map((c, i) => [c, row[i]])))));
    else {
      if (headers) out.push(r.columns.join('\t'));
      for (const row of r.rows) out.push(row.map(format).join('\t'));
    }
  } else if (json && r.json !== undefined) out.push(JSON.stringify(r.json));
  else if (r.text) out.push(r.text);
  if (out.length > 0) process.stdout.write(out.join('\n') + '\n');
}

/** force_boot on a stopped node: the marker its next start reads (the same the running node's force_boot writes). */
function forceBootOffline(node: string): void {
  const dir = lookupDataDir(node);
  if (dir === null || !existsSync(dir)) fail(`Error: node ${node} is not running and this host does not know its data directory (start it once, or use broker --force-boot)`, 69);
  writeFileSync(join(dir, 'force_boot'), `${new Date().toISOString()}\n`);
  process.stdout.write(`Ensuring the node ${node} boots on its own next time (it is stopped: ${join(dir, 'force_boot')}) ...\n`);
}

void main();
