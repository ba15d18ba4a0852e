// Gratuitous ARP (RFC 5798 §6.4.1 "broadcast a gratuitous ARP request containing the virtual router MAC address
// for each IP address"; we keep the interface MAC, as keepalived does without use_vmac).
//
// Through Debian's iputils `arping -U` (unsolicited ARP: sender and target = the VIP): ARP needs an AF_PACKET
// socket, which raw-socket (AF_INET/AF_INET6 only) cannot open, and arping is in the CI image anyway.
// keepalived's defaults: garp_master_repeat 5 back to back at once, again after garp_master_delay 5 s,
// optionally every garp_master_refresh seconds.

import type { GarpSettings, VirtualIp } from './config.ts';
import { run } from './exec.ts';

export const ARPING_TIMEOUT_MS = 5000;

export interface GarpOps {
  /** Send `count` gratuitous ARPs for each VIP; resolves to error messages. */
  send(vips: readonly VirtualIp[], defaultDev: string, count: number): Promise<string[]>;
}

export const ARPING_GARP: GarpOps = {
  async send(vips, defaultDev, count) {
    const results = await Promise.all(
      vips.map((v) => {
        const args = ['-q', '-U', '-c', String(count), '-i', '0.001', '-I', v.dev ?? defaultDev, v.address];
        return run('arping', args, ARPING_TIMEOUT_MS).then((r) => ({ r, args }));
      }),
    );
    // iputils arping exits 1 in -U mode when no reply came back, which is the normal case.
    return results
      .filter(({ r }) => r.code !== 0 && r.code !== 1)
      .map(({ r, args }) => `arping ${args.join(' ')}: ${r.stderr.trim() || `exit ${r.code}`}`);
  },
};

export type { GarpSettings };
