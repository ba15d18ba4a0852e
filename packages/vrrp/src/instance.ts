// One vrrp_instance at run time: feeds packets, timers, track results and shutdown into the pure machine
// (machine.ts) and carries out its actions (adverts, VIPs, GARPs, notify scripts). All I/O goes through the
// injected ports so tests can run it with fakes.

import type { GarpOps } from './arp.ts';
import type { NotifyKey } from './config-check.ts';
import type { InstanceConfig, VrrpConfig } from './config.ts';
import {
  initialState,
  masterDownIntervalCs,
  nextDeadline,
  step,
  type MachineAction,
  type MachineEvent,
  type MachineParams,
  type MachineState,
  type VrrpState,
} from './machine.ts';
import { notifyCommands, type NotifyOps } from './notify.ts';
import {
  checkPacket,
  encodeAdvert,
  encodeIpv4,
  addressListProblem,
  PacketCheck,
  VRRP_AUTH_NONE,
  type ReceiverExpectations,
} from './packet.ts';
import { DeadlineTimer, type Clock } from './scheduler.ts';
import type { Transport } from './socket.ts';
import type { VipOps } from './vip.ts';

export interface InstancePorts {
  clock: Clock;
  transport: Transport;
  vips: VipOps;
  garp: GarpOps;
  notify: NotifyOps;
  log: (msg: string) => void;
  /** Verbose log (each invalid packet); -D. */
  detail: (msg: string) => void;
  /** Wall clock for status (ISO strings). */
  wallNow: () => Date;
  /** Notify settings disabled at start (missing or unsafe program, config-check.ts). */
  disabledNotify?: ReadonlySet<NotifyKey>;
}

export interface Transition {
  from: VrrpState;
  to: VrrpState;
  reason: string;
  at: string;
  /** Milliseconds spent in `from`. */
  afterMs: number;
}

export interface InstanceCounters {
  advertsSent: number;
  advertsReceived: number;
  priorityZeroSent: number;
  priorityZeroReceived: number;
  becameMaster: number;
  releasedMaster: number;
  invalid: Partial<Record<PacketCheck, number>>;
  vipErrors: number;
  garpBursts: number;
}

export class VrrpInstance {
  readonly params: MachineParams;
  state: MachineState;
  readonly counters: InstanceCounters = {
    advertsSent: 0,
    advertsReceived: 0,
    priorityZeroSent: 0,
    priorityZeroReceived: 0,
    becameMaster: 0,
    releasedMaster: 0,
    invalid: {},
    vipErrors: 0,
    garpBursts: 0,
  };
  lastTransition: Transition | undefined;
  private enteredAt: number;
  private readonly timer: DeadlineTimer;
  private ipId = 0;
  /**
   * VIP and GARP commands are issued at once, in order, to the helper shell, which runs them one after the other
   * (so add/del cannot be reordered and no round trip is spent between "add" and "garp"); ioChain tracks their
   * completion so notify scripts start after the VIPs are set and shutdown waits for the removal.
   */
  private ioChain: Promise<void> = Promise.resolve();
  private garpTimers: ((() => void) | undefined)[] = [];
  private pendingNotify: string[][] = [];
  private readonly exp: ReceiverExpectations;
  private readonly advertisedAddresses: string[];

  constructor(
    readonly cfg: InstanceConfig,
    private readonly global: VrrpConfig['global'],
    readonly sourceIp: string,
    private readonly ports: InstancePorts,
  ) {
    this.params = {
      version: cfg.version,
      advertIntervalCs: cfg.advertIntervalCs,
      preempt: cfg.preempt,
      preemptDelayMs: cfg.preemptDelayMs,
      primaryIp: sourceIp,
      lowerPrioAdvert: cfg.lowerPrioAdvert,
    };
    this.state = initialState(this.params, cfg.priority);
    this.advertisedAddresses = cfg.vips.map((v) => v.address);
    this.enteredAt = ports.clock.now();
    this.timer = new DeadlineTimer(ports.clock, () => this.dispatch({ type: 'TIMER', now: this.ports.clock.now() }));
    this.exp = {
      version: cfg.version,
      vrid: cfg.vrid,
      unicast: cfg.unicastPeers.length > 0,
      authType: cfg.version === 2 ? cfg.authType : VRRP_AUTH_NONE,
      authPass: cfg.authPass,
      intervalCs: cfg.advertIntervalCs,
      v3ChecksumAsV2: cfg.v3ChecksumAsV2,
      ownAddresses: [sourceIp],
    };
  }

