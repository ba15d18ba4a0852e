// Two vrrpd agents in network namespaces on one bridge, VRRPv3 multicast with 0.1 s adverts, and a client.
// Skipped (with a note) when not root or without `ip netns`.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, labUnavailable, EVENTUALLY_MS, sleep, STARTUP_MS, stateOf, status, TEST_MS, waitFor, type Proc } from './lab.ts';

const why = labUnavailable();
if (why !== undefined) console.warn(`[vrrp] skipping vrrpd multicast netns tests: ${why}`);

// Master_Down_Interval for priority 100 at 0.1 s = 3 * 0.1 + 156/256 * 0.1 = 0.361 s (RFC 5798 §6.1).
const MDI_B_MS = 361;
// Generous slack for a loaded 2-core machine: process scheduling, `ip` and `arping` spawns, our polling.
const SLACK_MS = 10_000;

describe.skipIf(why !== undefined)('vrrpd: two agents, VRRPv3 multicast, 0.1 s adverts', { timeout: TEST_MS }, () => {
  const lab = new Lab('mc', 1);
  const VIP = lab.ip(100);
  let a: Proc & { statusSock: string };
  let b: Proc & { statusSock: string };
  let notifySh = '';

  const conf = (node: string, priority: number): string => `! test config for ${node}
global_defs {
    router_id ${node}
}
vrrp_script chk_ok {
    script "test -e ${lab.dir}/${node}-ok"
    interval 0.2
    # A busy machine can take longer than the 0.2 s interval to start \`test\`; that is not a failure.
    timeout 10
    weight -60
    fall 1
    rise 1
}
vrrp_instance VI_1 {
    state BACKUP
    interface eth0
    virtual_router_id 51
    version 3
    priority ${priority}
    advert_int 0.1
    garp_master_delay 1
    virtual_ipaddress {
        ${VIP}/24
    }
    track_script {
        chk_ok
    }
${node === 'a' ? '    track_interface {\n        dum0 weight -60\n    }\n' : ''}    notify_master "${notifySh} ${node} notify_master"
    notify_backup "${notifySh} ${node} notify_backup"
    notify_fault "${notifySh} ${node} notify_fault"
    notify_stop "${notifySh} ${node} notify_stop"
    notify "${notifySh} ${node}"
}
`;
  const notes = (node: string): string => lab.readFile(`notify-${node}.log`);
  const vipOn = (node: string): boolean => lab.hasAddr(node, VIP);

  beforeAll(async () => {
    lab.up();
    lab.addNode('a', 1);
    lab.addNode('b', 2);
    lab.addNode('c', 9);
    // A second interface on a, tracked with a weight: its link going down lowers a's priority.
    // (a veth pair inside a's namespace: taking dum1 down takes dum0's carrier away; no dummy module needed).
    lab.exec('a', 'ip', ['link', 'add', 'dum0', 'type', 'veth', 'peer', 'name', 'dum1']);
    lab.exec('a', 'ip', ['link', 'set', 'dum0', 'up']);
    lab.exec('a', 'ip', ['link', 'set', 'dum1', 'up']);
    notifySh = lab.writeFile('notify.sh', `#!/bin/sh\nnode=$1; shift\necho "$*" >> ${lab.dir}/notify-$node.log\n`, 0o755);
    lab.writeFile('a-ok', '');
    lab.writeFile('b-ok', '');
    a = lab.vrrpd('a', conf('a', 150));
    b = lab.vrrpd('b', conf('b', 100));
    // MASTER is reported as soon as the machine moves; the VIP follows a moment later.
    const t = await waitFor(
      async () => (await stateOf(a.statusSock)) === 'MASTER' && (await stateOf(b.statusSock)) === 'BACKUP' && vipOn('a'),
      STARTUP_MS,
    );
    if (t === undefined) throw new Error(`no election:\n${lab.dump()}`);
  }, STARTUP_MS + 30_000);

  afterAll(async () => {
    await lab.down();
  });

  it('elects the higher priority, the VIP answers ping from the client, status shows the master', async () => {
    expect(vipOn('a')).toBe(true);
    expect(vipOn('b')).toBe(false);
    expect(await waitFor(() => lab.ping('c', VIP), EVENTUALLY_MS, 200), lab.dump()).toBeDefined();
    expect(lab.neighMac('c', VIP)).toBe(lab.mac('a'));
    const sb = (await status(b.statusSock))!.instances[0]!;
    expect(sb).toMatchObject({ state: 'BACKUP', priority: 100, master: { ip: lab.ip(1), priority: 150 }, version: 3 });
    expect((sb['counters'] as { advertsReceived: number }).advertsReceived).toBeGreaterThan(0);
    expect((sb['counters'] as { invalid: object }).invalid).toEqual({});
    const sa = (await status(a.statusSock))!.instances[0]!;
    expect(sa['lastTransition']).toMatchObject({ from: 'BACKUP', to: 'MASTER' });
    expect(String((sa['lastTransition'] as { reason: string }).reason)).toMatch(/Master_Down_Interval/);
    await waitFor(() => notes('a').includes('INSTANCE VI_1 MASTER 150'), EVENTUALLY_MS);
    // keepalived's notify arguments: notify_<state> as configured; notify gets INSTANCE <name> <state> <priority>.
    expect(notes('a')).toContain('notify_master');
    expect(notes('a')).toContain('INSTANCE VI_1 MASTER 150');
    expect(notes('b')).toContain('notify_backup');
    expect(notes('b')).toContain('INSTANCE VI_1 BACKUP 100');
  });

  it('kill -9 of the master (host gone): the VIP moves within Master_Down_Interval and GARP updates the client', async () => {
    // On a busy machine the master's 0.1 s adverts can stall past b's Master_Down_Interval, b takes over for a
    // moment and its GARP repoints the client; a reasserts itself, and its next GARP (or a ping's ARP) repoints it.
    expect(await waitFor(() => lab.ping('c', VIP) && lab.neighMac('c', VIP) === lab.mac('a'), EVENTUALLY_MS, 200), lab.dump()).toBeDefined();
    lab.kill(a);
    lab.setPort('a', false); // the master's host disappears from the LAN with the process
    const moved = await waitFor(() => vipOn('b'), MDI_B_MS + SLACK_MS, 10);
    expect(moved, lab.dump()).toBeDefined();
    expect(await stateOf(b.statusSock)).toBe('MASTER');
    // The gratuitous ARP, not a new ARP query, changes the client's entry: we do not ping before checking.
    expect(await waitFor(() => lab.neighMac('c', VIP) === lab.mac('b'), EVENTUALLY_MS)).toBeDefined();
    expect(await waitFor(() => lab.ping('c', VIP), EVENTUALLY_MS, 200), lab.dump()).toBeDefined();
  });

  it('preemption: the higher priority router returns and takes the VIP back', async () => {
    lab.setPort('a', true);
    await a.exited;
    a = lab.vrrpd('a', conf('a', 150)); // a restarted vrrpd first clears the VIP the killed one left behind
    const back = await waitFor(async () => (await stateOf(a.statusSock)) === 'MASTER', EVENTUALLY_MS);
    expect(back, lab.dump()).toBeDefined();
    expect(await waitFor(async () => (await stateOf(b.statusSock)) === 'BACKUP' && !vipOn('b') && vipOn('a'), EVENTUALLY_MS)).toBeDefined();
    expect(await waitFor(() => lab.neighMac('c', VIP) === lab.mac('a'), EVENTUALLY_MS)).toBeDefined();
    expect(await waitFor(() => lab.ping('c', VIP), EVENTUALLY_MS, 200), lab.dump()).toBeDefined();
    const sa = (await status(a.statusSock))!.instances[0]!;
    expect((sa['lastTransition'] as { from: string }).from).toBe('BACKUP');
  });

  it('a failing track_script lowers the priority (weight -60) and moves the VIP; recovery moves it back', async () => {
    lab.writeFile('a-ok', '');
    await import('node:fs').then((fs) => fs.rmSync(`${lab.dir}/a-ok`));
    const moved = await waitFor(() => vipOn('b') && !vipOn('a'), EVENTUALLY_MS);
    expect(moved, lab.dump()).toBeDefined();
    const sa = (await status(a.statusSock))!.instances[0]!;
    expect(sa).toMatchObject({ state: 'BACKUP', priority: 90 });
    expect(await stateOf(b.statusSock)).toBe('MASTER');
    lab.writeFile('a-ok', '');
    expect(await waitFor(() => vipOn('a') && !vipOn('b'), EVENTUALLY_MS)).toBeDefined();
    expect((await status(a.statusSock))!.instances[0]).toMatchObject({ state: 'MASTER', priority: 150 });
  });

  it('track_interface with a weight: the tracked link going down lowers the priority and moves the VIP', async () => {
    lab.exec('a', 'ip', ['link', 'set', 'dum1', 'down']);
    expect(await waitFor(() => vipOn('b') && !vipOn('a'), EVENTUALLY_MS), lab.dump()).toBeDefined();
    expect((await status(a.statusSock))!.instances[0]).toMatchObject({ state: 'BACKUP', priority: 90 });
    lab.exec('a', 'ip', ['link', 'set', 'dum1', 'up']);
    expect(await waitFor(() => vipOn('a') && !vipOn('b'), EVENTUALLY_MS), lab.dump()).toBeDefined();
    expect((await status(a.statusSock))!.instances[0]).toMatchObject({ state: 'MASTER', priority: 150 });
  });

  it('link down on the master: FAULT with notify_fault, the backup takes over; link up: BACKUP, then preempts', async () => {
    lab.setPort('a', false);
    expect(await waitFor(async () => (await stateOf(a.statusSock)) === 'FAULT', EVENTUALLY_MS), lab.dump()).toBeDefined();
    expect(await waitFor(() => vipOn('b') && !vipOn('a'), MDI_B_MS + SLACK_MS)).toBeDefined();
    expect(await waitFor(() => notes('a').includes('notify_fault') && notes('a').includes('INSTANCE VI_1 FAULT'), EVENTUALLY_MS)).toBeDefined();
    lab.setPort('a', true);
    expect(await waitFor(async () => (await stateOf(a.statusSock)) === 'MASTER', EVENTUALLY_MS), lab.dump()).toBeDefined();
    expect(await waitFor(() => !vipOn('b'), EVENTUALLY_MS)).toBeDefined();
  });

  it('graceful stop: priority 0 advert, the backup takes over after Skew_Time, notify_stop runs', async () => {
    lab.kill(a, 'SIGTERM');
    const code = await a.exited;
    expect(code).toBe(0);
    expect(vipOn('a')).toBe(false);
    const moved = await waitFor(() => vipOn('b'), EVENTUALLY_MS, 10);
    expect(moved).toBeDefined();
    // Skew_Time(100) = 0.061 s; well below Master_Down_Interval even with process exit time included.
    const sb = (await status(b.statusSock))!.instances[0]!;
    expect((sb['counters'] as { priorityZeroReceived: number }).priorityZeroReceived).toBeGreaterThan(0);
    expect((sb['lastTransition'] as { reason: string }).reason).toBe(`master ${lab.ip(1)} sent priority 0 (stopping); took over after Skew_Time (0.061 s)`);
    expect(notes('a')).toContain('notify_stop');
    expect(notes('a')).toContain('INSTANCE VI_1 STOP');
    await sleep(10);
  });
});
