// vrrpd in unicast mode: VRRPv3 with 0.1 s adverts, and the seed's own two-instance VRRPv2 config
// (PASS authentication, advert_int 1, unicast peers) with only interfaces and addresses replaced.
// Skipped (with a note) when not root or without `ip netns`.

import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, labUnavailable, EVENTUALLY_MS, sleep, STARTUP_MS, stateOf, status, TEST_MS, waitFor, type Proc } from './lab.ts';

const why = labUnavailable();
if (why !== undefined) console.warn(`[vrrp] skipping vrrpd unicast netns tests: ${why}`);
const SLACK_MS = 10_000;

describe.skipIf(why !== undefined)('vrrpd: VRRPv3 unicast, 0.1 s adverts', { timeout: TEST_MS }, () => {
  const lab = new Lab('uc', 2);
  const VIP = lab.ip(100);
  let a: Proc & { statusSock: string };
  let b: Proc & { statusSock: string };
  const conf = (me: number, peer: number, priority: number): string => `vrrp_instance VI_U {
    state BACKUP
    interface eth0
    virtual_router_id 77
    version 3
    priority ${priority}
    advert_int 0.1
    unicast_src_ip ${lab.ip(me)}
    unicast_peer {
        ${lab.ip(peer)}
    }
    virtual_ipaddress {
        ${VIP}
    }
}
`;

  beforeAll(async () => {
    lab.up();
    lab.addNode('a', 1);
    lab.addNode('b', 2);
    lab.addNode('c', 9);
    a = lab.vrrpd('a', conf(1, 2, 150));
    b = lab.vrrpd('b', conf(2, 1, 100));
    // MASTER is reported as soon as the machine moves; the VIP follows a moment later.
    const t = await waitFor(
      async () => (await stateOf(a.statusSock)) === 'MASTER' && (await stateOf(b.statusSock)) === 'BACKUP' && lab.hasAddr('a', VIP),
      STARTUP_MS,
    );
    if (t === undefined) throw new Error(`no election:\n${lab.dump()}`);
  }, STARTUP_MS + 30_000);
  afterAll(async () => {
    await lab.down();
  });

  it('elects over unicast; the VIP (a /32) answers ping', async () => {
    expect(lab.hasAddr('a', VIP)).toBe(true);
    expect(lab.hasAddr('b', VIP)).toBe(false);
    expect(await waitFor(() => lab.ping('c', VIP), EVENTUALLY_MS, 200), lab.dump()).toBeDefined();
    const sb = (await status(b.statusSock))!.instances[0]!;
    expect(sb).toMatchObject({ mode: 'unicast', master: { ip: lab.ip(1), priority: 150 } });
  });

  it('kill -9 of the master moves the VIP within Master_Down_Interval; it comes back on return', async () => {
    lab.kill(a);
    lab.setPort('a', false);
    expect(await waitFor(() => lab.hasAddr('b', VIP), 361 + SLACK_MS, 10), lab.dump()).toBeDefined();
    expect(await waitFor(() => lab.neighMac('c', VIP) === lab.mac('b'), EVENTUALLY_MS)).toBeDefined();
    expect(await waitFor(() => lab.ping('c', VIP), EVENTUALLY_MS, 200), lab.dump()).toBeDefined();
    lab.setPort('a', true);
    await a.exited;
    a = lab.vrrpd('a', conf(1, 2, 150));
    expect(await waitFor(async () => (await stateOf(a.statusSock)) === 'MASTER' && !lab.hasAddr('b', VIP), EVENTUALLY_MS), lab.dump()).toBeDefined();
  });
});

