// tx.commit-ok only once the transaction's messages are as safe as a confirm would make them: a commit waits for
// the disc write of its persistent messages, and one whose write fails is not acknowledged (541, channel closed).
import { afterEach, describe, expect, it } from 'vitest';
import { AMQPClient } from '@cloudamqp/amqp-client';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startBroker, type RunningBroker } from '../../packages/broker/src/index.ts';
import { SegmentStore } from '../../packages/broker/src/store/segment-store.ts';
import { FaultFs } from '../../packages/broker/src/store/fault-fs.ts';
import { MemoryDefinitionsStore } from '../../packages/broker/src/store/definitions-store.ts';
import { rejectionCode, waitFor } from '../interop/helpers.ts';

let broker: RunningBroker | null = null;
let dir = '';
afterEach(async () => {
  await broker?.close();
  broker = null;
  rmSync(dir, { recursive: true, force: true });
});

describe('tx.commit and the disc', () => {
  it('sends commit-ok only after the persistent messages are written, and closes the channel with 541 when the write fails', async () => {
    dir = mkdtempSync(join(tmpdir(), 'warren-tx-'));
    const fs = new FaultFs();
    const messages = new SegmentStore(dir, { fs, log: () => {} });
    broker = await startBroker({ stores: { messages, definitions: new MemoryDefinitionsStore() } });
    const conn = await new AMQPClient(broker.url).connect();
    const ch = await conn.channel();
    await ch.queueDeclare('txq', { durable: true });
    await ch.txSelect();
    await ch.basicPublish('', 'txq', 'one', { deliveryMode: 2 });
    fs.writes = ['hold'];
    let committed = false;
    const commit = ch.txCommit().then(() => void (committed = true));
    await waitFor(() => fs.holding > 0, 10_000, 'the commit to reach the disc');
    await new Promise((r) => setTimeout(r, 200));
    expect(committed).toBe(false);
    fs.release();
    await commit;
    expect(committed).toBe(true);

    await ch.basicPublish('', 'txq', 'two', { deliveryMode: 2 });
    fs.writes = ['EIO'];
    expect(await rejectionCode(ch.txCommit())).toBe(541);
    await conn.close();
  });
});
