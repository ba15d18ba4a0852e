import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  checkPacket,
  decodeAdvert,
  decodeIpv4,
  encodeAdvert,
  encodeIpv4,
  PacketCheck,
  VRRP_AUTH_NONE,
  VRRP_AUTH_PASS,
  type ReceiverExpectations,
} from './packet.ts';

const captures = JSON.parse(
  readFileSync(new URL('../../../test/vrrp/fixtures/keepalived-captures.json', import.meta.url), 'utf8'),
) as Record<string, { hex: string }>;
const cap = (name: string): Buffer => Buffer.from(captures[name]!.hex, 'hex');

function expectFor(pkt: Buffer, over: Partial<ReceiverExpectations> = {}): ReceiverExpectations {
  const ip = decodeIpv4(pkt)!;
  const a = decodeAdvert(pkt.subarray(ip.headerLength))!;
  return {
    version: a.version,
    vrid: a.vrid,
    unicast: ip.dst !== '224.0.0.18',
    authType: a.authType,
    authPass: a.authData,
    intervalCs: a.intervalCs,
    v3ChecksumAsV2: false,
    ownAddresses: [],
    ...over,
  };
}

describe('packet codec against captured keepalived 2.2.7 adverts', () => {
  it('decodes a v2 multicast advert with PASS auth', () => {
    const pkt = cap('v2_multicast_pass_auth');
    const ip = decodeIpv4(pkt)!;
    expect(ip).toMatchObject({ ttl: 255, protocol: 112, src: '10.213.99.1', dst: '224.0.0.18' });
    const a = decodeAdvert(pkt.subarray(ip.headerLength))!;
    expect(a).toEqual({
      version: 2,
      vrid: 51,
      priority: 100,
      intervalCs: 100,
      addresses: ['10.213.99.100', '10.213.99.101'],
      authType: VRRP_AUTH_PASS,
      authData: '1111',
    });
    expect(checkPacket(pkt, expectFor(pkt)).check).toBe(PacketCheck.OK);
  });

  it('re-encodes every captured advert byte for byte (VRRP part and IP header)', () => {
    for (const name of Object.keys(captures).filter((k) => !k.startsWith('_'))) {
      const pkt = cap(name);
      const ip = decodeIpv4(pkt)!;
      const a = decodeAdvert(pkt.subarray(ip.headerLength))!;
      const msg = encodeAdvert(a, { src: ip.src, dst: ip.dst });
      expect(msg.toString('hex'), name).toBe(pkt.subarray(ip.headerLength).toString('hex'));
      const id = pkt.readUInt16BE(4);
      expect(encodeIpv4(msg, ip.src, ip.dst, id).toString('hex'), name).toBe(pkt.toString('hex'));
    }
  });

  it('decodes v3 multicast with centisecond interval and a v3 pseudo-header checksum', () => {
    const pkt = cap('v3_multicast');
    const a = decodeAdvert(pkt.subarray(20))!;
    expect(a).toMatchObject({ version: 3, vrid: 52, priority: 150, intervalCs: 50, addresses: ['10.213.99.110'] });
    expect(checkPacket(pkt, expectFor(pkt)).check).toBe(PacketCheck.OK);
    // keepalived 2.2.7 sums the pseudo-header: a v3_checksum_as_v2 receiver refuses it.
    expect(checkPacket(pkt, expectFor(pkt, { v3ChecksumAsV2: true })).check).toBe(PacketCheck.BAD_CHECKSUM);
  });

  it('v3 unicast checksum uses the unicast destination in the pseudo-header', () => {
    const pkt = cap('v3_unicast');
    expect(decodeIpv4(pkt)!.dst).toBe('10.213.99.2');
    expect(checkPacket(pkt, expectFor(pkt)).check).toBe(PacketCheck.OK);
  });

  it('priority 0 adverts from a stopping keepalived decode as priority 0', () => {
    for (const n of ['v2_multicast_priority0_on_stop', 'v3_multicast_priority0_on_stop', 'v2_unicast_priority0_on_stop']) {
      const pkt = cap(n);
      const c = checkPacket(pkt, expectFor(pkt));
      expect(c.check, n).toBe(PacketCheck.OK);
      expect(c.advert!.priority, n).toBe(0);
    }
  });

  it('v3_checksum_as_v2 round-trips', () => {
    const msg = encodeAdvert(
      { version: 3, vrid: 7, priority: 10, intervalCs: 10, addresses: ['10.0.0.1'], authType: 0, authData: '' },
      { src: '10.0.0.2', dst: '224.0.0.18', v3ChecksumAsV2: true },
    );
    const pkt = encodeIpv4(msg, '10.0.0.2', '224.0.0.18', 1);
    expect(checkPacket(pkt, expectFor(pkt, { v3ChecksumAsV2: true })).check).toBe(PacketCheck.OK);
    expect(checkPacket(pkt, expectFor(pkt)).check).toBe(PacketCheck.BAD_CHECKSUM);
  });
});

