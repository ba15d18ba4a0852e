/**
 * Time as a dependency. Everything in this package that waits (heartbeats, request and handshake timeouts,
 * reconnect backoff, simulated network latency) asks a Clock, so a simulator can drive it with FakeClock.
 */
export type TimerHandle = object;

export interface Clock {
  /** Milliseconds; only differences are meaningful. */
  now(): number;
  setTimeout(callback: () => void, delayMs: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

class SystemClock implements Clock {
  now(): number {
    return performance.now();
  }

  setTimeout(callback: () => void, delayMs: number): TimerHandle {
    return setTimeout(callback, delayMs);
  }

  clearTimeout(handle: TimerHandle): void {
    clearTimeout(handle as ReturnType<typeof setTimeout>);
  }
}

export const systemClock: Clock = new SystemClock();
