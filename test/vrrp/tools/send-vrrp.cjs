// send-vrrp.cjs IFNAME REPEAT INTERVAL_MS HEX...: send each whole IPv4 packet (hex, header included) out of
// IFNAME to its own destination address, REPEAT times every INTERVAL_MS, through a raw IP_HDRINCL socket.
// For the VRRP tests that feed crafted adverts (wrong address lists, empty packets) to vrrpd and keepalived.
const raw = require(require('node:path').join(__dirname, '../../../node_modules/raw-socket'));
const fs = require('node:fs');
const [ifname, repeat, interval, ...hexes] = process.argv.slice(2);
const s = raw.createSocket({ protocol: 112 });
const dev = Buffer.from(`${ifname}\0`);
s.setOption(1, 25, dev, dev.length); // SO_BINDTODEVICE
s.setOption(0, 3, 1); // IP_HDRINCL
const m = Buffer.alloc(12);
m.writeInt32LE(Number(fs.readFileSync(`/sys/class/net/${ifname}/ifindex`, 'utf8')), 8);
s.setOption(0, 32, m, 12); // IP_MULTICAST_IF (ip_mreqn with the interface index)
const pkts = hexes.map((h) => Buffer.from(h, 'hex'));
let left = Number(repeat);
const tick = () => {
  for (const p of pkts) s.wrap.send(p, 0, p.length, `${p[16]}.${p[17]}.${p[18]}.${p[19]}`, () => undefined);
  if (--left > 0) setTimeout(tick, Number(interval));
  else setTimeout(() => process.exit(0), 50);
};
tick();
