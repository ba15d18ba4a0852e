// The vrrpd process: wires config, sockets, trackers, instances and the status server together.

import { checkArping, helperGarp, packetGarp, type GarpOps } from './arp.ts';
import { GarpHelper } from './garp-helper.ts';
import { ShellHelper } from './helper.ts';
import { IpBatch } from './ip-batch.ts';
import { checkConfig, formatCheckLine, type CheckReport } from './config-check.ts';
import type { InstanceConfig, VrrpConfig } from './config.ts';
import { VrrpInstance } from './instance.ts';
import type { Logger } from './log.ts';
import { SPAWN_NOTIFY, type NotifyOps } from './notify.ts';
import { decodeIpv4, VRRP_HEADER_LEN } from './packet.ts';
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
  /** IP protocol 112 packets too short for a VRRP header (keepalived: "IPv4 VRRP packet too short"). */
  tooShort = 0;
  socketErrors = 0;
  private stopping = false;
  private readonly helper = new ShellHelper();
  private readonly ipBatch = new IpBatch();
  private readonly garpHelper: GarpHelper;
  /** keepalived's start-up checks of the current configuration: disabled scripts and notify settings. */
  private check: CheckReport | undefined;

  private constructor(
    public config: VrrpConfig,
    private readonly opts: DaemonOptions,
  ) {
    this.clock = opts.clock ?? REAL_CLOCK;
    this.garpHelper = new GarpHelper((why) => {
      if (!this.stopping) opts.log.info(`gratuitous ARPs through arping: the AF_PACKET helper is unavailable (${why})`);
    });
    this.vips = opts.vips ?? helperVips(this.helper, this.ipBatch);
    this.garp = opts.garp ?? packetGarp(this.garpHelper, helperGarp(this.helper));
  }

  static async start(config: VrrpConfig, opts: DaemonOptions): Promise<Daemon> {
    const d = new Daemon(config, opts);
    await d.init();
    return d;
  }

  private async init(): Promise<void> {
    const { log } = this.opts;
    for (const w of this.config.warnings) log.info(`config warning: ${w.file}:${w.line}: ${w.keyword}: ${w.message}`);
    this.runChecks();
    const leftovers: (() => void)[] = [];
    for (const cfg of this.config.instances) this.instances.push(await this.createInstance(cfg, leftovers));
    const scripts = this.syncTrackers();
    // Instances start (INIT -> BACKUP) as soon as nothing holds them. Everything below is off that path: each
    // process start is a fork of this process that blocks its thread until the exec (100+ ms each on a busy
    // machine), and none of it is needed before the first takeover, at least a Master_Down_Interval away
    // (an address owner's takeover starts its helpers on demand).
    this.reevaluate();
    for (const t of scripts) t.start();
    this.helper.warm();
    this.ipBatch.warm();
    if (this.opts.garp === undefined) {
      this.garpHelper.warm();
      // Only matters if the GARP helper cannot run.
      void checkArping(this.helper).then((missing) => {
        if (missing !== undefined && !this.garpHelper.available) log.info(missing);
      });
    }
    for (const f of leftovers) f();

    if (this.opts.statusSocket !== undefined || this.opts.statusPort !== undefined) {
      this.status = new StatusServer(() => this.statusJson());
      const where: { socket?: string; port?: number } = {};
      if (this.opts.statusSocket !== undefined) where.socket = this.opts.statusSocket;
      if (this.opts.statusPort !== undefined) where.port = this.opts.statusPort;
      this.statusAddress = await this.status.listen(where);
      log.info(`status on ${this.statusAddress}`);
    }
  }

  /** keepalived's start-up checks (config-check.ts), logged once; missing or unsafe scripts are left out. */
  private runChecks(): void {
    this.check = checkConfig(this.config);
    for (const l of this.check.lines) this.opts.log.info(formatCheckLine(l));
  }

  /**
   * `leftovers` collects the removal of VIPs a crashed predecessor may have left (run by the caller once the
   * instances are started: the helpers run commands in order, so it precedes any later add of the same VIPs).
   */
  private async createInstance(cfg: InstanceConfig, leftovers: (() => void)[]): Promise<VrrpInstance> {
    const { log } = this.opts;
    const allVips = [...cfg.vips, ...cfg.vipsExcluded];
    const src = cfg.unicastSrcIp ?? cfg.mcastSrcIp ?? (await primaryAddress(cfg.interface, allVips.map((v) => v.address)));
    if (src === undefined) {
      throw new DaemonError('NO_ADDRESS', `(${cfg.name}) interface ${cfg.interface} has no IPv4 address to send adverts from`);
    }
    // A restarted vrrpd (after kill -9) must not keep answering for VIPs it no longer owns.
    if (cfg.priority !== 255) {
      leftovers.push(() =>
        void this.vips.remove(allVips, cfg.interface).then((errs) => {
          for (const e of errs) log.info(`(${cfg.name}) removing leftover VIPs: ${e}`);
        }),
      );
    }
    const inst = new VrrpInstance(cfg, this.config.global, src, {
      clock: this.clock,
      transport: { send: (pkt, dst) => this.sockets.get(cfg.interface)?.send(pkt, dst) },
      vips: this.vips,
      garp: this.garp,
      notify: this.opts.notify ?? SPAWN_NOTIFY,
      log: log.info,
      detail: log.detail,
      wallNow: () => new Date(),
      disabledNotify: this.check?.disabledNotify.get(cfg.name) ?? new Set(),
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

  /** A track_script reference that counts: its script was not disabled at start (config-check.ts). */
  private tracked(cfg: InstanceConfig): InstanceConfig['trackScripts'] {
    return cfg.trackScripts.filter((r) => this.check?.disabledScripts.has(r.name) !== true);
  }

  /**
   * Make the script and link trackers match the current config: keep unchanged ones, start new link trackers.
   * Returns the new script trackers, for the caller to start.
   */
  private syncTrackers(): ScriptTracker[] {
    const { log } = this.opts;
    const wantScripts = new Set(this.config.instances.flatMap((c) => this.tracked(c).map((r) => r.name)));
    const fresh: ScriptTracker[] = [];
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
      fresh.push(t);
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
    for (const name of wantLinks) {
      if (this.links.has(name)) continue;
      const l = new InterfaceTracker(name, this.clock, (t) => this.onLinkChange(t), log.info);
      this.links.set(name, l);
      l.start();
    }
    return fresh;
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
    this.runChecks();
    const leftovers: (() => void)[] = [];
    for (const cfg of fresh) {
      try {
        this.instances.push(await this.createInstance(cfg, leftovers));
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
    for (const f of leftovers) f();
    const scripts = this.syncTrackers();
    this.reevaluate();
    for (const t of scripts) t.start();
  }

  private onPacket(ifname: string, pkt: Buffer): void {
    const ip = decodeIpv4(pkt);
    if (ip === undefined || pkt.length < ip.headerLength + VRRP_HEADER_LEN) {
      // keepalived (vrrp_get_header): too short to hold a VRRP header, an empty VRRP packet included. No VRID
      // to give it to, so it is counted for the daemon.
      const n = ++this.tooShort;
      const msg = `${ifname}: IPv4 VRRP packet too short - ${pkt.length} bytes${ip === undefined ? '' : ` from ${ip.src}`} (count ${n})`;
      if (n <= 3 || n % 100 === 0) this.opts.log.info(msg);
      else this.opts.log.detail(msg);
      return;
    }
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

  /**
   * Recompute each instance's effective priority and faults from the trackers, and start the instances nothing
   * holds back any more (keepalived: an instance tracking a weight-0 script waits for its first result).
   */
  private reevaluate(): void {
    if (this.stopping) return;
    for (const inst of this.instances) {
      const { priority, faults, pending } = this.trackState(inst.cfg);
      inst.setPriority(priority);
      inst.setFaults(faults);
      if (!pending) inst.start();
    }
  }

  private trackState(cfg: InstanceConfig): { priority: number; faults: string[]; pending: boolean } {
    const deltas: number[] = [];
    const faults: string[] = [];
    let pending = false;
    for (const r of this.tracked(cfg)) {
      const t = this.scripts.get(r.name)!;
      const e = trackEffect(t.health.good, r.weight ?? t.cfg.weight, t.cfg.weightReverse);
      deltas.push(e.delta);
      if (e.fault) faults.push(`track_script ${r.name}`);
      if (e.pending === true) pending = true;
    }
    const ifRefs = [...(cfg.dontTrackPrimary ? [] : [{ name: cfg.interface, weight: 0 }]), ...cfg.trackInterfaces];
    for (const r of ifRefs) {
      const e = trackEffect(this.links.get(r.name)!.good, r.weight ?? 0);
      deltas.push(e.delta);
      if (e.fault) faults.push(`interface ${r.name} down`);
    }
    return { priority: effectivePriority(cfg.priority, deltas), faults: [...new Set(faults)], pending };
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
      tooShort: this.tooShort,
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
    this.garpHelper.close();
    await this.status?.close();
  }
}
