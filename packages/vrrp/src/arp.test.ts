import { describe, expect, it } from 'vitest';
import { garpFrame } from './arp.ts';

describe('gratuitous ARP frame', () => {
  it("is keepalived's: a broadcast ARP request, sender and target address the VIP, target MAC ff:ff:ff:ff:ff:ff", () => {
    const f = garpFrame('02:00:0a:d5:01:01', '10.213.1.100');
    expect(f.toString('hex')).toBe(
      [
        'ffffffffffff', // Ethernet destination: broadcast
        '02000ad50101', // source: the interface MAC
        '0806', // ARP
        '0001', '0800', '06', '04', '0001', // Ethernet/IPv4, request
        '02000ad50101', '0ad50164', // sender: MAC, VIP
        'ffffffffffff', '0ad50164', // target: broadcast MAC, VIP
      ].join(''),
    );
    expect(() => garpFrame('nope', '10.0.0.1')).toThrow(/not an Ethernet address/);
  });
});
