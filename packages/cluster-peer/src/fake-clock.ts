import type { Clock, TimerHandle } from './clock.ts';

class FakeTimer {
  cancelled = false;
  constructor(
    readonly due: number,
    readonly seq: number,
    readonly callback: () => void,
  ) {}
}

function before(x: FakeTimer, y: FakeTimer): boolean {
  return x.due < y.due || (x.due === y.due && x.seq < y.seq);
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
  /** Binary min-heap on (due, seq); cancelled timers are dropped lazily when they reach the top. */
  private readonly heap: FakeTimer[] = [];

  constructor(startMs = 0) {
    this.current = startMs;
  }

  now(): number {
    return this.current;
  }

  setTimeout(callback: () => void, delayMs: number): TimerHandle {
    const timer = new FakeTimer(this.current + Math.max(0, delayMs), this.seq++, callback);
    this.push(timer);
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
    this.dropCancelled();
    return this.heap[0]?.due;
  }

  /** Moves time forward by ms, firing every timer that falls due, in order, settling microtasks after each. */
  async advance(ms: number): Promise<void> {
    const target = this.current + ms;
    await settle();
    for (;;) {
      this.dropCancelled();
      const top = this.heap[0];
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
      this.dropCancelled();
      const top = this.heap[0];
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
    const timer = this.pop();
    this.current = timer.due;
    timer.cancelled = true;
    this.live--;
    timer.callback();
  }

  private dropCancelled(): void {
    while (this.heap.length > 0 && this.heap[0]!.cancelled) this.pop();
  }

  private push(timer: FakeTimer): void {
    const heap = this.heap;
    heap.push(timer);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(heap[i]!, heap[parent]!)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  }

  private pop(): FakeTimer {
    const heap = this.heap;
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && before(heap[l]!, heap[m]!)) m = l;
        if (r < heap.length && before(heap[r]!, heap[m]!)) m = r;
        if (m === i) break;
        [heap[i], heap[m]] = [heap[m]!, heap[i]!];
        i = m;
      }
    }
    return top;
  }
}

/** Lets every queued microtask and promise continuation run (one macrotask turn). */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
