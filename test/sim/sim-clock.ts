// Simulated time for a whole process: one timer heap that backs the injected Clock (peer links, the simulated
// network, Raft) AND, while installed, the global setTimeout / setInterval / setImmediate / Date.now /
// performance.now that the broker code calls directly (mirror checks, sync batches, the memory store's confirm
// batching, orphan timeouts). With every peer link on a MemoryNetwork and no AMQP listener there is no real I/O
// left, so after each timer fires, one real setImmediate turn runs every promise continuation and nextTick it
// caused, in an order that depends only on what ran before: the run is a function of the seed.
import { TimerHeap, type Clock, type TimerHandle } from '@warren/cluster-peer';

const real = {
  setTimeout: globalThis.setTimeout,
  clearTimeout: globalThis.clearTimeout,
  setInterval: globalThis.setInterval,
  clearInterval: globalThis.clearInterval,
  setImmediate: globalThis.setImmediate,
  clearImmediate: globalThis.clearImmediate,
  dateNow: Date.now,
};

/** Epoch the simulated Date.now starts at (a fixed date, so message timestamps are part of the replay). */
export const SIM_EPOCH_MS = Date.UTC(2026, 0, 1);
/** More timers than this at one instant is a loop that stops simulated time (a livelock in a real process). */
const STALL_TIMERS = 200_000;
/** Node's TIMEOUT_MAX: longer (or invalid) delays become 1 ms, as in Node. */
const TIMEOUT_MAX = 2 ** 31 - 1;

export class SimTimer {
  cancelled = false;
  constructor(
    public due: number,
    public seq: number,
    readonly callback: () => void,
    readonly interval: number | null,
    /** the node (process) whose code set the timer, or null for the harness's own */
    readonly owner: object | null,
  ) {}
  // the parts of Node's Timeout the code uses
  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }
  hasRef(): boolean {
    return true;
  }
  refresh(): this {
    throw new Error('SimTimer.refresh is not simulated (nothing in the broker uses it)');
  }
  [Symbol.toPrimitive](): number {
    return this.seq;
  }
}

/** One real event-loop turn: every microtask and nextTick queued so far (and those they queue) runs. */
function settle(): Promise<void> {
  return new Promise((resolve) => real.setImmediate(resolve));
}

export class SimClock implements Clock {
  private current = 0;
  private seq = 0;
  private readonly heap = new TimerHeap<SimTimer>();
  private installed = false;
  /** timers fired so far (a cheap progress and determinism signal) */
  fired = 0;
  /** errors thrown by timer callbacks: in a real process these would crash the node */
  readonly errors: Error[] = [];
  /**
   * Whose code runs now: the owner of the timer being fired (and of everything its callback and the promise
   * continuations and nextTicks it caused do, since they all run in the settle turn after it), or what `as` set.
   * A timer set meanwhile gets this owner. The network sets it to the receiving host's node before a delivery.
   */
  owner: object | null = null;
  /** timers fired in a row at the same instant (a loop of immediates or zero-delay timers stalls simulated time) */
  private sameInstant = 0;
  /** Owners whose timers do not fire (a process stopped with SIGSTOP): their due timers wait here. */
  private readonly frozen = new Map<object, SimTimer[]>();

  now(): number {
    return this.current;
  }

  setTimeout(callback: () => void, delayMs: number): TimerHandle {
    return this.add(callback, Math.max(0, delayMs), null);
  }

  clearTimeout(handle: TimerHandle): void {
    if (handle instanceof SimTimer) handle.cancelled = true;
  }

  /** The timers still to fire (cancelled ones excluded). */
  get pending(): number {
    let n = 0;
    for (const t of this.heap.items) if (!t.cancelled) n++;
    return n;
  }

  add(callback: () => void, delayMs: number, interval: number | null): SimTimer {
    const t = new SimTimer(this.current + delayMs, this.seq++, callback, interval, this.owner);
    this.heap.push(t);
    return t;
  }

  /** Runs fn as `owner`'s code: the timers it sets (directly or through promises it settles) are owner's. */
  as<T>(owner: object | null, fn: () => T): T {
    const prev = this.owner;
    this.owner = owner;
    try {
      return fn();
    } finally {
      this.owner = prev;
    }
  }

  /** SIGSTOP: owner's timers stop firing; those that fall due wait until thaw (or are dropped by forget). */
  freeze(owner: object): void {
    if (!this.frozen.has(owner)) this.frozen.set(owner, []);
  }

  isFrozen(owner: object | null): boolean {
    return owner !== null && this.frozen.has(owner);
  }

