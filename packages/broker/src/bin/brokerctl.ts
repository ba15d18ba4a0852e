// `brokerctl`: rabbitmqctl for Warren. Talks to a running node over its cookie-authenticated control channel.
//   brokerctl [-n rabbit@host] [-p vhost] [-q] [--formatter json] [--no-table-headers] <command> [args...]
import { existsSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { TcpTransport, dialPeer, readCookieFile, resolvePeerOptions, silentLogger } from '@warren/cluster-peer';
import { DEFAULT_DIST_PORT, PEER_HEARTBEAT_TICK_MS, defaultCookieFile, lookupDataDir, lookupNode, type ControlReply } from '../cli/control.ts';
import type { CommandRequest } from '../cli/commands.ts';
import { commandHelp, overview } from '../cli/help.ts';

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
  let help = false;
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
    else if (a === '--disc') delete flags['ram'];
    else if (a === '-h' || a === '--help') help = true;
    else rest.push(a);
  }
  const [cmd, ...args] = rest;
  // help is answered here, without a node: `brokerctl --help`, `brokerctl help [<command>]`, `brokerctl <command> --help`
  if (cmd === 'help' || help) {
    const topic = cmd === 'help' ? args[0] : cmd;
    if (topic === undefined) {
      process.stdout.write(overview() + '\n');
      return;
    }
    const text = commandHelp(topic);
    if (text === null) fail(`Command '${topic}' not found.\n\n${overview()}`, 64);
    process.stdout.write(text + '\n');
    return;
  }
  if (!cmd) fail(overview(), 64);
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
  let linkGone: () => void = () => {};
  const gone = new Promise<void>((res) => (linkGone = res));
  const config = resolvePeerOptions({
    nodeName: `brokerctl-${process.pid}@${short}`,
    cookie,
    transport: new TcpTransport(),
    logger: silentLogger,
    handler: { onMessage: () => {}, onLinkDown: () => linkGone() },
    requestTimeoutMs: timeoutS * 1000,
    // the node takes 6 silent ticks of its own pace for a dead link: beat at that pace, or a command longer than
    // 1.2 s would lose its link before the reply. Our side gives the node more slack: a busy node may stall a while.
    heartbeatTickMs: PEER_HEARTBEAT_TICK_MS,
    heartbeatMissedTicks: Math.ceil(10_000 / PEER_HEARTBEAT_TICK_MS),
  });
  const target = registered !== null || host === short || host === 'localhost' ? '127.0.0.1' : host;
  let link;
  try {
    link = await dialPeer(config, node, { host: target, port });
  } catch (err) {
    const code = (err as { code?: string }).code;
    // force_boot is an offline command, as rabbitmqctl's: on a stopped node it marks the node's data directory
    if (cmd === 'force_boot' && code !== 'COOKIE_MISMATCH' && code !== 'WRONG_NODE') return forceBootOffline(node);
    // name the cause the dial saw, as rabbitmqctl's diagnostics do
    const cause =
      code === 'COOKIE_MISMATCH'
        ? ` * the node refused brokerctl's cookie: the cookie file ${cookieFile} differs from the node's (nodes and brokerctl must share one cookie)`
        : code === 'WRONG_NODE'
          ? ` * another node answers on ${target}:${port}, not ${node}`
          : code === 'CONNECT_FAILED' || code === 'HANDSHAKE_TIMEOUT'
            ? ` * node ${node} is not running, or its distribution port ${target}:${port} is unreachable` +
              (registered === null ? ` (the node is not registered on this host; pass --dist-port if it listens elsewhere)` : '')
            : ` * node ${node} is not running, or its control port (${port}) is unreachable, or the cookie differs`;
    fail(
      `Error: unable to perform an operation on node '${node}'. Please see diagnostics information and suggestions below.\n\n` +
        `DIAGNOSTICS\n===========\n\n${(err as Error).message}\n\n${cause}`,
      69,
    );
  }
  const req: CommandRequest = { cmd, args, vhost, flags: { ...flags, timeout: String(timeoutS) } };
  let reply: ControlReply;
  try {
    reply = (await link.request(req)) as ControlReply;
  } catch (err) {
    link.close();
    const code = (err as { code?: string }).code;
    // the link to the node was lost before the reply: the command may or may not have taken effect there
    const why =
      code === 'REQUEST_TIMEOUT'
        ? `node ${node} did not answer ${cmd} within ${timeoutS} s (raise it with --timeout)`
        : code === 'HEARTBEAT_TIMEOUT'
          ? `node ${node} stopped answering while running ${cmd} (no heartbeat for 10 s)`
          : `node ${node} closed the connection while running ${cmd} (it stopped or exited)`;
    fail(`Error: ${why}; ${cmd} may or may not have taken effect.\n${(err as Error).message}`, 75);
  }
  // stop returns once the node has gone (its link closes as it exits, after it released its name), as rabbitmqctl
  // stop waits for the node to halt: a broker started right after finds the name free
  if (reply.ok && cmd === 'stop') await Promise.race([gone, new Promise((r) => setTimeout(r, 15_000).unref())]);
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
