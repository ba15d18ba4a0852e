// The node registry: a one-host stand-in for epmd (node name -> distribution port, and the data directory a stopped
// node left), read by brokerctl to find a node and written by the node's distribution port (cluster/cluster-service.ts)
// or its control server (cli/control.ts). A leaf module, so both sides use it without importing each other.
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';

export const DEFAULT_DIST_PORT = 25672;

/**
 * Heartbeat tick of every link on the distribution port, cluster peers and brokerctl alike: a node takes 6 silent
 * ticks (1.2 s) for a dead peer, so brokerctl must beat at the node's pace, or a command running longer than that
 * (join_cluster, change_cluster_node_type) would lose its link before the reply. Warren's net_ticktime: Erlang's is
 * 60 s (a peer is down after 45-75 s of silence); Warren's 1.2 s (noticed 1.2-1.4 s after the silence began) lets a
 * hung master's mirror take over within 2 s, while a node's event loop, on a 2-core host at load 25-30, stalled at
 * most 0.2 s (0.6 s at nice 10) in 2-minute samples: a busy node is not taken for a dead one.
 */
export const PEER_HEARTBEAT_TICK_MS = 200;

/** Where the cookie lives unless configured: like Erlang's ~/.erlang.cookie. */
export function defaultCookieFile(): string {
  return process.env['WARREN_COOKIE_FILE'] ?? join(process.env['HOME'] ?? homedir(), '.erlang.cookie');
}

/** A one-host stand-in for epmd: node name -> control port, so brokerctl -n finds nodes on non-default ports. */
export function registryDir(): string {
  return process.env['WARREN_NODE_REGISTRY'] ?? join(tmpdir(), 'warren-nodes');
}

/** A node name already held by another live process on this host (epmd refuses a second registration of a name). */
export class NodeNameInUseError extends Error {
  constructor(node: string, pid: number, port: number) {
    super(
      `node with name "${node}" is already running on this host (pid ${pid}${port > 0 ? `, distribution port ${port}` : ''}); stop it, or give this node another --node-name`,
    );
  }
}

function registryFile(node: string): string {
  return join(registryDir(), `${node}.port`);
}

/**
 * A node's data directory, kept in the registry after the node stops (unlike its port): the offline commands
 * (brokerctl force_boot on a stopped node, as rabbitmqctl's) find it there.
 */
export function registerDataDir(node: string, dir: string): void {
  mkdirSync(registryDir(), { recursive: true, mode: 0o700 });
  const path = join(registryDir(), `${node}.datadir`);
  writeFileSync(`${path}.${process.pid}.tmp`, `${dir}\n`);
  renameSync(`${path}.${process.pid}.tmp`, path);
}

export function lookupDataDir(node: string): string | null {
  try {
    const d = readFileSync(join(registryDir(), `${node}.datadir`), 'utf8').trim();
    return d === '' ? null : d;
  } catch {
    return null;
  }
}

/** The registration of a node: its port and the pid of the process holding the name (null pid: an older format). */
function holderOf(node: string): { port: number; pid: number | null } | null {
  try {
    const [port, pid] = readFileSync(registryFile(node), 'utf8').trim().split(/\s+/).map(Number);
    return { port: Number.isInteger(port) ? port! : 0, pid: pid !== undefined && Number.isInteger(pid) && pid > 0 ? pid : null };
  } catch {
    return null;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Claims a node name for this process before it opens its distribution port, as an Erlang node registers its name
 * with epmd: a name held by another live process is refused (NodeNameInUseError); a stale one (its process gone) is
 * taken over. The claim is created exclusively, so of two nodes starting at once with one name only one gets it.
 */
export function claimNode(node: string): void {
  mkdirSync(registryDir(), { recursive: true, mode: 0o700 });
  const path = registryFile(node);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      writeFileSync(path, `0 ${process.pid}\n`, { flag: 'wx' });
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const h = holderOf(node);
    if (h !== null && h.pid === process.pid) return;
    if (h !== null && h.pid !== null && alive(h.pid)) throw new NodeNameInUseError(node, h.pid, h.port);
    // stale: its process is gone (killed -9, crashed); replace it unless another starter just did
    const cur = readFileSync(path, 'utf8');
    if (h === null || cur.trim() === `${h.port}${h.pid !== null ? ` ${h.pid}` : ''}`) rmSync(path, { force: true });
  }
  throw new Error(`could not register node name ${node} in ${registryDir()}`);
}

export function registerNode(node: string, port: number): void {
  mkdirSync(registryDir(), { recursive: true, mode: 0o700 });
  // written aside and renamed into place: a brokerctl or a peer looking the node up never reads a half-written file
  const path = registryFile(node);
  writeFileSync(`${path}.${process.pid}.tmp`, `${port} ${process.pid}\n`);
  renameSync(`${path}.${process.pid}.tmp`, path);
}

/** Removes this process's registration of the name, never another process's. */
export function unregisterNode(node: string): void {
  const h = holderOf(node);
  if (h !== null && h.pid !== null && h.pid !== process.pid) return;
  rmSync(registryFile(node), { force: true });
}

export function lookupNode(node: string): number | null {
  const h = holderOf(node);
  return h !== null && h.port > 0 ? h.port : null;
}
