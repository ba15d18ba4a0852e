// The free disc space alarm (RabbitMQ's disk_free_limit). The data directory's file system is checked with statfs;
// when free space falls below the limit, the alarm is set and every publishing connection is blocked
// (connection.blocked, its publishes held unread) until free space is back above the limit. A write the message
// store could not make for want of space (ENOSPC) sets the alarm at once, without waiting for the next check.
//
// RabbitMQ's limit is absolute (disk_free_limit.absolute, default 50MB) or relative to the machine's total memory
// (disk_free_limit.relative = 1.0: as much free disc as there is RAM). Like RabbitMQ's disk monitor, the check
// interval adapts: the closer free space is to the limit, the more often it is checked, so a disc filled at full
// speed is caught before it is full (RabbitMQ checks at most every 10 s and speeds up as space runs out).
import { statfs } from 'node:fs';
import { totalmem } from 'node:os';

/** bytes, or a fraction of total memory (RabbitMQ's disk_free_limit.relative / set_disk_free_limit mem_relative) */
export type DiskFreeLimit = number | { memRelative: number };

/** RabbitMQ's default disk_free_limit.absolute */
export const DEFAULT_DISK_FREE_LIMIT_BYTES = 50_000_000;
/** the longest time between checks while space is plentiful (RabbitMQ's 10 s) */
export const DISK_CHECK_MAX_INTERVAL_MS = 10_000;
/** the shortest time between checks, near the limit */
export const DISK_CHECK_MIN_INTERVAL_MS = 100;
/**
 * The fastest rate a disc is assumed to fill at: the next check comes before space above the limit could run out
 * at this rate (a group commit of a busy broker writes a few hundred MB/s at most on this class of machine).
 */
const ASSUMED_FILL_BYTES_PER_MS = 500_000;
/**
 * After a write failed for want of space, the alarm clears only once this much more than the limit is free: with a
 * limit set at (or below) the space a full disc still reports, publishers would otherwise be let through straight
 * into the next failed write.
 */
export const FAULT_CLEAR_HEADROOM_BYTES = 8 * 1024 * 1024;

export interface DiskStatus {
  /** free bytes available to the broker, -1 before the first check */
  free: number;
  /** the limit in bytes */
  limit: number;
  alarm: boolean;
}

export class DiskMonitor {
  readonly dir: string;
  private limitSetting: DiskFreeLimit;
  private readonly onChange: (alarm: boolean, status: DiskStatus) => void;
  private readonly log: (line: string) => void;
  free = -1;
  limit = 0;
  alarm = false;
  /** a write failed for want of space since the alarm was last clear */
  private faulted = false;
  private timer: NodeJS.Timeout | null = null;
  private checking = false;
  private stopped = false;

  constructor(dir: string, limit: DiskFreeLimit, onChange: (alarm: boolean, status: DiskStatus) => void, log: (line: string) => void) {
    this.dir = dir;
    this.limitSetting = limit;
    this.limit = resolveLimit(limit);
    this.onChange = onChange;
    this.log = log;
  }

  get setting(): DiskFreeLimit {
    return this.limitSetting;
  }

  start(): void {
    this.stopped = false;
    this.check();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  /** rabbitmqctl set_disk_free_limit: takes effect at once (a check runs now). */
  setLimit(limit: DiskFreeLimit): void {
    this.limitSetting = limit;
    this.limit = resolveLimit(limit);
    this.check();
  }

  /** The message store could not write for want of space: alarm now; the checks clear it when space is back. */
  noSpace(): void {
    this.faulted = true;
    if (!this.alarm) this.set(true);
    this.check();
  }

  status(): DiskStatus {
    return { free: this.free, limit: this.limit, alarm: this.alarm };
  }

  check(): void {
    if (this.checking || this.stopped) return;
    this.checking = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    statfs(this.dir, (err, s) => {
      this.checking = false;
      if (this.stopped) return;
      if (err) {
        this.log(`disk free space check of ${this.dir} failed: ${err.message}`);
      } else {
        this.free = Number(s.bavail) * Number(s.bsize);
        const clearAt = this.faulted ? this.limit + FAULT_CLEAR_HEADROOM_BYTES : this.limit;
        if (!this.alarm && this.free < this.limit) this.set(true);
        else if (this.alarm && this.free >= clearAt) {
          this.faulted = false;
          this.set(false);
        }
      }
      const above = Math.max(0, this.free - this.limit);
      const next = Math.min(DISK_CHECK_MAX_INTERVAL_MS, Math.max(DISK_CHECK_MIN_INTERVAL_MS, Math.floor(above / ASSUMED_FILL_BYTES_PER_MS)));
      this.timer = setTimeout(() => this.check(), next);
      this.timer.unref();
    });
  }

  private set(on: boolean): void {
    this.alarm = on;
    if (on) this.log(`Free disk space is insufficient. Free bytes: ${this.free}. Limit: ${this.limit}. Publishers will be blocked until this alarm clears`);
    else this.log(`Disk free space alarm cleared: free bytes ${this.free}, limit ${this.limit}`);
    this.onChange(on, this.status());
  }
}

export function resolveLimit(limit: DiskFreeLimit): number {
  return typeof limit === 'number' ? limit : Math.floor(totalmem() * limit.memRelative);
}

/** RabbitMQ's way of writing the limit: `50000000` or `{mem_relative,1.0}`. */
export function describeLimit(limit: DiskFreeLimit): string {
  return typeof limit === 'number' ? String(limit) : `{mem_relative,${limit.memRelative}}`;
}
