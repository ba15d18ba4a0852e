// vrrpd SIGHUP reload in network namespaces (VRRPv3 multicast, 0.1 s adverts).
// Skipped (with a note) when not root or without `ip netns`.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, labUnavailable, EVENTUALLY_MS, sleep, STARTUP_MS, stateOf, status, TEST_MS, waitFor, type Proc } from './lab.ts';

const why = labUnavailable();
if (why !== undefined) console.warn(`[vrrp] skipping vrrpd reload netns tests: ${why}`);

describe.skipIf(why !== undefined)('vrrpd: SIGHUP reload', { timeout: TEST_MS }, () => {
  const lab = new Lab('rl', 4);
  const VIP1 = lab.ip(100);
  const VIP2 = lab.ip(101);
  let a: Proc & { statusSock: string };
  let b: Proc & { statusSock: string };
  const instance = (name: string, vrid: number, priority: number, vip: string): string => `vrrp_instance ${name} {
    state BACKUP
    interface eth0
    virtual_router_id ${vrid}
    version 3
    priority ${priority}
    advert_int 0.1
    virtual_ipaddress {
        ${vip}/24
    }
}
`;

  beforeAll(async () => {
    lab.up();
    lab.addNode('a', 1);
    lab.addNode('b', 2);
    a = lab.vrrpd('a', instance('VI_1', 61, 150, VIP1));
    b = lab.vrrpd('b', instance('VI_1', 61, 100, VIP1));
    const t = await waitFor(
      async () => (await stateOf(a.statusSock)) === 'MASTER' && (await stateOf(b.statusSock)) === 'BACKUP' && lab.hasAddr('a', VIP1),
      STARTUP_MS,
    );
    if (t === undefined) throw new Error(`no election:\n${lab.dump()}`);
  }, STARTUP_MS + 30_000);
  afterAll(async () => {
    await lab.down();
  });

  it('a changed instance restarts (handing over), a new one starts', async () => {
    lab.writeFile('a-vrrpd.conf', instance('VI_1', 61, 50, VIP1) + instance('VI_2', 62, 200, VIP2));
    lab.kill(a, 'SIGHUP');
    expect(await waitFor(() => lab.hasAddr('b', VIP1) && !lab.hasAddr('a', VIP1), EVENTUALLY_MS), lab.dump()).toBeDefined();
    expect(await waitFor(() => lab.hasAddr('a', VIP2), EVENTUALLY_MS), lab.dump()).toBeDefined();
    const sa = (await status(a.statusSock))!;
    expect(sa.instances.map((i) => [i['name'], i['state'], i['priority']])).toEqual([
      ['VI_1', 'BACKUP', 50],
      ['VI_2', 'MASTER', 200],
    ]);
    expect(a.output()).toMatch(/Reloading: 0 instance\(s\) unchanged, 1 stopping, 2 starting/);
  });

  it('an unchanged instance keeps running undisturbed; a broken config is refused', async () => {
    const before = (await status(b.statusSock))!.instances[0]!;
    expect(before['state']).toBe('MASTER');
    lab.writeFile('b-vrrpd.conf', `! only a comment changed\n${instance('VI_1', 61, 100, VIP1)}`);
    lab.kill(b, 'SIGHUP');
    expect(await waitFor(() => /Reloading: 1 instance\(s\) unchanged, 0 stopping, 0 starting/.test(b.output()), EVENTUALLY_MS)).toBeDefined();
    lab.writeFile('b-vrrpd.conf', 'vrrp_instance VI_1 {\n    priority nonsense\n}\n');
    lab.kill(b, 'SIGHUP');
    expect(await waitFor(() => /reload failed, keeping the running configuration: .*b-vrrpd\.conf:2: priority/.test(b.output()), EVENTUALLY_MS)).toBeDefined();
    await sleep(300);
    const after = (await status(b.statusSock))!.instances[0]!;
    expect(after['state']).toBe('MASTER');
    expect(after['lastTransition']).toEqual(before['lastTransition']);
    expect(lab.hasAddr('b', VIP1)).toBe(true);
  });
});