  /** SIGCONT: every timer that fell due meanwhile fires now, in the order it fell due (as Node runs late timers). */
  thaw(owner: object): void {
    const waiting = this.frozen.get(owner);
    if (waiting === undefined) return;
    this.frozen.delete(owner);
    for (const t of waiting) {
      if (t.cancelled) continue;
      t.due = this.current;
      t.seq = this.seq++;
      this.heap.push(t);
    }
  }

  /** The owner is gone (killed while stopped): its waiting timers never fire. */
  forget(owner: object): void {
    const waiting = this.frozen.get(owner);
    if (waiting === undefined) return;
    this.frozen.delete(owner);
    for (const t of waiting) t.cancelled = true;
  }

  /** Replaces the global timers and clocks with this one (until uninstall). */
  install(): void {
    if (this.installed) return;
    this.installed = true;
    const g = globalThis as unknown as Record<string, unknown>;
    const delay = (ms: unknown): number => {
      const n = Number(ms);
      return n >= 1 && n <= TIMEOUT_MAX ? n : 1;
    };
    // (the wrapper keeps what it calls, for the report of a stall)
    const call = (cb: (...a: unknown[]) => void, args: unknown[]): (() => void) => Object.assign(() => cb(...args), { inner: cb });
    g['setTimeout'] = (cb: (...a: unknown[]) => void, ms?: number, ...args: unknown[]) => this.add(call(cb, args), delay(ms), null);
    g['setInterval'] = (cb: (...a: unknown[]) => void, ms?: number, ...args: unknown[]) => this.add(call(cb, args), delay(ms), delay(ms));
    g['setImmediate'] = (cb: (...a: unknown[]) => void, ...args: unknown[]) => this.add(call(cb, args), 0, null);
    const clear = (realClear: (h: never) => void) => (h: unknown) => {
      if (h instanceof SimTimer) h.cancelled = true;
      else if (h !== undefined && h !== null) realClear(h as never);
    };
    g['clearTimeout'] = clear(real.clearTimeout as never);
    g['clearInterval'] = clear(real.clearInterval as never);
    g['clearImmediate'] = clear(real.clearImmediate as never);
    Date.now = () => SIM_EPOCH_MS + Math.floor(this.current);
    Object.defineProperty(performance, 'now', { value: () => this.current, configurable: true, writable: true });
  }

  uninstall(): void {
    if (!this.installed) return;
    this.installed = false;
    Object.assign(globalThis, {
      setTimeout: real.setTimeout,
      clearTimeout: real.clearTimeout,
      setInterval: real.setInterval,
      clearInterval: real.clearInterval,
      setImmediate: real.setImmediate,
      clearImmediate: real.clearImmediate,
    });
    Date.now = real.dateNow;
    delete (performance as unknown as Record<string, unknown>)['now'];
  }

  /** Moves time forward by ms, firing due timers in (due, creation) order and settling after each. */
  async run(ms: number): Promise<void> {
    const target = this.current + ms;
    await settle();
    for (;;) {
      const top = this.heap.peek();
      if (top === undefined || top.due > target) break;
      this.fire();
      await settle();
      this.owner = null;
    }
    this.current = Math.max(this.current, target);
  }

  /** Runs until predicate() holds (checked after every timer) or limitMs pass; returns whether it held. */
  async runUntil(predicate: () => boolean, limitMs: number): Promise<boolean> {
    const deadline = this.current + limitMs;
    await settle();
    for (;;) {
      if (predicate()) return true;
      const top = this.heap.peek();
      if (top === undefined || top.due > deadline) {
        this.current = Math.max(this.current, deadline);
        return predicate();
      }
      this.fire();
      await settle();
      this.owner = null;
    }
  }

  private fire(): void {
    const t = this.heap.pop();
    if (t.due > this.current) this.sameInstant = 0;
    else if (++this.sameInstant > STALL_TIMERS) {
      this.sameInstant = 0;
      throw new Error(`simulated time stalled at ${this.current} ms: ${STALL_TIMERS} timers fired at the same instant; the last: ${String((t.callback as { inner?: unknown }).inner ?? t.callback).slice(0, 400)}`);
    }
    this.current = t.due;
    if (t.owner !== null) {
      const waiting = this.frozen.get(t.owner);
      if (waiting !== undefined) {
        waiting.push(t);
        return;
      }
    }
    this.owner = t.owner;
    this.fired++;
    if (t.interval !== null) {
      t.due = this.current + t.interval;
      t.seq = this.seq++;
      this.heap.push(t);
    } else t.cancelled = true;
    try {
      t.callback();
    } catch (err) {
      this.errors.push(err as Error);
    }
  }
}
