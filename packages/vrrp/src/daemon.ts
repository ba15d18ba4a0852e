// The vrrpd process: wires config, sockets, trackers, instances and the status server together.

import { checkArping, helperGarp, type GarpOps } from './arp.ts';
import { ShellHelper } from './helper.ts';
import type { InstanceConfig, VrrpConfig } from './config.ts';
import { VrrpInstance } from './instance.ts';
import type { Logger } from './log.ts';
import { SPAWN_NOTIFY, type NotifyOps } from './notify.ts';
import { decodeIpv4 } from './packet.ts';
import { REAL_CLOCK, type Clock } from './scheduler.ts';
import { VrrpSocket } from './socket.ts';
import { StatusServer } from './status.ts';
import { effectivePriority, InterfaceTracker, ScriptTracker, trackEffect } from './track.ts';
import { helperVips, primaryAddress, type VipOps } from './vip.ts';

export interface DaemonOptions {
  log: Logger;
  statusSocket?: string;
  statusPort?: number;
  clock?: Clock;
  vips?: VipOps;
  garp?: GarpOps;
  notify?: NotifyOps;
}

export class DaemonError extends Error {
  constructor(
    readonly code: 'NO_ADDRESS' | 'SOCKET',
    message: string,
  ) {
    super(message);
    this.name = 'DaemonError';
  }
}

export class Daemon {
  readonly instances: VrrpInstance[] = [];
  private readonly sockets = new Map<string, VrrpSocket>();
  private readonly scripts = new Map<string, ScriptTracker>();
  private readonly links = new Map<string, InterfaceTracker>();
  private status: StatusServer | undefined;
  statusAddress: string | undefined;
  private readonly startedAt = new Date().toISOString();
  unknownVrid = 0;
  socketErrors = 0;
  private stopping = false;
  private readonly helper = new ShellHelper();

  private constructor(
    readonly config: VrrpConfig,
    private readonly opts: DaemonOptions,
  ) {}

  static async start(config: VrrpConfig, opts: DaemonOptions): Promise<Daemon> {
    const d = new Daemon(config, opts);
    await d.init();
    return d;
  }

  private async init(): Promise<void> {
    const { log } = this.opts;
    const clock = this.opts.clock ?? REAL_CLOCK;
    this.helper.warm();
    const vips = this.opts.vips ?? helperVips(this.helper);
    const garp = this.opts.garp ?? helperGarp(this.helper);
    if (this.opts.garp === undefined) {
      const missing = await checkArping(this.helper);
      if (missing !== undefined) log.info(missing);
    }
    for (const w of this.config.warnings) log.info(`config warning: ${w.file}:${w.line}: ${w.keyword}: ${w.message}`);

    for (const cfg of this.config.instances) {
      const allVips = [...cfg.vips, ...cfg.vipsExcluded].map((v) => v.address);
      const src = cfg.unicastSrcIp ?? cfg.mcastSrcIp ?? (await primaryAddress(cfg.interface, allVips));
      if (src === undefined) {
        throw new DaemonError('NO_ADDRESS', `(${cfg.name}) interface ${cfg.interface} has no IPv4 address to send adverts from`);
      }
      // A restarted vrrpd (after kill -9) must not keep answering for VIPs it no longer owns.
      if (cfg.priority !== 255) await vips.remove([...cfg.vips, ...cfg.vipsExcluded], cfg.interface);
      const inst = new VrrpInstance(cfg, this.config.global, src, {
        clock,
        transport: { send: (pkt, dst) => this.sockets.get(cfg.interface)?.send(pkt, dst) },
        vips,
        garp,
        notify: this.opts.notify ?? SPAWN_NOTIFY,
        log: log.info,
        detail: log.detail,
        wallNow: () => new Date(),
      });
      this.instances.push(inst);
      if (!this.sockets.has(cfg.interface)) {
        try {
          this.sockets.set(
            cfg.interface,
            new VrrpSocket(
              cfg.interface,
              (pkt) => this.onPacket(cfg.interface, pkt),
              (e) => {
                // A master sends up to 100 adverts/s: log the first errors, then every 100th.
                const n = ++this.socketErrors;
                const msg = `${cfg.interface}: socket error: ${e.message} (count ${n})`;
                if (n <= 3 || n % 100 === 0) log.info(msg);
                else log.detail(msg);
              },
            ),
          );
        } catch (e) {
          throw new DaemonError('SOCKET', `${cfg.interface}: cannot open raw socket for protocol 112: ${(e as Error).message}`);
        }
      }
      if (cfg.unicastPeers.length === 0) this.sockets.get(cfg.interface)!.join(this.config.global.mcastGroup);
      log.info(
        `(${cfg.name}) VRRPv${cfg.version} vrid ${cfg.vrid} on ${cfg.interface} from ${src}, priority ${cfg.priority}, advert_int ${cfg.advertIntervalCs / 100} s, ${cfg.unicastPeers.length > 0 ? `unicast to ${cfg.unicastPeers.join(',')}` : `multicast ${this.config.global.mcastGroup}`}`,
      );
    }

    for (const cfg of this.config.instances) {
      for (const r of cfg.trackScripts) {
        if (this.scripts.has(r.name)) continue;
        const sc = this.config.scripts.get(r.name)!;
        this.scripts.set(r.name, new ScriptTracker(sc, clock, () => this.reevaluate(), log.info));
      }
      const ifs = [...(cfg.dontTrackPrimary ? [] : [cfg.interface]), ...cfg.trackInterfaces.map((t) => t.name)];
      for (const name of ifs) {
        if (this.links.has(name)) continue;
        this.links.set(
          name,
          new InterfaceTracker(name, clock, (t) => this.onLinkChange(t), log.info),
        );
      }
    }
    await Promise.all([...this.links.values()].map((l) => l.start()));
    for (const s of this.scripts.values()) s.start();

    if (this.opts.statusSocket !== undefined || this.opts.statusPort !== undefined) {
      this.status = new StatusServer(() => this.statusJson());
      const where: { socket?: string; port?: number } = {};
      if (this.opts.statusSocket !== undefined) where.socket = this.opts.statusSocket;
      if (this.opts.statusPort !== undefined) where.port = this.opts.statusPort;
      this.statusAddress = await this.status.listen(where);
      log.info(`status on ${this.statusAddress}`);
    }

    this.reevaluate();
    for (const i of this.instances) i.start();
  }

