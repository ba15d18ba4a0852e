import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { garpFrame } from './arp.ts';
import { GarpHelper } from './garp-helper.ts';

const noPerl = spawnSync('perl', ['-e', '1']).status !== 0;
// An interface index that does not exist: the helper's send fails with ENODEV and nothing leaves the host.
const NO_SUCH_IFINDEX = 999_999;

describe.skipIf(noPerl)('GarpHelper (perl, AF_PACKET)', () => {
  it('answers each request with the send error (here: no such device); a burst gone stale before the helper was ready is dropped', async () => {
    const failures: string[] = [];
    const h = new GarpHelper((why) => failures.push(why));
    try {
      const frame = garpFrame('02:00:00:00:00:01', '10.0.0.1');
      // Both asked before the helper is up: the stale one is never written, the wanted one is sent once ready.
      const stale = h.send(NO_SUCH_IFINDEX, [frame], 5, () => false);
      const wanted = h.send(NO_SUCH_IFINDEX, [frame], 5, () => true);
      expect(await stale).toBeUndefined();
      const err = await wanted;
      // Without CAP_NET_RAW the socket itself fails and the helper reports that instead.
      if (h.available) expect(err).toMatch(/No such device/);
      else expect(failures.join()).toMatch(/socket\(AF_PACKET\)/);
      if (h.available) expect(await h.send(NO_SUCH_IFINDEX, [frame], 1)).toMatch(/No such device/);
    } finally {
      h.close();
    }
  });
});
