import { describe, expect, it } from 'vitest';
import {
  initialState,
  masterDownIntervalCs,
  nextDeadline,
  skewTimeCs,
  step,
  type MachineAction,
  type MachineEvent,
  type MachineParams,
  type MachineState,
} from './machine.ts';

// A deterministic simulator: routers on one fake LAN, a fake clock, adverts delivered instantly.
interface SimNode {
  name: string;
  params: MachineParams;
  state: MachineState;
  up: boolean;
  log: MachineAction[];
}

class Sim {
  now = 0;
  nodes: SimNode[] = [];
  wire: { from: string; priority: number; at: number }[] = [];

  add(name: string, ip: string, priority: number, over: Partial<MachineParams> = {}): SimNode {
    const params: MachineParams = {
      version: 3,
      advertIntervalCs: 100,
      preempt: true,
      preemptDelayMs: 0,
      primaryIp: ip,
      lowerPrioAdvert: false,
      ...over,
    };
    const n: SimNode = { name, params, state: initialState(params, priority), up: false, log: [] };
    this.nodes.push(n);
    return n;
  }

  start(n: SimNode): void {
    n.up = true;
    this.apply(n, { type: 'START', now: this.now });
  }

  /** kill -9: the node vanishes without a word. */
  crash(n: SimNode): void {
    n.up = false;
  }

  apply(n: SimNode, e: MachineEvent): void {
    const r = step(n.params, n.state, e);
    n.state = r.state;
    n.log.push(...r.actions);
    for (const a of r.actions) {
      if (a.type === 'SEND_ADVERT') {
        this.wire.push({ from: n.name, priority: a.priority, at: this.now });
        for (const m of this.nodes) {
          if (m !== n && m.up) {
            this.apply(m, {
              type: 'ADVERT',
              now: this.now,
              src: n.params.primaryIp,
              priority: a.priority,
              intervalCs: n.params.advertIntervalCs,
            });
          }
        }
      }
    }
  }

  /** Advance the fake clock to `until`, firing deadlines in order. */
  run(until: number): void {
    for (;;) {
      let best: SimNode | undefined;
      let bestAt = Infinity;
      for (const n of this.nodes) {
        const d = n.up ? nextDeadline(n.state) : undefined;
        if (d !== undefined && d < bestAt) [best, bestAt] = [n, d];
      }
      if (best === undefined || bestAt > until) break;
      this.now = Math.max(this.now, bestAt);
      this.apply(best, { type: 'TIMER', now: this.now });
    }
    this.now = until;
  }

  transitions(n: SimNode): { to: string; reason: string }[] {
    return n.log.flatMap((a) => (a.type === 'TRANSITION' ? [{ to: a.to, reason: a.reason }] : []));
  }
}

describe('timer formulas (RFC 3768 §6.1, RFC 5798 §6.1)', () => {
  it('v2: Master_Down_Interval = 3 * Advertisement_Interval + (256 - Priority) / 256 s', () => {
    expect(skewTimeCs(2, 100, 100)).toBeCloseTo(60.9375);
    expect(masterDownIntervalCs(2, 100, 100)).toBeCloseTo(360.9375);
  });
  it('v3: Skew_Time scales with Master_Adver_Interval', () => {
    expect(skewTimeCs(3, 100, 10)).toBeCloseTo(6.09375);
    expect(masterDownIntervalCs(3, 100, 10)).toBeCloseTo(36.09375);
    expect(masterDownIntervalCs(3, 255, 100)).toBeCloseTo(300.390625);
  });
});