  private onPacket(ifname: string, pkt: Buffer): void {
    const ip = decodeIpv4(pkt);
    if (ip === undefined || pkt.length < ip.headerLength + 2) return;
    const vrid = pkt[ip.headerLength + 1]!;
    let found = false;
    for (const i of this.instances) {
      if (i.cfg.interface === ifname && i.cfg.vrid === vrid) {
        found = true;
        i.onPacket(pkt);
      }
    }
    if (!found) {
      this.unknownVrid++;
      this.opts.log.detail(`${ifname}: advert for unconfigured vrid ${vrid} from ${ip.src}`);
    }
  }

  private onLinkChange(t: InterfaceTracker): void {
    if (t.good) {
      const sock = this.sockets.get(t.ifname);
      const multicast = this.config.instances.some((c) => c.interface === t.ifname && c.unicastPeers.length === 0);
      if (sock !== undefined && multicast) {
        try {
          sock.join(this.config.global.mcastGroup, true);
        } catch (e) {
          this.opts.log.info(`${t.ifname}: re-joining ${this.config.global.mcastGroup}: ${(e as Error).message}`);
        }
      }
    }
    this.reevaluate();
  }

  /** Recompute each instance's effective priority and faults from the trackers. */
  private reevaluate(): void {
    if (this.stopping) return;
    for (const inst of this.instances) {
      const { priority, faults } = this.trackState(inst.cfg);
      inst.setPriority(priority);
      inst.setFaults(faults);
    }
  }

  private trackState(cfg: InstanceConfig): { priority: number; faults: string[] } {
    const deltas: number[] = [];
    const faults: string[] = [];
    for (const r of cfg.trackScripts) {
      const t = this.scripts.get(r.name)!;
      const e = trackEffect(t.health.good, r.weight ?? t.cfg.weight, t.cfg.weightReverse);
      deltas.push(e.delta);
      if (e.fault) faults.push(`track_script ${r.name}`);
    }
    const ifRefs = [...(cfg.dontTrackPrimary ? [] : [{ name: cfg.interface, weight: 0 }]), ...cfg.trackInterfaces];
    for (const r of ifRefs) {
      const e = trackEffect(this.links.get(r.name)!.good, r.weight ?? 0);
      deltas.push(e.delta);
      if (e.fault) faults.push(`interface ${r.name} down`);
    }
    return { priority: effectivePriority(cfg.priority, deltas), faults: [...new Set(faults)] };
  }

  statusJson(): { instances: Record<string, unknown>[] } & Record<string, unknown> {
    return {
      routerId: this.config.global.routerId ?? null,
      pid: process.pid,
      startedAt: this.startedAt,
      instances: this.instances.map((i) => i.status()),
      scripts: [...this.scripts.values()].map((s) => s.status()),
      interfaces: [...this.links.values()].map((l) => ({ name: l.ifname, up: l.good })),
      unknownVrid: this.unknownVrid,
      socketErrors: this.socketErrors,
    };
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    for (const s of this.scripts.values()) s.stop();
    for (const l of this.links.values()) l.stop();
    await Promise.all(this.instances.map((i) => i.shutdown()));
    await Promise.all([...this.sockets.values()].map((s) => s.flush()));
    for (const s of this.sockets.values()) s.close();
    this.helper.close();
    await this.status?.close();
  }
}
