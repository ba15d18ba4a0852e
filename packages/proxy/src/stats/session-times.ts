/**
 * Queue, connect and total times of a server's (or backend's) sessions: the `qtime`/`ctime`/`ttime` columns, an
 * average over about the last TIME_STATS_SAMPLES sessions, and their `*_max` columns (haproxy: TIME_STATS_SAMPLES,
 * swrate_add). Updated once per session, at its end.
 */
const TIME_STATS_SAMPLES = 512;

export class SessionTimes {
  samples = 0;
  qtime = 0;
  ctime = 0;
  ttime = 0;
  qtimeMax = 0;
  ctimeMax = 0;
  ttimeMax = 0;
  cliAbrt = 0; // sessions the client aborted once data flowed (termination C*)
  srvAbrt = 0; // sessions the server aborted (termination S*)

  add(queueMs: number, connectMs: number, totalMs: number, termination: string): void {
    const n = this.samples < TIME_STATS_SAMPLES ? ++this.samples : TIME_STATS_SAMPLES;
    this.qtime += (queueMs - this.qtime) / n;
    if (connectMs >= 0) this.ctime += (connectMs - this.ctime) / n;
    this.ttime += (totalMs - this.ttime) / n;
    if (queueMs > this.qtimeMax) this.qtimeMax = queueMs;
    if (connectMs > this.ctimeMax) this.ctimeMax = connectMs;
    if (totalMs > this.ttimeMax) this.ttimeMax = totalMs;
    if (termination[1] === 'D') {
      if (termination[0] === 'C' || termination[0] === 'c') this.cliAbrt++;
      else if (termination[0] === 'S' || termination[0] === 's') this.srvAbrt++;
    }
  }

  carry(old: SessionTimes): void {
    Object.assign(this, old);
  }
}