describe('VRRP machine with a fake clock', () => {
  it('starts in BACKUP and elects the higher priority after Master_Down_Interval', () => {
    const sim = new Sim();
    const a = sim.add('a', '10.0.0.1', 150);
    const b = sim.add('b', '10.0.0.2', 100);
    sim.start(a);
    sim.start(b);
    expect(a.state.state).toBe('BACKUP');
    sim.run(3000);
    expect(a.state.state).toBe('BACKUP'); // MDI(150) = 3.414 s
    sim.run(3500);
    expect(a.state.state).toBe('MASTER');
    expect(b.state.state).toBe('BACKUP');
    expect(b.state.masterIp).toBe('10.0.0.1');
    expect(a.log.filter((x) => x.type === 'ADD_VIPS')).toHaveLength(1);
    expect(a.log.filter((x) => x.type === 'SEND_GARP')).toHaveLength(1);
    sim.run(60_000);
    expect(sim.transitions(b).map((t) => t.to)).toEqual(['BACKUP']);
    // Master advertises once per Advertisement_Interval.
    const sent = sim.wire.filter((w) => w.from === 'a' && w.at > 10_000 && w.at <= 20_000);
    expect(sent).toHaveLength(10);
  });

  it('crash of the master: the backup takes over exactly Master_Down_Interval after the last advert', () => {
    const sim = new Sim();
    const a = sim.add('a', '10.0.0.1', 150);
    const b = sim.add('b', '10.0.0.2', 100);
    sim.start(a);
    sim.start(b);
    sim.run(10_000);
    const last = Math.max(...sim.wire.filter((w) => w.from === 'a').map((w) => w.at));
    sim.crash(a);
    sim.run(20_000);
    expect(b.state.state).toBe('MASTER');
    const took = sim.wire.find((w) => w.from === 'b')!.at;
    expect(took - last).toBeCloseTo(masterDownIntervalCs(3, 100, 100) * 10, 5);
    expect(sim.transitions(b).at(-1)!.reason).toMatch(/Master_Down_Interval/);
  });

  it('graceful stop sends priority 0 and the backup takes over after Skew_Time only', () => {
    const sim = new Sim();
    const a = sim.add('a', '10.0.0.1', 150);
    const b = sim.add('b', '10.0.0.2', 100);
    sim.start(a);
    sim.start(b);
    sim.run(10_050);
    sim.apply(a, { type: 'SHUTDOWN', now: sim.now });
    expect(a.log.slice(-3)).toEqual([
      { type: 'SEND_ADVERT', priority: 0 },
      { type: 'REMOVE_VIPS' },
      { type: 'TRANSITION', from: 'MASTER', to: 'STOP', reason: 'shutdown' },
    ]);
    a.up = false;
    const stoppedAt = sim.now;
    sim.run(20_000);
    const took = sim.wire.find((w) => w.from === 'b')!.at;
    expect(took - stoppedAt).toBeCloseTo(skewTimeCs(3, 100, 100) * 10, 5);
    // Logged as a takeover after the priority 0 advert, not as a Master_Down_Interval expiry.
    expect(sim.transitions(b).at(-1)!.reason).toBe('master 10.0.0.1 sent priority 0 (stopping); took over after Skew_Time (0.609 s)');
  });

  it('becoming master: GARPs first, then VIPs and advert, all before the transition is logged and notified', () => {
    const sim = new Sim();
    const a = sim.add('a', '10.0.0.1', 150);
    sim.start(a);
    sim.run(4000);
    expect(a.log.slice(-4).map((x) => x.type)).toEqual(['SEND_GARP', 'ADD_VIPS', 'SEND_ADVERT', 'TRANSITION']);
  });

  it('preempts when a higher priority router returns; not with nopreempt', () => {
    for (const preempt of [true, false]) {
      const sim = new Sim();
      const a = sim.add('a', '10.0.0.1', 150, { preempt });
      const b = sim.add('b', '10.0.0.2', 100, { preempt });
      sim.start(b);
      sim.run(5_000);
      expect(b.state.state).toBe('MASTER');
      sim.start(a);
      sim.run(15_000);
      expect([a.state.state, b.state.state], `preempt=${preempt}`).toEqual(
        preempt ? ['MASTER', 'BACKUP'] : ['BACKUP', 'MASTER'],
      );
    }
  });

  it('preempt_delay holds off preemption after startup', () => {
    const sim = new Sim();
    const a = sim.add('a', '10.0.0.1', 150, { preemptDelayMs: 20_000 });
    const b = sim.add('b', '10.0.0.2', 100);
    sim.start(b);
    sim.run(5_000);
    sim.start(a);
    sim.run(24_000);
    expect(a.state.state).toBe('BACKUP');
    sim.run(30_000);
    expect(a.state.state).toBe('MASTER');
    expect(b.state.state).toBe('BACKUP');
  });

  it('equal priority: the higher primary address wins (RFC 5798 §6.4.3)', () => {
    const sim = new Sim();
    const a = sim.add('a', '10.0.0.9', 100);
    const b = sim.add('b', '10.0.0.10', 100);
    sim.start(a);
    sim.run(5_000);
    sim.start(b);
    sim.run(6_000);
    // b starts in BACKUP and, hearing an equal priority master, waits; make both masters to test the tie-break.
    sim.apply(b, { type: 'FAULT', now: sim.now, faults: ['x'] });
    sim.crash(a);
    sim.apply(b, { type: 'FAULT', now: sim.now, faults: [] });
    sim.run(12_000);
    expect(b.state.state).toBe('MASTER');
    a.up = true; // a comes back believing it is still master: both advertise until b's next advert
    sim.run(sim.now + 2000);
    expect(a.state.state).toBe('BACKUP');
    expect(b.state.state).toBe('MASTER');
  });

  it('priority 255 address owner becomes master at once', () => {
    const sim = new Sim();
    const a = sim.add('a', '10.0.0.1', 255);
    sim.start(a);
    expect(a.state.state).toBe('MASTER');
    expect(sim.transitions(a)[0]!.reason).toMatch(/owner/);
  });

  it('v3 backup learns the master advert interval', () => {
    const sim = new Sim();
    const a = sim.add('a', '10.0.0.1', 150, { advertIntervalCs: 10 });
    const b = sim.add('b', '10.0.0.2', 100, { advertIntervalCs: 100 });
    sim.start(a);
    sim.run(1_000);
    sim.start(b);
    sim.run(2_000);
    expect(a.state.state).toBe('MASTER');
    expect(b.state.masterAdverIntervalCs).toBe(10);
    const last = sim.now;
    sim.crash(a);
    sim.run(last + 400);
    expect(b.state.state).toBe('MASTER'); // MDI = 3 * 0.1 + skew(100) ≈ 0.36 s
  });

  it('FAULT: a master sends priority 0 and removes VIPs; cleared fault goes back to BACKUP', () => {
    const sim = new Sim();
    const a = sim.add('a', '10.0.0.1', 150);
    const b = sim.add('b', '10.0.0.2', 100);
    sim.start(a);
    sim.start(b);
    sim.run(5_000);
    sim.apply(a, { type: 'FAULT', now: sim.now, faults: ['chk_haproxy'] });
    expect(a.state.state).toBe('FAULT');
    expect(a.log).toContainEqual({ type: 'REMOVE_VIPS' });
    expect(sim.wire.at(-1)).toMatchObject({ from: 'a', priority: 0 });
    sim.run(6_000);
    expect(b.state.state).toBe('MASTER');
    sim.apply(a, { type: 'FAULT', now: sim.now, faults: [] });
    expect(a.state.state).toBe('BACKUP');
    sim.run(20_000);
    expect(a.state.state).toBe('MASTER'); // preempts again
  });

  it('a track-script weight drop lets a preempting backup take over', () => {
    const sim = new Sim();
    const a = sim.add('a', '10.0.0.1', 110);
    const b = sim.add('b', '10.0.0.2', 105);
    sim.start(a);
    sim.start(b);
    sim.run(5_000);
    expect(a.state.state).toBe('MASTER');
    sim.apply(a, { type: 'PRIORITY', now: sim.now, priority: 100 });
    sim.run(10_000);
    expect([a.state.state, b.state.state]).toEqual(['BACKUP', 'MASTER']);
  });

  it('master answers a lower priority master with an advert when lowerPrioAdvert is set', () => {
    const p: MachineParams = {
      version: 2,
      advertIntervalCs: 100,
      preempt: true,
      preemptDelayMs: 0,
      primaryIp: '10.0.0.1',
      lowerPrioAdvert: true,
    };
    const s: MachineState = { ...initialState(p, 200), state: 'MASTER', advertAt: 1000 };
    const r = step(p, s, { type: 'ADVERT', now: 500, src: '10.0.0.2', priority: 100, intervalCs: 100 });
    expect(r.state.state).toBe('MASTER');
    expect(r.actions).toEqual([{ type: 'SEND_ADVERT', priority: 200 }]);
  });

  it('STOP is terminal', () => {
    const sim = new Sim();
    const a = sim.add('a', '10.0.0.1', 100);
    sim.start(a);
    sim.apply(a, { type: 'SHUTDOWN', now: 0 });
    sim.apply(a, { type: 'TIMER', now: 99_999 });
    expect(a.state.state).toBe('STOP');
    expect(nextDeadline(a.state)).toBeUndefined();
  });
});
