import { describe, expect, it } from 'vitest';
import type { GarpOps } from './arp.ts';
import { parseConfig } from './config.ts';
import { VrrpInstance } from './instance.ts';
import type { NotifyOps } from './notify.ts';
import { checkPacket, decodeIpv4, encodeAdvert, encodeIpv4, PacketCheck } from './packet.ts';
import { FakeClock } from './scheduler.ts';
import type { VipOps } from './vip.ts';

const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

function setup(extra = '') {
  const config = parseConfig(`vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 9
    version 3
    priority 100
    advert_int 0.1
    virtual_ipaddress {
        10.9.9.100/24
    }
    notify_master "/bin/nm"
    notify_stop "/bin/ns"
    notify /bin/n
${extra}}`);
  const clock = new FakeClock();
  const events: string[] = [];
  const sent: { pkt: Buffer; dst: string }[] = [];
  const vips: VipOps = {
    add: async (v) => (events.push(`add ${v.map((x) => x.address).join(',')}`), []),
    remove: async (v) => (events.push(`del ${v.map((x) => x.address).join(',')}`), []),
  };
  const garp: GarpOps = { send: async (v, _d, n) => void events.push(`garp ${n}x${v.length}`) };
  const notify: NotifyOps = { run: (argv) => events.push(`notify ${argv.join(' ')}`) };
  const logs: string[] = [];
  const inst = new VrrpInstance(config.instances[0]!, config.global, '10.9.9.2', {
    clock,
    transport: { send: (pkt, dst) => sent.push({ pkt, dst }) },
    vips,
    garp,
    notify,
    log: (m) => logs.push(m),
    detail: (m) => logs.push(`detail: ${m}`),
    wallNow: () => new Date(0),
  });
  return { inst, clock, events, sent, logs };
}

function advertFrom(src: string, priority: number, vrid = 9, addresses = ['10.9.9.100']): Buffer {
  const msg = encodeAdvert(
    { version: 3, vrid, priority, intervalCs: 10, addresses, authType: 0, authData: '' },
    { src, dst: '224.0.0.18' },
  );
  return encodeIpv4(msg, src, '224.0.0.18', 1);
}