  private tag(): string {
    return `(${this.cfg.name})`;
  }

  /** True once start() has run (the daemon holds an instance back while a weight-0 script has no result yet). */
  started = false;

  start(): void {
    if (this.started) return;
    this.started = true;
    this.dispatch({ type: 'START', now: this.ports.clock.now() });
  }

  /** A packet for our VRID arrived on our interface (a whole IPv4 packet). */
  onPacket(pkt: Buffer): void {
    const c = checkPacket(pkt, this.exp);
    if (c.check === PacketCheck.OWN_PACKET || c.check === PacketCheck.OTHER_VRID) return;
    if (c.check !== PacketCheck.OK || c.advert === undefined || c.ip === undefined) {
      this.dropped(c.check, `${this.tag()} dropped invalid advert from ${c.ip?.src ?? '?'}: ${c.check}`);
      return;
    }
    if (this.cfg.unicastPeers.length > 0 && this.global.checkUnicastSrc && !this.cfg.unicastPeers.includes(c.ip.src)) {
      this.counters.invalid[PacketCheck.NOT_VRRP] = (this.counters.invalid[PacketCheck.NOT_VRRP] ?? 0) + 1;
      this.ports.detail(`${this.tag()} advert from ${c.ip.src}, not a unicast_peer: ignored`);
      return;
    }
    // keepalived (vrrp_state_backup): with skip_check_adv_addr a backup checks the address list only of adverts
    // from another router than the master it follows; everything else is always checked.
    const skip = this.cfg.skipCheckAdvAddr && this.state.state === 'BACKUP' && this.state.masterIp === c.ip.src;
    const problem = skip ? undefined : addressListProblem(this.cfg.name, this.cfg.vrid, c.advert.addresses, this.advertisedAddresses);
    if (problem !== undefined) {
      this.dropped(PacketCheck.ADDRESS_LIST, `${problem} (from ${c.ip.src}, priority ${c.advert.priority}; dropped)`);
      return;
    }
    this.counters.advertsReceived++;
    if (c.advert.priority === 0) this.counters.priorityZeroReceived++;
    this.dispatch({
      type: 'ADVERT',
      now: this.ports.clock.now(),
      src: c.ip.src,
      priority: c.advert.priority,
      intervalCs: c.advert.intervalCs,
    });
  }

  /** Count a dropped packet by kind; log the first few of each kind, then every 100th (all with -D). */
  private dropped(kind: PacketCheck, msg: string): void {
    const n = (this.counters.invalid[kind] ?? 0) + 1;
    this.counters.invalid[kind] = n;
    const line = `${msg} (count ${n})`;
    if (n <= 3 || n % 100 === 0) this.ports.log(line);
    else this.ports.detail(line);
  }

  setPriority(priority: number): void {
    if (priority === this.state.priority) return;
    this.ports.log(`${this.tag()} Changing effective priority from ${this.state.priority} to ${priority}`);
    this.dispatch({ type: 'PRIORITY', now: this.ports.clock.now(), priority });
  }

  setFaults(faults: string[]): void {
    const cur = this.state.faults.join(',');
    if (faults.join(',') === cur && (faults.length > 0) === (this.state.state === 'FAULT')) return;
    this.dispatch({ type: 'FAULT', now: this.ports.clock.now(), faults });
  }

