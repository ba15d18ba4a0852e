// vrrpd and keepalived 2.2 side by side, each alone in its own VRRP group on one bridge, fed the same input:
//  - adverts with the right password/VRID but another VIP set (another VIP, an extra one, none, 255 addresses)
//    at priority 254: both drop them, log them and stay MASTER; the same advert with the right list makes both
//    step down (so the crafted adverts are otherwise valid);
//  - an empty VRRP packet (an IPv4 header and nothing else): both log it as too short;
//  - a track_script whose file is missing (weight 0): both disable it and become MASTER (not FAULT);
//  - a weight 2 script: priority 200 at start and in the first notify, 202 once it has succeeded;
//  - a missing notify script: logged at start, never retried at a transition.
// Subnets 10.213.15.0/24 and 10.213.16.0/24. Skipped (with a note) when not root, without `ip netns`, or without
// keepalived.

import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeAdvert, encodeIpv4 } from '../../packages/vrrp/src/packet.ts';
import {
  EVENTUALLY_MS,
  keepalivedUnavailable,
  Lab,
  labUnavailable,
  REPO,
  sleep,
  STARTUP_MS,
  stateOf,
  status,
  TEST_MS,
  waitFor,
  type Proc,
} from './lab.ts';

const why = labUnavailable() ?? keepalivedUnavailable();
if (why !== undefined) console.warn(`[vrrp] skipping vrrpd/keepalived side-by-side tests: ${why}`);
const SENDER = join(REPO, 'test/vrrp/tools/send-vrrp.cjs');

const instance = (vrid: number, vip: string, extra = '', priority = 100): string => `vrrp_instance VI_${vrid} {
    state BACKUP
    interface eth0
    virtual_router_id ${vrid}
    version 3
    priority ${priority}
    advert_int 0.1
    virtual_ipaddress {
        ${vip}/24
    }
${extra}}
`;

describe.skipIf(why !== undefined)('vrrpd and keepalived drop the same adverts', { timeout: TEST_MS }, () => {
  const lab = new Lab('kb', 15);
  const K_VRID = 70;
  const V_VRID = 71;
  let k: Proc;
  let v: Proc & { statusSock: string };
  const send = (packets: Buffer[], repeat = 10): void => {
    const r = spawnSync('ip', ['netns', 'exec', lab.ns('x'), process.execPath, SENDER, 'eth0', String(repeat), '100', ...packets.map((p) => p.toString('hex'))], { encoding: 'utf8', timeout: 60_000 });
    if (r.status !== 0) throw new Error(`send-vrrp: ${r.stderr}`);
  };
  const advert = (vrid: number, priority: number, addresses: string[]): Buffer => {
    const src = lab.ip(66);
    const msg = encodeAdvert({ version: 3, vrid, priority, intervalCs: 10, addresses, authType: 0, authData: '' }, { src, dst: '224.0.0.18' });
    return encodeIpv4(msg, src, '224.0.0.18', 1);
  };
  const kBackups = (): number => (k.output().match(/Entering BACKUP STATE/g) ?? []).length;

  beforeAll(async () => {
    lab.up();
    lab.addNode('k', 1);
    lab.addNode('v', 2);
    lab.addNode('x', 66);
    k = lab.keepalived('k', instance(K_VRID, lab.ip(100)));
    v = lab.vrrpd('v', instance(V_VRID, lab.ip(101)));
    const up = await waitFor(async () => /Entering MASTER STATE/.test(k.output()) && (await stateOf(v.statusSock)) === 'MASTER', STARTUP_MS);
    if (up === undefined) throw new Error(`no masters:\n${lab.dump()}`);
  }, STARTUP_MS + 30_000);
  afterAll(async () => {
    await lab.down();
  });

  it('another VIP, an extra VIP, no VIP, 255 VIPs at priority 254: logged and dropped, both stay MASTER', async () => {
    const many = Array.from({ length: 255 }, (_, i) => `10.213.${17 + Math.floor(i / 250)}.${(i % 250) + 1}`);
    for (const [vrid, vip] of [[K_VRID, lab.ip(100)], [V_VRID, lab.ip(101)]] as const) {
      send([advert(vrid, 254, [lab.ip(102)]), advert(vrid, 254, [vip, lab.ip(102)]), advert(vrid, 254, []), advert(vrid, 254, many)]);
    }
    await sleep(500);
    // keepalived's own lines (vrrp.c, vrrp_check_packet); vrrpd logs the same text.
    const lines = (vrid: number, vip: string): string[] => [
      `(VI_${vrid}) ip address associated with VRID ${vrid} not present in MASTER advert: ${vip}`,
      `(VI_${vrid}) received an unexpected ip number count 2, expected 1!`,
      `(VI_${vrid}) received an unexpected ip number count 0, expected 1!`,
    ];
    for (const l of lines(K_VRID, lab.ip(100))) expect(k.output(), lab.dump()).toContain(l);
    expect(k.output()).not.toMatch(/Entering BACKUP STATE[\s\S]*Entering BACKUP STATE/); // only the initial one
    for (const l of lines(V_VRID, lab.ip(101))) expect(v.output(), lab.dump()).toContain(l);
    const sv = (await status(v.statusSock))!.instances[0]!;
    expect(sv['state']).toBe('MASTER');
    expect((sv['counters'] as { invalid: Record<string, number> }).invalid['address_list']).toBeGreaterThanOrEqual(4);
    expect(lab.hasAddr('v', lab.ip(101))).toBe(true);
    expect(lab.hasAddr('k', lab.ip(100))).toBe(true);
  });

  it('an empty VRRP packet is logged as too short by both', async () => {
    const empty = encodeIpv4(Buffer.alloc(0), lab.ip(66), '224.0.0.18', 2);
    send([empty], 1);
    expect(await waitFor(() => /IPv4 VRRP packet too short - 20 bytes/.test(k.output()), EVENTUALLY_MS), lab.dump()).toBeDefined();
    expect(await waitFor(() => /IPv4 VRRP packet too short - 20 bytes/.test(v.output()), EVENTUALLY_MS), lab.dump()).toBeDefined();
    expect(((await status(v.statusSock)) as unknown as { tooShort: number }).tooShort).toBeGreaterThanOrEqual(1);
  });

  it('the same adverts with the right VIP list make both step down (the crafted adverts are otherwise valid)', async () => {
    send([advert(K_VRID, 254, [lab.ip(100)]), advert(V_VRID, 254, [lab.ip(101)])], 30);
    expect(await waitFor(() => kBackups() >= 2, EVENTUALLY_MS), lab.dump()).toBeDefined(); // after the initial one
    expect(k.output()).toMatch(/Master received advert from 10\.213\.15\.66 with higher priority 254/);
    const sv = (await status(v.statusSock))!.instances[0]!;
    expect(['BACKUP', 'MASTER']).toContain(sv['state']); // it may have taken over again once the sender stopped
    expect(sv['counters']).toMatchObject({ releasedMaster: 1 });
  });
});

