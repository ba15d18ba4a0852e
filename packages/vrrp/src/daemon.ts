// The vrrpd process: wires config, sockets, trackers, instances and the status server together.

import { checkArping, helperGarp, type GarpOps } from './arp.ts';
import { ShellHelper } from './helper.ts';
import { IpBatch } from './ip-batch.ts';
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

/** Equal configuration, ignoring where it was written (file and line). */
function sameConfig(a: unknown, b: unknown): boolean {
  const strip = (_k: string, v: unknown): unknown => (_k === 'file' || _k === 'line' ? undefined : v);
  return JSON.stringify(a, strip) === JSON.stringify(b, strip);
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
  private readonly clock: Clock;
  private readonly vips: VipOps;
  private readonly garp: GarpOps;
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
  private readonly ipBatch = new IpBatch();

  private constructor(
    public config: VrrpConfig,
    private readonly opts: DaemonOptions,
  ) {
    this.clock = opts.clock ?? REAL_CLOCK;
    this.vips = opts.vips ?? helperVips(this.helper, this.ipBatch);
    this.garp = opts.garp ?? helperGarp(this.helper);
  }

  static async start(config: VrrpConfig, opts: DaemonOptions): Promise<Daemon> {
    const d = new Daemon(config, opts);
    await d.init();
    return d;
  }

  private async init(): Promise<void> {
    const { log } = this.opts;
    this.helper.warm();
    this.ipBatch.warm();
    if (this.opts.garp === undefined) {
      const missing = await checkArping(this.helper);
      if (missing !== undefined) log.info(missing);
    }
    for (const w of this.config.warnings) log.info(`config warning: ${w.file}:${w.line}: ${w.keyword}: ${w.message}`);
    for (const cfg of this.config.instances) this.instances.push(await this.createInstance(cfg));
    await this.syncTrackers();

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

  private async createInstance(cfg: InstanceConfig): Promise<VrrpInstance> {
    const { log } = this.opts;
    const allVips = [...cfg.vips, ...cfg.vipsExcluded];
    const src = cfg.unicastSrcIp ?? cfg.mcastSrcIp ?? (await primaryAddress(cfg.interface, allVips.map((v) => v.address)));
    if (src === undefined) {
      throw new DaemonError('NO_ADDRESS', `(${cfg.name}) interface ${cfg.interface} has no IPv4 address to send adverts from`);
    }
    // A restarted vrrpd (after kill -9) must not keep answering for VIPs it no longer owns.
    if (cfg.priority !== 255) await this.vips.remove(allVips, cfg.interface);
    const inst = new VrrpInstance(cfg, this.config.global, src, {
      clock: this.clock,
      transport: { send: (pkt, dst) => this.sockets.get(cfg.interface)?.send(pkt, dst) },
      vips: this.vips,
      garp: this.garp,
      notify: this.opts.notify ?? SPAWN_NOTIFY,
      log: log.info,
      detail: log.detail,
      wallNow: () => new Date(),
    });
    const sock = this.ensureSocket(cfg.interface);
    if (cfg.unicastPeers.length === 0) sock.join(this.config.global.mcastGroup);
    log.info(
      `(${cfg.name}) VRRPv${cfg.version} vrid ${cfg.vrid} on ${cfg.interface} from ${src}, priority ${cfg.priority}, advert_int ${cfg.advertIntervalCs / 100} s, ${cfg.unicastPeers.length > 0 ? `unicast to ${cfg.unicastPeers.join(',')}` : `multicast ${this.config.global.mcastGroup}`}`,
    );
    return inst;
  }

  private ensureSocket(ifname: string): VrrpSocket {
    const have = this.sockets.get(ifname);
    if (have !== undefined) return have;
    const { log } = this.opts;
    try {
      const sock = new VrrpSocket(
        ifname,
        (pkt) => this.onPacket(ifname, pkt),
        (e) => {
          // A master sends up to 100 adverts/s: log the first errors, then every 100th.
          const n = ++this.socketErrors;
          const msg = `${ifname}: socket error: ${e.message} (count ${n})`;
          if (n <= 3 || n % 100 === 0) log.info(msg);
          else log.detail(msg);
        },
      );
      this.sockets.set(ifname, sock);
      return sock;
    } catch (e) {
      throw new DaemonError('SOCKET', `${ifname}: cannot open raw socket for protocol 112: ${(e as Error).message}`);
    }
  }

  /** Make the script and link trackers match the current config: keep unchanged ones, start new ones. */
  private async syncTrackers(): Promise<void> {
    const { log } = this.opts;
    const wantScripts = new Set(this.config.instances.flatMap((c) => c.trackScripts.map((r) => r.name)));
    for (const [name, t] of this.scripts) {
      const next = this.config.scripts.get(name);
      if (!wantScripts.has(name) || next === undefined || !sameConfig(next, t.cfg)) {
        t.stop();
        this.scripts.delete(name);
      }
    }
    for (const name of wantScripts) {
      if (this.scripts.has(name)) continue;
      const t = new ScriptTracker(this.config.scripts.get(name)!, this.clock, () => this.reevaluate(), log.info);
      this.scripts.set(name, t);
      t.start();
    }
    const wantLinks = new Set(
      this.config.instances.flatMap((c) => [...(c.dontTrackPrimary ? [] : [c.interface]), ...c.trackInterfaces.map((t) => t.name)]),
    );
    for (const [name, l] of this.links) {
      if (!wantLinks.has(name)) {
        l.stop();
        this.links.delete(name);
      }
    }
    const fresh: InterfaceTracker[] = [];
    for (const name of wantLinks) {
      if (this.links.has(name)) continue;
      const l = new InterfaceTracker(name, this.clock, (t) => this.onLinkChange(t), log.info);
      this.links.set(name, l);
      fresh.push(l);
    }
    await Promise.all(fresh.map((l) => l.start()));
  }

  /**
   * SIGHUP: apply a new configuration. Instances whose configuration is unchanged keep running undisturbed;
   * removed or changed ones stop as on shutdown (a master hands over with a priority 0 advert) and changed or
   * new ones start from INIT. Trackers are kept when unchanged.
   */
  async reload(next: VrrpConfig): Promise<void> {
    if (this.stopping) return;
    const { log } = this.opts;
    const globalSame = sameConfig(next.global, this.config.global);
    const keep: VrrpInstance[] = [];
    const retire: VrrpInstance[] = [];
    for (const inst of this.instances) {
      const n = next.instances.find((c) => c.name === inst.cfg.name);
      if (globalSame && n !== undefined && sameConfig(n, inst.cfg)) keep.push(inst);
      else retire.push(inst);
    }
    const fresh = next.instances.filter((c) => !keep.some((k) => k.cfg.name === c.name));
    log.info(
      `Reloading: ${keep.length} instance(s) unchanged, ${retire.length} stopping, ${fresh.length} starting`,
    );
    for (const w of next.warnings) log.info(`config warning: ${w.file}:${w.line}: ${w.keyword}: ${w.message}`);
    await Promise.all(retire.map((i) => i.shutdown()));
    this.instances.splice(0, this.instances.length, ...keep);
    this.config = next;
    const started: VrrpInstance[] = [];
    for (const cfg of fresh) {
      try {
        const inst = await this.createInstance(cfg);
        this.instances.push(inst);
        started.push(inst);
      } catch (e) {
        log.info(`(${cfg.name}) not started: ${(e as Error).message}`);
      }
    }
    const used = new Set(this.instances.map((i) => i.cfg.interface));
    for (const [ifname, sock] of this.sockets) {
      if (!used.has(ifname)) {
        await sock.flush();
        sock.close();
        this.sockets.delete(ifname);
      }
    }
    await this.syncTrackers();
    this.reevaluate();
    for (const i of started) i.start();
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
    this.ipBatch.close();
    await this.status?.close();
  }
}