  /** Graceful stop: priority 0 advert if master, VIPs removed; resolves when the VIP work is done. */
  async shutdown(): Promise<void> {
    this.dispatch({ type: 'SHUTDOWN', now: this.ports.clock.now() });
    this.timer.arm(undefined);
    this.cancelGarps();
    await this.ioChain;
  }

  dispatch(e: MachineEvent): void {
    const r = step(this.params, this.state, e);
    this.state = r.state;
    for (const a of r.actions) this.perform(a, e.now);
    if (this.pendingNotify.length > 0) {
      // After the VIP work queued by the same step: notify_master runs once the VIPs are set, as in keepalived.
      this.runNotify(this.pendingNotify);
      this.pendingNotify = [];
    }
    this.timer.arm(nextDeadline(this.state));
  }

  private perform(a: MachineAction, now: number): void {
    switch (a.type) {
      case 'TRANSITION':
        this.onTransition(a, now);
        return;
      case 'SEND_ADVERT':
        this.sendAdvert(a.priority);
        return;
      case 'ADD_VIPS':
        this.issue(async () => {
          const errs = await this.ports.vips.add([...this.cfg.vips, ...this.cfg.vipsExcluded], this.cfg.interface);
          this.vipErrors('setting', errs);
        });
        return;
      case 'REMOVE_VIPS':
        this.cancelGarps();
        this.issue(async () => {
          const errs = await this.ports.vips.remove([...this.cfg.vips, ...this.cfg.vipsExcluded], this.cfg.interface);
          this.vipErrors('removing', errs);
        });
        return;
      case 'SEND_GARP':
        this.garpBurst();
        this.scheduleGarps(now);
        return;
    }
  }

  private onTransition(a: Extract<MachineAction, { type: 'TRANSITION' }>, now: number): void {
    const afterMs = now - this.enteredAt;
    this.enteredAt = now;
    this.lastTransition = { from: a.from, to: a.to, reason: a.reason, at: this.ports.wallNow().toISOString(), afterMs };
    if (a.to === 'MASTER') this.counters.becameMaster++;
    if (a.from === 'MASTER') this.counters.releasedMaster++;
    const extra =
      a.to === 'BACKUP'
        ? `, Master_Down_Interval ${(masterDownIntervalCs(this.params.version, this.state.priority, this.state.masterAdverIntervalCs) / 100).toFixed(3)} s`
        : '';
    this.ports.log(
      `${this.tag()} Entering ${a.to} STATE from ${a.from} after ${Math.round(afterMs)} ms: ${a.reason} (priority ${this.state.priority}${extra})`,
    );
    // Notify after the VIP work queued by the same step, as keepalived runs notify_master once VIPs are set.
    this.pendingNotify.push(...notifyCommands(this.cfg, a.to, this.state.priority, this.ports.disabledNotify));
  }

  private runNotify(cmds: string[][]): void {
    this.queue(async () => {
      for (const argv of cmds) {
        this.ports.notify.run(argv, (code, err) => {
          if (err !== undefined || code !== 0) {
            this.ports.log(`${this.tag()} notify ${argv.join(' ')}: ${err?.message ?? `exit ${code}`}`);
          }
        });
      }
    });
  }

  private sendAdvert(priority: number): void {
    const cfg = this.cfg;
    const dsts = cfg.unicastPeers.length > 0 ? cfg.unicastPeers : [this.global.mcastGroup];
    for (const dst of dsts) {
      const msg = encodeAdvert(
        {
          version: cfg.version,
          vrid: cfg.vrid,
          priority,
          intervalCs: cfg.advertIntervalCs,
          addresses: this.advertisedAddresses,
          authType: cfg.version === 2 ? cfg.authType : VRRP_AUTH_NONE,
          authData: cfg.authPass,
        },
        { src: this.sourceIp, dst, v3ChecksumAsV2: cfg.v3ChecksumAsV2 },
      );
      this.ipId = (this.ipId + 1) & 0xffff;
      const ttl = cfg.unicastPeers.length > 0 ? cfg.unicastTtl : 255;
      this.ports.transport.send(encodeIpv4(msg, this.sourceIp, dst, this.ipId, ttl), dst);
      this.counters.advertsSent++;
      if (priority === 0) this.counters.priorityZeroSent++;
    }
  }