describe('receive checks (RFC 3768 §7.1, RFC 5798 §7.1)', () => {
  const base = cap('v2_multicast_pass_auth');
  const exp = expectFor(base);
  const mutate = (f: (b: Buffer) => void): Buffer => {
    const b = Buffer.from(base);
    f(b);
    return b;
  };
  const refix = (b: Buffer): Buffer => {
    // Recompute the VRRP checksum after editing the message.
    b.writeUInt16BE(0, 26);
    const a = b.subarray(20);
    let s = 0;
    for (let i = 0; i < a.length; i += 2) s += (a[i]! << 8) | (a[i + 1] ?? 0);
    while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
    b.writeUInt16BE(~s & 0xffff, 26);
    return b;
  };

  it.each([
    ['TTL not 255', mutate((b) => (b[8] = 64)), PacketCheck.BAD_TTL],
    ['bad checksum', mutate((b) => (b[27] = b[27]! ^ 1)), PacketCheck.BAD_CHECKSUM],
    ['version 3 on a v2 instance', refix(mutate((b) => (b[20] = 0x31))), PacketCheck.BAD_VERSION],
    ['type 2', refix(mutate((b) => (b[20] = 0x22))), PacketCheck.BAD_TYPE],
    ['another vrid', refix(mutate((b) => (b[21] = 52))), PacketCheck.OTHER_VRID],
    ['auth type none', refix(mutate((b) => (b[24] = VRRP_AUTH_NONE))), PacketCheck.BAD_AUTH_TYPE],
    ['wrong password', refix(mutate((b) => (b[36] = 0x32))), PacketCheck.BAD_AUTH],
    ['advert interval 2 s', refix(mutate((b) => (b[25] = 2))), PacketCheck.BAD_INTERVAL],
    ['truncated', base.subarray(0, 30), PacketCheck.BAD_LENGTH],
    ['runt', base.subarray(0, 10), PacketCheck.TOO_SHORT],
  ])('%s', (_name, pkt, want) => {
    expect(checkPacket(pkt, exp).check).toBe(want);
  });

  it('unicast mode does not require TTL 255', () => {
    const pkt = mutate((b) => (b[8] = 64));
    expect(checkPacket(pkt, { ...exp, unicast: true }).check).toBe(PacketCheck.OK);
  });

  it('drops our own looped-back adverts', () => {
    expect(checkPacket(base, { ...exp, ownAddresses: ['10.213.99.1'] }).check).toBe(PacketCheck.OWN_PACKET);
  });
});

describe('fuzz: the receive path never throws', () => {
  it('random bytes and random mutations of real adverts', () => {
    let seed = 12345;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const base = cap('v2_multicast_pass_auth');
    const exp = expectFor(base);
    for (let i = 0; i < 5000; i++) {
      let pkt: Buffer;
      if (i % 2 === 0) {
        pkt = Buffer.alloc(rnd(80));
        for (let j = 0; j < pkt.length; j++) pkt[j] = rnd(256);
        if (pkt.length > 0 && i % 4 === 0) pkt[0] = 0x45;
      } else {
        pkt = Buffer.from(base.subarray(0, rnd(base.length + 1)));
        for (let k = 0; k < 3; k++) if (pkt.length > 0) pkt[rnd(pkt.length)] = rnd(256);
      }
      const r = checkPacket(pkt, exp);
      expect(Object.values(PacketCheck)).toContain(r.check);
    }
  });
});