describe('VrrpInstance runtime with a fake clock and fake ports', () => {
  it('takes over after Master_Down_Interval: GARPs, advert, VIPs, then notify; second GARP burst after 5 s', async () => {
    const { inst, clock, events, sent } = setup();
    inst.start();
    expect(inst.state.state).toBe('BACKUP');
    await flush();
    clock.advance(360);
    expect(inst.state.state).toBe('BACKUP'); // MDI(100) at 0.1 s = 361 ms
    clock.advance(362);
    expect(inst.state.state).toBe('MASTER');
    await flush();
    expect(events).toEqual([
      'notify /bin/n INSTANCE VI_1 BACKUP 100',
      'garp 5x1',
      'add 10.9.9.100',
      'notify /bin/nm',
      'notify /bin/n INSTANCE VI_1 MASTER 100',
    ]);
    const first = sent[0]!;
    expect(first.dst).toBe('224.0.0.18');
    const ip = decodeIpv4(first.pkt)!;
    expect(ip).toMatchObject({ ttl: 255, protocol: 112, src: '10.9.9.2', dst: '224.0.0.18' });
    const c = checkPacket(first.pkt, {
      version: 3, vrid: 9, unicast: false, authType: 0, authPass: '', intervalCs: 10, v3ChecksumAsV2: false, ownAddresses: [],
    });
    expect(c.check).toBe(PacketCheck.OK);
    expect(c.advert).toMatchObject({ priority: 100, intervalCs: 10, addresses: ['10.9.9.100'] });
    clock.advance(1362);
    expect(sent.length).toBe(11); // one at takeover, then every 100 ms
    clock.advance(5362);
    await flush();
    expect(events.filter((e) => e.startsWith('garp'))).toHaveLength(2);
  });

  it('a higher priority advert makes the master step down and remove its VIPs; invalid ones are only counted', async () => {
    const { inst, clock, events, logs } = setup();
    inst.start();
    clock.advance(400);
    expect(inst.state.state).toBe('MASTER');
    const bad = advertFrom('10.9.9.3', 200);
    bad[8] = 64; // TTL
    inst.onPacket(bad);
    expect(inst.state.state).toBe('MASTER');
    expect(inst.counters.invalid).toEqual({ bad_ttl: 1 });
    expect(logs.some((l) => /dropped invalid advert from 10\.9\.9\.3: bad_ttl/.test(l))).toBe(true);
    inst.onPacket(advertFrom('10.9.9.3', 200));
    expect(inst.state.state).toBe('BACKUP');
    expect(inst.counters.invalid).toEqual({ bad_ttl: 1 });
    await flush();
    expect(events).toContain('del 10.9.9.100');
    expect(inst.status()).toMatchObject({ state: 'BACKUP', master: { ip: '10.9.9.3', priority: 200 } });
    expect(inst.lastTransition).toMatchObject({ from: 'MASTER', to: 'BACKUP' });
    expect(inst.lastTransition!.reason).toMatch(/higher priority 200 > 100/);
  });

  it('adverts listing another VIP set are dropped as keepalived drops them: logged, counted, never acted on', () => {
    const { inst, clock, logs } = setup();
    inst.start();
    clock.advance(400);
    expect(inst.state.state).toBe('MASTER');
    const many = Array.from({ length: 255 }, (_, i) => `10.9.${Math.floor(i / 250)}.${(i % 250) + 1}`);
    for (const addrs of [['10.9.9.101'], ['10.9.9.100', '10.9.9.101'], [], many]) inst.onPacket(advertFrom('10.9.9.3', 254, 9, addrs));
    inst.onPacket(advertFrom('10.9.9.3', 0, 9, ['10.9.9.101']));
    expect(inst.state.state).toBe('MASTER');
    expect(inst.counters.invalid).toEqual({ address_list: 5 });
    expect(inst.counters.advertsReceived).toBe(0);
    expect(inst.counters.priorityZeroReceived).toBe(0);
    expect(logs).toContain('(VI_1) ip address associated with VRID 9 not present in MASTER advert: 10.9.9.100 (from 10.9.9.3, priority 254; dropped) (count 1)');
    expect(logs).toContain('(VI_1) received an unexpected ip number count 2, expected 1! (from 10.9.9.3, priority 254; dropped) (count 2)');
    expect(logs.some((l) => l.includes('unexpected ip number count 0, expected 1!'))).toBe(true);
    expect(logs.some((l) => l.startsWith('detail: (VI_1) received an unexpected ip number count 255, expected 1!'))).toBe(true);
    // The right list from the same router is acted on.
    inst.onPacket(advertFrom('10.9.9.3', 254));
    expect(inst.state.state).toBe('BACKUP');
  });

  it('a backup does not take mismatched adverts as a live master; skip_check_adv_addr exempts the current master', () => {
    const strict = setup();
    strict.inst.start();
    strict.inst.onPacket(advertFrom('10.9.9.3', 200));
    for (let t = 100; t <= 400; t += 100) {
      strict.clock.advance(t);
      strict.inst.onPacket(advertFrom('10.9.9.3', 200, 9, ['10.9.9.101']));
    }
    expect(strict.inst.state.state).toBe('MASTER'); // the master's adverts stopped counting at t=0
    const lax = setup('    skip_check_adv_addr\n');
    lax.inst.start();
    lax.inst.onPacket(advertFrom('10.9.9.3', 200));
    for (let t = 100; t <= 400; t += 100) {
      lax.clock.advance(t);
      lax.inst.onPacket(advertFrom('10.9.9.3', 200, 9, ['10.9.9.101']));
    }
    expect(lax.inst.state.state).toBe('BACKUP');
    lax.inst.onPacket(advertFrom('10.9.9.4', 200, 9, ['10.9.9.101'])); // another router: checked
    expect(lax.inst.counters.invalid).toEqual({ address_list: 1 });
  });

  it('shutdown as master: priority 0 advert, VIPs removed, notify_stop', async () => {
    const { inst, clock, events, sent } = setup();
    inst.start();
    clock.advance(400);
    await flush();
    events.length = 0;
    await inst.shutdown();
    const last = sent.at(-1)!;
    expect(last.pkt[22]).toBe(0); // priority byte of the VRRP header
    expect(events).toEqual(['del 10.9.9.100', 'notify /bin/ns', 'notify /bin/n INSTANCE VI_1 STOP 100']);
    expect(inst.counters.priorityZeroSent).toBe(1);
  });

  it('unicast: one advert per peer, to the peer', () => {
    const { inst, clock, sent } = setup('    unicast_src_ip 10.9.9.2\n    unicast_peer {\n        10.9.9.3\n        10.9.9.4\n    }\n');
    inst.start();
    clock.advance(400);
    expect(sent.map((s) => s.dst)).toEqual(['10.9.9.3', '10.9.9.4']);
    expect(decodeIpv4(sent[1]!.pkt)!.dst).toBe('10.9.9.4');
  });

  it('garp_master_delay / garp_master_refresh / refresh_repeat; no GARPs once backup', async () => {
    const { inst, clock, events } = setup('    garp_master_delay 2\n    garp_master_repeat 3\n    garp_master_refresh 3\n    garp_master_refresh_repeat 1\n');
    inst.start();
    clock.advance(400); // master at ~361 ms: burst of 3
    await flush();
    clock.advance(400 + 2000); // + delay: burst of 3
    await flush();
    clock.advance(400 + 3000); // refresh: 1
    await flush();
    clock.advance(400 + 6000); // refresh: 1
    await flush();
    expect(events.filter((e) => e.startsWith('garp'))).toEqual(['garp 3x1', 'garp 3x1', 'garp 1x1', 'garp 1x1']);
    // Step down just before the next refresh (due at ~9361 ms); it must not fire (MDI ends at ~9661 ms).
    clock.advance(9300);
    inst.onPacket(advertFrom('10.9.9.3', 200));
    expect(inst.state.state).toBe('BACKUP');
    clock.advance(9600);
    await flush();
    expect(events.filter((e) => e.startsWith('garp'))).toHaveLength(4);
  });
});