describe.skipIf(why !== undefined)('vrrpd and keepalived treat missing and new scripts alike', { timeout: TEST_MS }, () => {
  const lab = new Lab('ks', 16);
  let k: Proc;
  let v: Proc & { statusSock: string };
  const notes = (node: string): string => lab.readFile(`notify-${node}.log`);

  beforeAll(async () => {
    lab.up();
    lab.addNode('k', 1);
    lab.addNode('v', 2);
    const notify = lab.writeFile('notify.sh', `#!/bin/sh\nnode=$1; shift\necho "$*" >> ${lab.dir}/notify-$node.log\n`, 0o755);
    // Succeeds after a while, so the instances are well into BACKUP before it first counts.
    const slow = lab.writeFile('slow-ok.sh', '#!/bin/sh\nsleep 1\nexit 0\n', 0o755);
    const conf = (node: string, vrid: number, vip: string): string => `vrrp_script chk_missing {
    script "/nonexistent/chk.sh"
    interval 1
}
vrrp_script chk_slow {
    script "${slow}"
    interval 2
    timeout 30
    weight 2
}
${instance(
  vrid,
  vip,
  `    track_script {
        chk_missing
        chk_slow
    }
    notify "${notify} ${node}"
    notify_master "/nonexistent/notify.sh master"
`,
  200,
)}`;
    k = lab.keepalived('k', conf('k', 72, lab.ip(100)));
    v = lab.vrrpd('v', conf('v', 73, lab.ip(101)));
    const up = await waitFor(async () => /Entering MASTER STATE/.test(k.output()) && (await stateOf(v.statusSock)) === 'MASTER', STARTUP_MS);
    if (up === undefined) throw new Error(`no masters:\n${lab.dump()}`);
  }, STARTUP_MS + 30_000);
  afterAll(async () => {
    await lab.down();
  });

  it('a missing weight-0 track script is disabled, not a fault: both become MASTER', async () => {
    expect(k.output(), lab.dump()).toContain('Disabling track script chk_missing since not found/accessible');
    expect(v.output(), lab.dump()).toContain('Disabling track script chk_missing since not found/accessible');
    expect(k.output()).not.toMatch(/Entering FAULT STATE/);
    expect(v.output()).not.toMatch(/Entering FAULT STATE/);
  });

  it('a weight 2 script adds nothing before its first success: 200 at start and in notify, then 202', async () => {
    expect(await waitFor(() => notes('k').includes('MASTER') && notes('v').includes('MASTER'), EVENTUALLY_MS), lab.dump()).toBeDefined();
    const first = (node: string): string => notes(node).split('\n')[0]!;
    expect(first('k')).toBe('INSTANCE VI_72 BACKUP 200');
    expect(first('v')).toBe('INSTANCE VI_73 BACKUP 200');
    expect(await waitFor(() => /Changing effective priority from 200 to 202/.test(k.output()), EVENTUALLY_MS), lab.dump()).toBeDefined();
    expect(await waitFor(async () => (await status(v.statusSock))?.instances[0]?.['priority'] === 202, EVENTUALLY_MS), lab.dump()).toBeDefined();
    expect(v.output()).toMatch(/Changing effective priority from 200 to 202/);
  });

  it('a missing notify script is reported at start and not retried at each transition', () => {
    // keepalived drops it when it checks the scripts at start; vrrpd logs that once and never runs it.
    expect(k.output()).not.toMatch(/notify\.sh master.*(No such file|ENOENT)[\s\S]*notify\.sh master.*(No such file|ENOENT)/);
    expect(v.output()).toMatch(/\(VI_73\) Script \/nonexistent\/notify\.sh cannot be accessed - No such file or directory/);
    expect(v.output()).not.toMatch(/notify \/nonexistent\/notify\.sh/);
  });
});
