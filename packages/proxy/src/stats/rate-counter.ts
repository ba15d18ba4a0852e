/**
 * Events per second, as haproxy's stats columns `rate`, `conn_rate` and `req_rate` show them (haproxy: freq_ctr.h,
 * read_freq_ctr): the events of the current second plus the previous second's, weighted by how much of the current
 * second is left. `max` is the highest rate seen (the `*_max` columns). Two numbers and a second; no timer.
 */
export class RateCounter {
  private second = 0;
  private cur = 0;
  private prev = 0;
  max = 0;

  add(nowMs: number): void {
    this.roll(nowMs);
    this.cur++;
    const r = this.rate(nowMs);
    if (r > this.max) this.max = r;
  }

  rate(nowMs: number): number {
    this.roll(nowMs);
    const left = 1 - (nowMs % 1000) / 1000;
    return this.cur + Math.floor(this.prev * left);
  }

  /** Keeps the maximum across a reload, as haproxy's counters survive one. */
  carry(old: RateCounter): void {
    this.second = old.second;
    this.cur = old.cur;
    this.prev = old.prev;
    this.max = old.max;
  }

  private roll(nowMs: number): void {
    const s = Math.floor(nowMs / 1000);
    if (s === this.second) return;
    this.prev = s === this.second + 1 ? this.cur : 0;
    this.cur = 0;
    this.second = s;
  }
}