  /** Run `work` after everything issued or queued before it has completed (notify scripts). */
  private queue(work: () => Promise<void>): void {
    this.ioChain = this.ioChain.then(work).catch((e: unknown) => this.ports.log(`${this.tag()} ${(e as Error).message}`));
  }

  /** Start `work` now (its commands go to the helper in call order); its completion joins ioChain. */
  private issue(work: () => Promise<void>): void {
    const done = work().catch((e: unknown) => this.ports.log(`${this.tag()} ${(e as Error).message}`));
    this.ioChain = this.ioChain.then(() => done);
  }

  private vipErrors(what: string, errs: string[]): void {
    this.ports.log(`${this.tag()} ${what} VIPs${errs.length > 0 ? ` with errors: ${errs.join('; ')}` : ''}`);
    this.counters.vipErrors += errs.length;
  }

  private garpBurst(count = this.cfg.garp.repeat): void {
    if (this.state.state !== 'MASTER') return;
    this.issue(async () => {
      this.counters.garpBursts++;
      await this.ports.garp.send(
        this.cfg.vips,
        this.cfg.interface,
        count,
        (msg) => this.ports.log(`${this.tag()} gratuitous ARP error: ${msg}`),
        () => this.state.state === 'MASTER',
      );
      this.ports.detail(`${this.tag()} sent ${count} gratuitous ARPs for each of ${this.cfg.vips.length} VIPs`);
    });
  }

  // keepalived: a second burst garp_master_delay after becoming master, then garp_master_refresh_repeat GARPs
  // every garp_master_refresh. Two timer slots, replaced (not accumulated) as they re-arm.
  private scheduleGarps(now: number): void {
    this.cancelGarps();
    const clock = this.ports.clock;
    const g = this.cfg.garp;
    if (g.delayMs > 0) this.garpTimers[0] = clock.setTimer(now + g.delayMs, () => this.garpBurst());
    if (g.refreshMs > 0) {
      const refresh = (at: number): void => {
        this.garpTimers[1] = clock.setTimer(at, () => {
          if (this.state.state !== 'MASTER') return;
          this.garpBurst(g.refreshRepeat);
          refresh(at + g.refreshMs);
        });
      };
      refresh(now + g.refreshMs);
    }
  }

  private cancelGarps(): void {
    for (const c of this.garpTimers) c?.();
    this.garpTimers = [];
  }

  status(): Record<string, unknown> {
    const s = this.state;
    return {
      name: this.cfg.name,
      interface: this.cfg.interface,
      vrid: this.cfg.vrid,
      version: this.cfg.version,
      mode: this.cfg.unicastPeers.length > 0 ? 'unicast' : 'multicast',
      state: s.state,
      priority: s.priority,
      basePriority: this.cfg.priority,
      sourceIp: this.sourceIp,
      advertIntervalCs: this.cfg.advertIntervalCs,
      masterAdverIntervalCs: s.masterAdverIntervalCs,
      master: s.state === 'MASTER' ? { ip: this.sourceIp, priority: s.priority } : s.masterIp !== undefined ? { ip: s.masterIp, priority: s.masterPriority ?? null } : null,
      masterDownIntervalMs: masterDownIntervalCs(this.params.version, s.priority, s.masterAdverIntervalCs) * 10,
      faults: s.faults,
      vips: this.cfg.vips.map((v) => `${v.address}/${v.prefix}`),
      lastTransition: this.lastTransition ?? null,
      counters: this.counters,
    };
  }
}
