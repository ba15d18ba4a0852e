// Gratuitous ARP (RFC 5798 §6.4.1 "broadcast a gratuitous ARP request containing the virtual router MAC address
// for each IP address"; we keep the interface MAC, as keepalived does without use_vmac).
//
// Through Debian's iputils `arping -U` (unsolicited ARP: sender and target = the VIP): ARP needs an AF_PACKET
// socket, which raw-socket (AF_INET/AF_INET6 only) cannot open, and arping is in the CI image anyway.
// keepalived's defaults: garp_master_repeat 5 back to back at once, again after garp_master_delay 5 s,
// optionally every garp_master_refresh seconds.

import type { VirtualIp } from './config.ts';
import type { ShellHelper } from './helper.ts';

export interface GarpOps {
  /**
   * Send `count` gratuitous ARPs for each VIP, back to back. Resolves once they are on their way; failures the
   * implementation can see go to `onError`.
   */
  send(vips: readonly VirtualIp[], defaultDev: string, count: number, onError: (msg: string) => void): Promise<void>;
}

/**
 * iputils arping sends its first packet at once and then waits a whole second (`-i` takes whole seconds, and
 * `-i 0` stalls), so a burst of N back-to-back GARPs is N `arping -c 1` runs started together. Each is started
 * in the background by the already-running helper `sh` (a sub-millisecond fork instead of a Node spawn) and exits
 * by itself after ~1 s; nothing waits for it, so VIP removal is never held up behind a GARP burst. Exit codes are
 * not reported back on this path; a missing arping is reported once at start by checkArping().
 */
export function helperGarp(helper: ShellHelper): GarpOps {
  return {
    async send(vips, defaultDev, count) {
      const argvs: string[][] = [];
      for (const v of vips) {
        for (let i = 0; i < count; i++) argvs.push(['arping', '-q', '-U', '-c', '1', '-w', '2', '-I', v.dev ?? defaultDev, v.address]);
      }
      // One helper round trip: a subshell starts all of them in the background.
      await helper.runDetached(argvs);
    },
  };
}

export async function checkArping(helper: ShellHelper): Promise<string | undefined> {
  const r = await helper.run(['sh', '-c', 'command -v arping']);
  return r.code === 0 ? undefined : 'arping not found: gratuitous ARPs will not be sent (install iputils-arping)';
}
