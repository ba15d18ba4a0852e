// Gratuitous ARP (RFC 5798 §6.4.1 "broadcast a gratuitous ARP request containing the virtual router MAC address
// for each IP address"; we keep the interface MAC, as keepalived does without use_vmac).
//
// The frame is keepalived's (vrrp_arp.c, send_gratuitous_arp_immediate): an ARP request to the broadcast address,
// sender and target protocol address both the VIP, target hardware address ff:ff:ff:ff:ff:ff. It goes out through
// the long-lived AF_PACKET helper (garp-helper.ts); without perl, through iputils `arping -U` started by the
// helper shell. keepalived's defaults: garp_master_repeat 5 back to back at once, again after garp_master_delay
// 5 s, optionally every garp_master_refresh seconds.

import { readFileSync } from 'node:fs';
import type { VirtualIp } from './config.ts';
import type { GarpHelper } from './garp-helper.ts';
import type { ShellHelper } from './helper.ts';
import { ipToInt } from './packet.ts';

export interface GarpOps {
  /**
   * Send `count` gratuitous ARPs for each VIP, back to back. The first leave before this returns (or as soon as a
   * helper reads the request); resolves once they are on their way; failures it can see go to `onError`.
   */
  send(
    vips: readonly VirtualIp[],
    defaultDev: string,
    count: number,
    onError: (msg: string) => void,
    /** Asked again if the GARPs cannot leave at once: false when they have become stale (no longer master). */
    wanted?: () => boolean,
  ): Promise<void>;
}

const ETH_P_ARP = 0x0806;
const ETH_P_IP = 0x0800;
const ARPHRD_ETHER = 1;
const ARPOP_REQUEST = 1;

/** The 42-byte Ethernet frame of a gratuitous ARP request for `ip` from `mac` (aa:bb:cc:dd:ee:ff). */
export function garpFrame(mac: string, ip: string): Buffer {
  const hw = Buffer.from(mac.split(':').map((h) => parseInt(h, 16)));
  if (hw.length !== 6 || hw.some((b) => Number.isNaN(b))) throw new Error(`not an Ethernet address: ${mac}`);
  const f = Buffer.alloc(42);
  f.fill(0xff, 0, 6); // destination: broadcast
  hw.copy(f, 6);
  f.writeUInt16BE(ETH_P_ARP, 12);
  f.writeUInt16BE(ARPHRD_ETHER, 14);
  f.writeUInt16BE(ETH_P_IP, 16);
  f[18] = 6;
  f[19] = 4;
  f.writeUInt16BE(ARPOP_REQUEST, 20);
  hw.copy(f, 22); // sender hardware address
  f.writeUInt32BE(ipToInt(ip) >>> 0, 28); // sender protocol address
  f.fill(0xff, 32, 38); // target hardware address, as keepalived sends it
  f.writeUInt32BE(ipToInt(ip) >>> 0, 38); // target protocol address
  return f;
}

/** An interface's index and MAC from sysfs (read at each burst: an interface can be re-created). */
function linkInfo(dev: string): { ifindex: number; mac: string } {
  return {
    ifindex: Number(readFileSync(`/sys/class/net/${dev}/ifindex`, 'utf8').trim()),
    mac: readFileSync(`/sys/class/net/${dev}/address`, 'utf8').trim(),
  };
}

/** GARPs through the AF_PACKET helper; through arping (`fallback`) when the helper is unavailable. */
export function packetGarp(helper: GarpHelper, fallback: GarpOps): GarpOps {
  // Frames are built once per (MAC, VIP): a takeover only reads sysfs and writes one line.
  const frames = new Map<string, Buffer>();
  const frame = (mac: string, ip: string): Buffer => {
    const k = `${mac} ${ip}`;
    let f = frames.get(k);
    if (f === undefined) frames.set(k, (f = garpFrame(mac, ip)));
    return f;
  };
  return {
    async send(vips, defaultDev, count, onError, wanted) {
      const byDev = new Map<string, VirtualIp[]>();
      for (const v of vips) {
        const d = v.dev ?? defaultDev;
        byDev.set(d, [...(byDev.get(d) ?? []), v]);
      }
      const waits: Promise<void>[] = [];
      for (const [dev, list] of byDev) {
        let info;
        try {
          info = linkInfo(dev);
        } catch (e) {
          onError(`${dev}: ${(e as Error).message}`);
          continue;
        }
        const done = helper.send(info.ifindex, list.map((v) => frame(info.mac, v.address)), count, wanted);
        if (done === undefined) {
          waits.push(fallback.send(list, dev, count, onError, wanted));
          continue;
        }
        waits.push(done.then((err) => (err === undefined ? undefined : onError(`${dev}: ${err}`))));
      }
      await Promise.all(waits);
    },
  };
}

/**
 * The fallback: iputils arping sends its first packet at once but then waits a whole second (`-i` takes whole
 * seconds, and `-i 0` stalls), so a burst of N back-to-back GARPs is N `arping -c 1` runs started together by the
 * already-running helper `sh`. Exit codes are not reported back on this path; a missing arping is reported once
 * at start by checkArping().
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
