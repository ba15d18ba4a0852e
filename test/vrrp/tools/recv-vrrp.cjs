const raw = require(require('node:path').join(__dirname, '../../../node_modules/raw-socket'));
const s = raw.createSocket({protocol: 112});
const ifname = process.argv[2];
// IP_ADD_MEMBERSHIP = 35, ip_mreqn
const idx = Number(require('fs').readFileSync(`/sys/class/net/${ifname}/ifindex`, 'utf8'));
const b = Buffer.alloc(12); b.set([224,0,0,18],0); b.writeInt32LE(idx, 8);
s.setOption(0, 35, b, 12);
s.on('message', (buf, src) => { console.log(JSON.stringify({src, hex: buf.toString('hex')})); });
setTimeout(()=>process.exit(0), Number(process.argv[3]||3000));
