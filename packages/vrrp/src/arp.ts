// Gratuitous ARP (RFC 5798 §6.4.1 "broadcast a gratuitous ARP request containing the virtual router MAC address
// for each IP address"; we keep the interface MAC, as keepalived does without use_vmac).
//
// Through Debian's iputils `arping -U` (unsolicited ARP: sender and target = the VIP): ARP needs an AF_PACKET
// socket, which raw-socket (AF_INET/AF_INET6 only) cannot open, and arping is in the CI image anyway.
// keepalived's defaults: garp_master_repeat 5 back to back at once, again after garp_master_delay 5 s,
// optionally every garp_master_refresh seconds.

import { spawn } from 'node:child_process';
import type { VirtualIp } from './config.ts';
import type { ShellHelper } from './helper.ts';

export const ARPING_TIMEOUT_MS = 5000;

export interface GarpOps {
  /**
   * Send `count` gratuitous ARPs for each VIP, back to back. Resolves once they are on their way; failures that
   * show up later (arping exiting >= 2) go to `onError`.
   */
  send(vips: readonly VirtualIp[], defaultDev: string, count: number, onError: (msg: string) => void): Promise<void>;
}

// iputils arping sends its first packet at once and then waits a whole second (`-i` takes whole seconds, and
// `-i 0` stalls), so a burst of N back-to-back GARPs is N `arping -c 1` processes started together. Each exits
// by itself after ~1 s; we do not wait for that, so VIP removal is never held up behind a GARP burst.
function arpingOnce(dev: string, vip: string, onError: (msg: string) => void): Promise<void> {
  return new Promise((resolve) => {
    const args = ['-q', '-U', '-c', '1', '-w', '2', '-I', dev, vip];
    const child = spawn('arping', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.once('spawn', () => resolve());
    child.once('error', (e) => {
      onError(`arping ${args.join(' ')}: ${e.message}`);
      resolve();
    });
    // iputils arping exits 1 in -U mode when no reply came back, which is the normal case.
    child.once('exit', (code) => {
      if (code !== null && code > 1) onError(`arping ${args.join(' ')}: ${err.trim() || `exit ${code}`}`);
    });
    const kill = setTimeout(() => child.kill('SIGKILL'), ARPING_TIMEOUT_MS);
    kill.unref();
    child.once('exit', () => clearTimeout(kill));
  });
}

export const ARPING_GARP: GarpOps = {
  async send(vips, defaultDev, count, onError) {
    const all: Promise<void>[] = [];
    for (const v of vips) for (let i = 0; i < count; i++) all.push(arpingOnce(v.dev ?? defaultDev, v.address, onError));
    await Promise.all(all);
  },
};

/**
 * The same through the helper shell: each arping is started in the background by the already-running `sh`
 * (a sub-millisecond fork instead of a Node spawn). Exit codes are not reported back on this path; a missing
 * arping is reported once by checkArping().
 */
export function helperGarp(helper: ShellHelper): GarpOps {
  return {
    async send(vips, defaultDev, count) {
      const all: Promise<unknown>[] = [];
      for (const v of vips) {
        for (let i = 0; i < count; i++) {
          all.push(helper.run(['arping', '-q', '-U', '-c', '1', '-w', '2', '-I', v.dev ?? defaultDev, v.address], { detach: true }));
        }
      }
      await Promise.all(all);
    },
  };
}

export async function checkArping(helper: ShellHelper): Promise<string | undefined> {
  const r = await helper.run(['sh', '-c', 'command -v arping']);
  return r.code === 0 ? undefined : 'arping not found: gratuitous ARPs will not be sent (install iputils-arping)';
}