describe.skipIf(why !== undefined)('vrrpd: the seed article0 config (v2, unicast, PASS auth, two instances)', { timeout: TEST_MS }, () => {
  const lab = new Lab('sd', 3);
  const seed = readFileSync(new URL('./fixtures/keepalived-article0-haproxy01.conf', import.meta.url), 'utf8');
  // The seed is haproxy01; haproxy02 mirrors it (peer addresses swapped, MASTER/BACKUP and 200/199 swapped).
  const forHost = (me: number, peer: number, mirror: boolean): string => {
    let t = seed
      .replaceAll('em1', 'eth0')
      .replaceAll('192.168.1.43', '@ME@')
      .replaceAll('192.168.1.44', '@PEER@')
      .replaceAll('192.168.1.45', lab.ip(45))
      .replaceAll('192.168.1.46', lab.ip(46))
      .replaceAll('@ME@', lab.ip(me))
      .replaceAll('@PEER@', lab.ip(peer));
    if (mirror) {
      t = t
        .replaceAll('state MASTER', 'state @B@')
        .replaceAll('state BACKUP', 'state MASTER')
        .replaceAll('state @B@', 'state BACKUP')
        .replaceAll('priority 200', 'priority @199@')
        .replaceAll('priority 199', 'priority 200')
        .replaceAll('priority @199@', 'priority 199');
    }
    return t;
  };
  let a: Proc & { statusSock: string };
  let b: Proc & { statusSock: string };

  beforeAll(async () => {
    lab.up();
    lab.addNode('a', 43);
    lab.addNode('b', 44);
    lab.addNode('c', 9);
    lab.addNode('x', 66);
    a = lab.vrrpd('a', forHost(43, 44, false));
    b = lab.vrrpd('b', forHost(44, 43, true));
    // An intruder with the right VRID and a higher priority but the wrong password, talking to a.
    lab.vrrpd(
      'x',
      `vrrp_instance BAD {
    state MASTER
    interface eth0
    virtual_router_id 101
    priority 254
    advert_int 1
    unicast_src_ip ${lab.ip(66)}
    unicast_peer {
        ${lab.ip(43)}
    }
    authentication {
        auth_type PASS
        auth_pass wrong
    }
    virtual_ipaddress {
        ${lab.ip(200)}
    }
}
`,
    );
    const up = async (): Promise<boolean> => {
      const [sa, sb] = [await status(a.statusSock), await status(b.statusSock)];
      return (
        sa?.instances[0]?.['state'] === 'MASTER' &&
        sb?.instances[1]?.['state'] === 'MASTER' &&
        lab.hasAddr('a', lab.ip(45)) &&
        lab.hasAddr('b', lab.ip(46))
      );
    };
    if ((await waitFor(up, EVENTUALLY_MS, 100)) === undefined) throw new Error(`no election:\n${lab.dump()}`);
  }, STARTUP_MS + 30_000);
  afterAll(async () => {
    await lab.down();
  });

  it('each host is master of one VIP, with PASS auth; the seed notify scripts are missing: logged once at start, as keepalived does', async () => {
    expect(lab.hasAddr('a', lab.ip(45))).toBe(true);
    expect(lab.hasAddr('b', lab.ip(46))).toBe(true);
    expect(lab.hasAddr('a', lab.ip(46))).toBe(false);
    expect(await waitFor(() => lab.ping('c', lab.ip(45)), EVENTUALLY_MS, 200), lab.dump()).toBeDefined();
    expect(await waitFor(() => lab.ping('c', lab.ip(46)), EVENTUALLY_MS, 200), lab.dump()).toBeDefined();
    // One line per notify setting, at start; none at the transitions that followed (keepalived drops them).
    const missing = a.output().match(/\(KEVIN_GATEWAY\) Script \/usr\/local\/bin\/keepalived_notify\.sh cannot be accessed - No such file or directory/g) ?? [];
    expect(missing, a.output()).toHaveLength(4);
    expect(a.output()).toMatch(/\(KEVIN_GATEWAY\) Entering MASTER STATE/);
    expect(a.output()).not.toMatch(/notify \/usr\/local\/bin\/keepalived_notify/);
  });

  it('adverts with the wrong password are counted and logged, never acted on', async () => {
    await waitFor(async () => {
      const inv = (await status(a.statusSock))?.instances[0]?.['counters'] as { invalid: Record<string, number> } | undefined;
      return (inv?.invalid['bad_auth'] ?? 0) >= 2;
    }, EVENTUALLY_MS, 100);
    const sa = (await status(a.statusSock))!.instances[0]!;
    expect((sa['counters'] as { invalid: Record<string, number> }).invalid['bad_auth']).toBeGreaterThanOrEqual(2);
    expect(sa['state']).toBe('MASTER'); // a priority 254 advert would have made a step down
    expect(a.output()).toMatch(/dropped invalid advert from 10\.213\.3\.66: bad_auth/);
  });

  it('kill -9 of one host: the other takes both VIPs within Master_Down_Interval', async () => {
    lab.kill(a);
    lab.setPort('a', false);
    // v2, advert_int 1, priority 199: 3 + (256 - 199) / 256 = 3.223 s.
    expect(await waitFor(() => lab.hasAddr('b', lab.ip(45)), 3223 + SLACK_MS, 20), lab.dump()).toBeDefined();
    expect(await waitFor(() => lab.neighMac('c', lab.ip(45)) === lab.mac('b'), EVENTUALLY_MS)).toBeDefined();
    expect(await waitFor(() => lab.ping('c', lab.ip(45)), EVENTUALLY_MS, 200), lab.dump()).toBeDefined();
    await sleep(10);
  });
});
