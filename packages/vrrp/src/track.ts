// Track scripts and tracked interfaces.
//
// Health is a rise/fall hysteresis (keepalived vrrp_script, HAProxy checks): a good script turns bad after `fall`
// consecutive failures, a bad one turns good after `rise` consecutive successes. The counter is pure
// (`trackStep`); ScriptTracker runs the script every `interval` and InterfaceTracker polls link state.
// How a result moves the instance (keepalived): weight 0 and bad -> FAULT; weight > 0 adds the weight while
// good; weight < 0 adds it while bad (`reverse` flips the sign of the adjustment).

import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { TrackScriptConfig } from './config.ts';
import { run, splitCommand } from './exec.ts';
import type { Clock } from './scheduler.ts';

export interface TrackHealth {
  /**
   * undefined until the script's first result (keepalived SCRIPT_INIT_STATE_INIT): it then counts neither as good
   * nor as failed, and the first result alone decides (keepalived starts the counter at rise - 1).
   */
  good: boolean | undefined;
  /** Consecutive results against the current verdict. */
  streak: number;
}

export function trackStep(h: TrackHealth, ok: boolean, rise: number, fall: number): TrackHealth {
  if (h.good === undefined) return { good: ok, streak: 0 };
  if (ok === h.good) return { good: h.good, streak: 0 };
  const streak = h.streak + 1;
  if (streak >= (h.good ? fall : rise)) return { good: ok, streak: 0 };
  return { good: h.good, streak };
}

/**
 * Priority contribution and fault of one tracked object (keepalived semantics). Before its first result
 * (`good` undefined) a script adds nothing whatever its weight (keepalived vrrp_track.c,
 * initialise_track_script_state: priority 200, not 202, at start and in the first notify), and a weight-0 one
 * holds the instance back until it has a result (`pending`: keepalived's num_script_init).
 */
export function trackEffect(good: boolean | undefined, weight: number, reverse = false): { delta: number; fault: boolean; pending?: true } {
  if (good === undefined) return weight === 0 ? { delta: 0, fault: false, pending: true } : { delta: 0, fault: false };
  if (weight === 0) return { delta: 0, fault: !good };
  // keepalived: a positive weight applies while the script succeeds, a negative one while it fails; `reverse`
  // keeps when it applies and flips the direction.
  const applies = weight > 0 ? good : !good;
  return { delta: applies ? (reverse ? -weight : weight) : 0, fault: false };
}

/** keepalived: effective priority is base + weights, kept within 1..254; the owner (255) is not adjusted. */
export function effectivePriority(base: number, deltas: readonly number[]): number {
  if (base === 255) return 255;
  const p = deltas.reduce((a, b) => a + b, base);
  return Math.min(254, Math.max(1, p));
}

export interface TrackedStatus {
  name: string;
  /** null before the first result. */
  good: boolean | null;
  lastResult?: string;
  runs: number;
  failures: number;
}

export class ScriptTracker {
  health: TrackHealth;
  runs = 0;
  failures = 0;
  lastResult?: string;
  private timer: (() => void) | undefined;
  private stopped = false;

  constructor(
    readonly cfg: TrackScriptConfig,
    private readonly clock: Clock,
    private readonly onChange: (t: ScriptTracker) => void,
    private readonly log: (msg: string) => void,
  ) {
    // init_fail: failed until proven good (keepalived SCRIPT_INIT_STATE_FAILED); otherwise unknown until it has run.
    this.health = { good: cfg.initFail ? false : undefined, streak: 0 };
  }

  start(): void {
    void this.tick();
  }

  stop(): void {
    this.stopped = true;
    this.timer?.();
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    const started = this.clock.now();
    const argv = splitCommand(this.cfg.script);
    const r = await run(argv[0] ?? '/bin/false', argv.slice(1), this.cfg.timeoutMs);
    if (this.stopped) return;
    this.runs++;
    const ok = r.code === 0;
    if (!ok) this.failures++;
    this.lastResult = ok ? 'ok' : r.timedOut ? 'timeout' : r.signal !== null ? `signal ${r.signal}` : `exit ${r.code}`;
    const before = this.health.good;
    this.health = trackStep(this.health, ok, this.cfg.rise, this.cfg.fall);
    if (this.health.good !== before) {
      this.log(`VRRP_Script(${this.cfg.name}) ${this.health.good ? 'succeeded' : 'failed'} (${this.lastResult})`);
      this.onChange(this);
    }
    const wait = Math.max(0, this.cfg.intervalMs - (this.clock.now() - started));
    this.timer = this.clock.setTimer(this.clock.now() + wait, () => void this.tick());
  }

  status(): TrackedStatus {
    const s: TrackedStatus = { name: this.cfg.name, good: this.health.good ?? null, runs: this.runs, failures: this.failures };
    if (this.lastResult !== undefined) s.lastResult = this.lastResult;
    return s;
  }
}

export const LINK_POLL_MS = 100;

/** Link state from sysfs: up when operstate is up/unknown and carrier is 1. */
export async function linkUp(ifname: string): Promise<boolean> {
  try {
    const [oper, carrier] = await Promise.all([
      readFile(`/sys/class/net/${ifname}/operstate`, 'utf8'),
      readFile(`/sys/class/net/${ifname}/carrier`, 'utf8').catch(() => '0'),
    ]);
    const o = oper.trim();
    return (o === 'up' || o === 'unknown') && carrier.trim() === '1';
  } catch {
    return false;
  }
}

/** linkUp, read synchronously (two small sysfs files), for the state at start. */
export function linkUpSync(ifname: string): boolean {
  try {
    const o = readFileSync(`/sys/class/net/${ifname}/operstate`, 'utf8').trim();
    let carrier = '0';
    try {
      carrier = readFileSync(`/sys/class/net/${ifname}/carrier`, 'utf8').trim();
    } catch {
      // no carrier file while down
    }
    return (o === 'up' || o === 'unknown') && carrier === '1';
  } catch {
    return false;
  }
}

export class InterfaceTracker {
  good = true;
  private timer: (() => void) | undefined;
  private stopped = false;

  constructor(
    readonly ifname: string,
    private readonly clock: Clock,
    private readonly onChange: (t: InterfaceTracker) => void,
    private readonly log: (msg: string) => void,
  ) {}

  start(): void {
    this.good = linkUpSync(this.ifname);
    this.poll();
  }

  stop(): void {
    this.stopped = true;
    this.timer?.();
  }

  private poll(): void {
    if (this.stopped) return;
    this.timer = this.clock.setTimer(this.clock.now() + LINK_POLL_MS, () => {
      void linkUp(this.ifname).then((up) => {
        if (this.stopped) return;
        if (up !== this.good) {
          this.good = up;
          this.log(`Netlink reports ${this.ifname} ${up ? 'up' : 'down'}`);
          this.onChange(this);
        }
        this.poll();
      });
    });
  }
}
