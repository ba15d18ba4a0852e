// Virtual addresses on the interface, through iproute2 (`ip addr add/del`).
//
// Why iproute2 rather than a netlink binding: there is no netlink addon in the workspace, `ip` does the job in
// ~2 ms when started from the already-running helper shell (helper.ts), it reports EEXIST/EADDRNOTAVAIL clearly
// (adding twice or removing a missing address is not an error for us), and it is what operators use to check.

import { networkInterfaces } from 'node:os';
import type { VirtualIp } from './config.ts';
import { run } from './exec.ts';
import type { ShellHelper } from './helper.ts';
import type { IpBatch } from './ip-batch.ts';

export const IP_CMD_TIMEOUT_MS = 5000;

export interface VipOps {
  add(vips: readonly VirtualIp[], defaultDev: string): Promise<string[]>;
  remove(vips: readonly VirtualIp[], defaultDev: string): Promise<string[]>;
}

function vipArgs(op: 'add' | 'del', v: VirtualIp, dev: string): string[] {
  const a = ['addr', op, `${v.address}/${v.prefix}`, 'dev', v.dev ?? dev];
  if (op === 'add' && v.label !== undefined) a.push('label', v.label);
  return a;
}

const benign = (op: 'add' | 'del', err: string): boolean =>
  // Already present / already gone: the end state is what we wanted.
  (op === 'add' && /File exists|already assigned/i.test(err)) ||
  (op === 'del' && /Cannot assign requested address|not found/i.test(err));

/** Returns error messages (empty when all went well). */
async function each(op: 'add' | 'del', vips: readonly VirtualIp[], dev: string, helper: ShellHelper, batch?: IpBatch): Promise<string[]> {
  const argvs = vips.map((v) => vipArgs(op, v, dev));
  const fast = batch === undefined ? undefined : await batch.run(argvs);
  if (fast !== undefined) {
    return fast.flatMap((err, i) => (err === undefined || benign(op, err) ? [] : [`ip ${argvs[i]!.join(' ')}: ${err}`]));
  }
  const results = await Promise.all(argvs.map((a) => helper.run(['ip', ...a])));
  const errors: string[] = [];
  results.forEach((r, i) => {
    if (r.code === 0 || benign(op, r.stderr)) return;
    errors.push(`ip ${argvs[i]!.join(' ')}: ${r.stderr.trim() || `exit ${r.code}`}`);
  });
  return errors;
}

/**
 * Through a long-lived `ip -batch` (ip-batch.ts), else the helper shell (no Node fork on the takeover path
 * either way; the helper itself falls back to a direct spawn).
 */
export function helperVips(helper: ShellHelper, batch?: IpBatch): VipOps {
  return {
    add: (vips, dev) => each('add', vips, dev, helper, batch),
    remove: (vips, dev) => each('del', vips, dev, helper, batch),
  };
}

/**
 * The interface's first IPv4 address other than `exclude`, from getifaddrs(3) (os.networkInterfaces: no process
 * to start, which matters for start-up time). The kernel lists an interface's primary address before its
 * secondaries, so this is the primary one unless the VIPs were all that is there. Falls back to `ip -j addr`.
 */
export async function primaryAddress(ifname: string, exclude: readonly string[] = []): Promise<string | undefined> {
  const fromOs = (networkInterfaces()[ifname] ?? []).find((a) => a.family === 'IPv4' && !exclude.includes(a.address));
  if (fromOs !== undefined) return fromOs.address;
  return primaryAddressFromIp(ifname, exclude);
}

/** The interface's primary IPv4 address (first non-secondary) as `ip -j addr` reports it. */
export async function primaryAddressFromIp(ifname: string, exclude: readonly string[] = []): Promise<string | undefined> {
  const r = await run('ip', ['-j', '-4', 'addr', 'show', 'dev', ifname], IP_CMD_TIMEOUT_MS);
  if (r.code !== 0) return undefined;
  try {
    const parsed = JSON.parse(r.stdout) as { addr_info?: { local?: string; secondary?: boolean }[] }[];
    for (const link of parsed) {
      for (const a of link.addr_info ?? []) {
        if (a.local !== undefined && a.secondary !== true && !exclude.includes(a.local)) return a.local;
      }
    }
  } catch {
    return undefined;
  }
  return undefined;
}
