// Clocks for the runtime. The machine never reads time: the runtime passes `clock.now()` into each event and
// arms one timer at the machine's next deadline. Tests substitute FakeClock and step it by hand.

export interface Clock {
  /** Monotonic milliseconds. */
  now(): number;
  /** Call `fn` at `at` (ms, same scale as now()); returns a cancel function. */
  setTimer(at: number, fn: () => void): () => void;
}

// process.hrtime rather than performance.now(): the global `performance` loads node:perf_hooks on first use, which
// took ~15 ms of start-up.
const monotonicMs = (): number => {
  const [s, ns] = process.hrtime();
  return s * 1e3 + ns / 1e6;
};

export const REAL_CLOCK: Clock = {
  now: monotonicMs,
  setTimer(at, fn) {
    const t = setTimeout(fn, Math.max(0, at - monotonicMs()));
    return () => clearTimeout(t);
  },
};

export class FakeClock implements Clock {
  private t = 0;
  private seq = 0;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();

  now(): number {
    return this.t;
  }

  setTimer(at: number, fn: () => void): () => void {
    const id = this.seq++;
    this.timers.set(id, { at, fn });
    return () => this.timers.delete(id);
  }

  /** Advance to `until`, running due timers in deadline order. */
  advance(until: number): void {
    for (;;) {
      let best: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.timers) if (e[1].at <= until && (best === undefined || e[1].at < best[1].at)) best = e;
      if (best === undefined) break;
      this.timers.delete(best[0]);
      this.t = Math.max(this.t, best[1].at);
      best[1].fn();
    }
    this.t = until;
  }
}

/** One re-armable timer: the runtime keeps exactly one pending deadline per instance. */
export class DeadlineTimer {
  private cancel: (() => void) | undefined;
  private at: number | undefined;

  constructor(
    private readonly clock: Clock,
    private readonly fire: () => void,
  ) {}

  arm(at: number | undefined): void {
    if (at === this.at) return;
    this.cancel?.();
    this.cancel = undefined;
    this.at = at;
    if (at !== undefined) {
      this.cancel = this.clock.setTimer(at, () => {
        this.cancel = undefined;
        this.at = undefined;
        this.fire();
      });
    }
  }
}
