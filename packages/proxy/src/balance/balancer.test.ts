import { describe, expect, it } from 'vitest';
import { completeServer } from '../config/defaults.ts';
import { Server } from '../server.ts';
import { createBalancer } from './balancer.ts';

const mk = (name: string, weight: number, maxconn = 0) => new Server(completeServer({ weight, maxconn }, {}, name, '127.0.0.1', 1, 'f', 1), 0);
const fakeSession = () => ({ client: {} as never, server: null, shutdown() {}, rebind() {} });

describe('balancers', () => {
  it('roundrobin spreads by weight, interleaved', () => {
    const a = mk('a', 3);
    const b = mk('b', 1);
    const rr = createBalancer('roundrobin');
    const picks = Array.from({ length: 8 }, () => rr.pick([a, b], '')?.name).join('');
    expect(picks).toBe('aabaaaba');
    expect([...picks].filter((c) => c === 'a').length).toBe(6);
  });
  it('roundrobin with equal weights alternates', () => {
    const servers = [mk('a', 1), mk('b', 1), mk('c', 1)];
    const rr = createBalancer('roundrobin');
    expect(Array.from({ length: 6 }, () => rr.pick(servers, '')?.name).join('')).toBe('abcabc');
  });
  it('leastconn prefers the server with fewer sessions per weight', () => {
    const a = mk('a', 1);
    const b = mk('b', 1);
    a.sessions.add(fakeSession());
    a.sessions.add(fakeSession());
    const lc = createBalancer('leastconn');
    expect(lc.pick([a, b], '')?.name).toBe('b');
    b.sessions.add(fakeSession());
    b.sessions.add(fakeSession());
    b.sessions.add(fakeSession());
    expect(lc.pick([a, b], '')?.name).toBe('a');
  });
  it('first takes the first candidate', () => {
    const f = createBalancer('first');
    expect(f.pick([mk('a', 1), mk('b', 1)], '')?.name).toBe('a');
    expect(f.pick([], '')).toBeNull();
  });
  it('source keeps a client on one server', () => {
    const servers = [mk('a', 1), mk('b', 1), mk('c', 1)];
    const s = createBalancer('source');
    const first = s.pick(servers, '10.0.0.7');
    for (let i = 0; i < 5; i++) expect(s.pick(servers, '10.0.0.7')).toBe(first);
  });
});
