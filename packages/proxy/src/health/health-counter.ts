/**
 * A server's health as one hysteresis counter, exactly as haproxy keeps it (src/check.c, check_notify_success /
 * check_notify_failure): `health` runs from 0 to rise+fall-1; the server is UP while health >= rise.
 *
 *   0 .. rise-1            DOWN (counting successes up towards rise)
 *   rise .. rise+fall-1    UP   (counting failures down towards rise-1)
 *
 * A success while DOWN adds one; reaching `rise` makes the server UP and jumps to the top so that `fall` failures are
 * needed to bring it down again. A failure while UP takes one; failing at `rise` drops the server to 0 (DOWN), so
 * `rise` successes are needed to bring it back. A new server starts at `rise`: UP, but the first failure takes it
 * down (haproxy: "up, but will fall down at first failure").
 */
export type Transition = 'up' | 'down' | null;

export class HealthCounter {
  health: number;

  constructor(
    readonly rise: number,
    readonly fall: number,
    initial?: number,
  ) {
    this.health = initial ?? rise;
  }

  get up(): boolean {
    return this.health >= this.rise;
  }

  /** Fully up: no failure is being counted. */
  get stable(): boolean {
    return this.health === this.rise + this.fall - 1 || this.health === 0;
  }

  success(): Transition {
    const top = this.rise + this.fall - 1;
    if (this.health >= top) return null;
    const wasUp = this.up;
    this.health++;
    if (this.health >= this.rise) this.health = top;
    return !wasUp && this.up ? 'up' : null;
  }

  failure(): Transition {
    if (this.health > this.rise) {
      this.health--;
      return null;
    }
    const wasUp = this.up;
    this.health = 0;
    return wasUp ? 'down' : null;
  }

  /** Forces a state (runtime `set server ... health up|down`). */
  force(up: boolean): Transition {
    const wasUp = this.up;
    this.health = up ? this.rise + this.fall - 1 : 0;
    return wasUp === up ? null : up ? 'up' : 'down';
  }

  /**
   * The delay before the next check. haproxy: srv_getinter(): `inter` while fully up, `downinter` while fully down,
   * `fastinter` while a transition is being counted (each falls back to `inter`).
   */
  interval(inter: number, fastinter: number | null, downinter: number | null): number {
    if (this.health === this.rise + this.fall - 1) return inter;
    if (this.health === 0 && downinter !== null) return downinter;
    return fastinter ?? inter;
  }

  /** The status words of the stats page: "UP", "UP 1/3" (going down), "DOWN", "DOWN 1/2" (going up). */
  describe(): string {
    const top = this.rise + this.fall - 1;
    if (this.up) return this.health === top ? 'UP' : `UP ${this.health - this.rise + 1}/${this.fall}`;
    return this.health === 0 ? 'DOWN' : `DOWN ${this.health}/${this.rise}`;
  }
}
