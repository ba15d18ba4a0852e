/**
 * Gives memory back once a crowd of sessions has gone, as haproxy trims its buffer pools and calls malloc_trim()
 * when memory is no longer needed (haproxy: pool_gc, trim_all_pools).
 *
 * The sessions' objects and relay buffers are freed by V8's garbage collector, and a process that has gone quiet
 * allocates nothing, so no collection comes to free them: 200 slow readers left a proxy 30 MB above its idle size.
 * When the number of live sessions has dropped by TRIM_AFTER_SESSIONS or more since its peak, one full collection
 * runs TRIM_DELAY_MS later (buffers of 16 KiB and more are mmap'ed, see bin/proxy, so freeing them returns the
 * memory). A steady churn of short sessions does not trigger it: only a drop in the number alive does.
 *
 * A plain full collection frees the objects but keeps the old-generation pages they were spread over (2,000 sessions
 * gone: 5 MB live in 20 MB of pages, and the RSS stayed); this one compacts, so those pages go back to the system.
 * V8 compacts on every full collection only while the flag is set, so it is set for this one collection alone.
 *
 * The collector is reachable only when node runs with --expose-gc, which bin/proxy passes; embedded, without the
 * flag, this does nothing.
 */
import v8 from 'node:v8';
import type { Clock } from './clock.ts';

const TRIM_AFTER_SESSIONS = 100;
const TRIM_DELAY_MS = 2000;

export class MemoryTrimmer {
  private peak = 0;
  private timer: unknown = null;
  trims = 0;

  constructor(
    private readonly clock: Clock,
    private readonly gc: (() => void) | null = compactingCollection(),
  ) {}

  /** The number of live sessions changed. */
  sessions(live: number): void {
    if (live > this.peak) this.peak = live;
    if (this.gc === null || this.timer !== null || this.peak - live < TRIM_AFTER_SESSIONS) return;
    this.timer = this.clock.setTimeout(() => this.trim(), TRIM_DELAY_MS);
    (this.timer as { unref?: () => void }).unref?.();
  }

  private trim(): void {
    this.timer = null;
    this.peak = 0;
    this.trims++;
    this.gc?.();
  }

  stop(): void {
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
  }
}

/** A full, compacting garbage collection, or null without --expose-gc. */
function compactingCollection(): (() => void) | null {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) return null;
  return () => {
    v8.setFlagsFromString('--compact-on-every-full-gc');
    try {
      gc();
    } finally {
      v8.setFlagsFromString('--no-compact-on-every-full-gc');
    }
  };
}
