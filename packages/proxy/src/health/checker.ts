/**
 * Runs one server's health checks on a schedule and feeds results into its HealthCounter.
 * The probe and the clock are injected: tests drive it with a ManualClock and a scripted probe.
 */
import type { Clock } from '../clock.ts';
import type { Server } from '../server.ts';
import type { CheckResult } from './check-result.ts';
import type { Transition } from './health-counter.ts';

export type Probe = () => Promise<CheckResult>;

export interface CheckerEvents {
  /** The server crossed the rise/fall threshold. */
  onTransition(server: Server, to: Exclude<Transition, null>, result: CheckResult): void;
}

export class Checker {
  private timer: unknown = null;
  private stopped = false;
  private running = false;

  constructor(
    private readonly server: Server,
    private readonly probe: Probe,
    private readonly clock: Clock,
    private readonly events: CheckerEvents,
  ) {}

  /** haproxy spreads the first checks over one interval so a restart does not hit every server at once. */
  start(firstDelayMs: number): void {
    this.schedule(firstDelayMs);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
  }

  /** Runs a check now (used after `enable health` and by tests). */
  async runOnce(): Promise<void> {
    if (this.running || this.stopped) return;
    this.running = true;
    let result: CheckResult;
    try {
      result = await this.probe();
    } catch (e) {
      result = { status: 'UNK', ok: false, info: String(e), code: null, durationMs: 0 };
    }
    this.running = false;
    if (this.stopped) return;
    this.apply(result);
  }

  apply(result: CheckResult): void {
    const s = this.server;
    s.lastCheck = result;
    // haproxy (set_server_check_status): a failed check counts in chkfail only while health > 0, so a server that
    // is already DOWN does not keep adding failures.
    if (!result.ok && s.health.health > 0) s.chkfail++;
    const transition = result.ok ? s.health.success() : s.health.failure();
    if (transition) {
      if (transition === 'down') s.chkdown++;
      s.noteStateChange(this.clock.now());
      this.events.onTransition(s, transition, result);
    }
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = this.clock.setTimeout(() => {
      this.timer = null;
      void this.runOnce().then(() => {
        const c = this.server.config;
        this.schedule(this.server.health.interval(c.inter, c.fastinter, c.downinter));
      });
    }, delayMs);
  }
}
