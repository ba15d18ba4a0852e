import type { Clock, TimerHandle } from './clock.ts';
import { TimerHeap } from './timer-heap.ts';

class FakeTimer {
  cancelled = false;
  constructor(
    readonly due: number,
    readonly seq: number,
    readonly callback: () => void,
  ) {}
}

/**
 * A Clock whose time moves only when told to. Timers fire in (due time, creation order), so a run driven by it is
 * reproducible. advance() is async: after each timer it lets pending promise callbacks and microtasks settle, so
 * code that awaits (or flushes in a microtask) runs at the simulated instant it belongs to, not at the end.
 */
export class FakeClock implements Clock {
  private current: number;
  private seq = 0;
  private live = 0;
  private readonly heap = new TimerHeap<FakeTimer>();

  constructor(startMs = 0) {
    this.current = startMs;
  }

  now(): number {
    return this.current;
  }

  setTimeout(callback: () => void, delayMs: number): TimerHandle {
    const timer = new FakeTimer(this.current + Math.max(0, delayMs), this.seq++, callback);
    this.heap.push(timer);
    this.live++;
    return timer;
  }

  clearTimeout(handle: TimerHandle): void {
    const timer = handle as FakeTimer;
    if (!timer.cancelled) {
      timer.cancelled = true;
      this.live--;
    }
  }

  /** Timers not yet fired or cancelled. */
  get pendingTimers(): number {
    return this.live;
  }

  /** Due time of the next live timer, or undefined. */
  nextDue(): number | undefined {
    return this.heap.peek()?.due;
  }

  /** Moves time forward by ms, firing every timer that falls due, in order, settling microtasks after each. */
  async advance(ms: number): Promise<void> {
    const target = this.current + ms;
    await settle();
    for (;;) {
      const top = this.heap.peek();
      if (top === undefined || top.due > target) break;
      this.fireTop();
      await settle();
    }
    this.current = target;
    await settle();
  }

  /** Like advance, without settling microtasks: for pure synchronous state machines. */
  advanceSync(ms: number): void {
    const target = this.current + ms;
    for (;;) {
      const top = this.heap.peek();
      if (top === undefined || top.due > target) break;
      this.fireTop();
    }
    this.current = target;
  }

  /** Advances until predicate() holds, stepping timer by timer; throws if it does not within limitMs. */
  async advanceUntil(predicate: () => boolean, limitMs: number, stepMs = 10): Promise<void> {
    const deadline = this.current + limitMs;
    await settle();
    while (!predicate()) {
      if (this.current >= deadline) throw new Error(`FakeClock.advanceUntil: condition not met within ${limitMs} ms`);
      await this.advance(Math.min(stepMs, deadline - this.current));
    }
  }

  private fireTop(): void {
    const timer = this.heap.pop();
    this.current = timer.due;
    timer.cancelled = true;
    this.live--;
    timer.callback();
  }
}

/** Lets every queued microtask and promise continuation run (one macrotask turn). */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
