import { describe, expect, it } from 'vitest';
import { ManualClock } from '../clock.ts';
import { completeServer } from '../config/defaults.ts';
import { Server } from '../server.ts';
import type { CheckResult } from './check-result.ts';
import { Checker } from './checker.ts';

const OK: CheckResult = { status: 'L4OK', ok: true, info: '', code: null, durationMs: 0 };
const REFUSED: CheckResult = { status: 'L4CON', ok: false, info: 'Connection refused', code: null, durationMs: 0 };

function setup(rise: number, fall: number, inter: number) {
  const clock = new ManualClock();
  const srv = new Server(completeServer({ check: true, rise, fall, inter }, {}, 's1', '127.0.0.1', 1, 'f', 1), 0);
  let next = OK;
  const transitions: { to: string; at: number }[] = [];
  const checker = new Checker(srv, () => Promise.resolve(next), clock, { onTransition: (_s, to) => transitions.push({ to, at: clock.now() }) });
  const step = async (ms: number) => {
    for (let i = 0; i < ms; i += 10) {
      clock.advance(10);
      await new Promise((r) => setImmediate(r));
    }
  };
  return { clock, srv, checker, transitions, setResult: (r: CheckResult) => (next = r), step };
}

describe('Checker', () => {
  it('marks a server down after fall failed checks and up after rise good ones, at inter', async () => {
    const t = setup(2, 3, 100);
    t.checker.start(0);
    await t.step(250); // checks at 0, 100, 200: fully up
    expect(t.srv.health.describe()).toBe('UP');
    t.setResult(REFUSED);
    const failedFrom = t.clock.now();
    await t.step(400);
    expect(t.transitions).toEqual([{ to: 'down', at: expect.any(Number) }]);
    const downAt = (t.transitions[0] as { at: number }).at;
    expect(downAt - failedFrom).toBeGreaterThanOrEqual(200); // 3 failures, 100ms apart
    expect(downAt - failedFrom).toBeLessThanOrEqual(300);
    expect(t.srv.lastCheck?.status).toBe('L4CON');
    expect(t.srv.chkdown).toBe(1);
    expect(t.srv.status()).toBe('DOWN');
    t.setResult(OK);
    const okFrom = t.clock.now();
    await t.step(300);
    expect(t.transitions.map((x) => x.to)).toEqual(['down', 'up']);
    const upAt = (t.transitions[1] as { at: number }).at;
    expect(upAt - okFrom).toBeGreaterThanOrEqual(100); // 2 successes
    expect(upAt - okFrom).toBeLessThanOrEqual(200);
    t.checker.stop();
  });
  it('stops scheduling when stopped', async () => {
    const t = setup(1, 1, 50);
    t.checker.start(0);
    await t.step(60);
    t.checker.stop();
    t.setResult(REFUSED);
    await t.step(200);
    expect(t.transitions).toEqual([]);
  });
});
