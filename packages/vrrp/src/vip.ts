// Virtual addresses on the interface, through iproute2 (`ip addr add/del`).
//
// Why iproute2 rather than a netlink binding: there is no netlink addon in the workspace, `ip` does the job in
// ~2 ms when started from the already-running helper shell (helper.ts), it reports EEXIST/EADDRNOTAVAIL clearly
// (adding twice or removing a missing address is not an error for us), and it is what operators use to check.

import type { VirtualIp } from './config.ts';
import { run } from './exec.ts';
import type { ShellHelper } from './helper.ts';

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

/** Returns error messages (empty when all went well). */
async function each(op: 'add' | 'del', vips: readonly VirtualIp[], dev: string, helper: ShellHelper): Promise<string[]> {
  const results = await Promise.all(vips.map((v) => helper.run(['ip', ...vipArgs(op, v, dev)])));
  const errors: string[] = [];
  results.forEach((r, i) => {
    if (r.code === 0) return;
    // Already present / already gone: the end state is what we wanted.
    if (op === 'add' && /File exists/.test(r.stderr)) return;
    if (op === 'del' && /Cannot assign requested address|not found/i.test(r.stderr)) return;
    errors.push(`ip ${vipArgs(op, vips[i]!, dev).join(' ')}: ${r.stderr.trim() || `exit ${r.code}`}`);
  });
  return errors;
}

/** Through the helper shell (no Node fork on the takeover path; it falls back to a direct spawn itself). */
export function helperVips(helper: ShellHelper): VipOps {
  return {
    add: (vips, dev) => each('add', vips, dev, helper),
    remove: (vips, dev) => each('del', vips, dev, helper),
  };
}

/** The interface's primary IPv4 address (first non-secondary), for the advert source and the tie-break. */
export async function primaryAddress(ifname: string, exclude: readonly string[] = []): Promise<string | undefined> {
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
