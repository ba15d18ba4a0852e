// channel.flow(active=false) as RabbitMQ 3.10 answers it (540 NOT_IMPLEMENTED, a connection error), and every
// connection-level close logged with its reason, as RabbitMQ logs them (rabbit_reader's "Error on AMQP connection ...
// operation X caused a connection exception Y: "text"", rabbit_networking's "Closing connection ... because ...").
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startBroker, type RunningBroker } from '../../packages/broker/src/index.ts';
import { startManagement, type RunningManagement } from '../../packages/broker/src/mgmt/index.ts';
import { RawClient, method, Enc, isMethod, waitFor, ON_REF, REF_URL } from './helpers.ts';

const lines: string[] = [];
let b: RunningBroker;
let m: RunningManagement;
let port = 0;
let host = '127.0.0.1';
beforeAll(async () => {
  if (ON_REF) {
    const u = new URL(REF_URL!);
    port = Number(u.port || 5672);
    host = u.hostname;
    return;
  }
  b = await startBroker({ port: 0, log: (l) => lines.push(l) });
  m = await startManagement(b.broker, { port: 0 });
  port = b.port;
});
afterAll(async () => {
  await m?.close();
  await b?.close();
});

async function client(vhost = '/'): Promise<RawClient> {
  const r = await RawClient.connect(port, host);
  await r.start();
  await r.login();
  await r.open(r.tune, vhost);
  return r;
}

const logged = (re: RegExp): Promise<void> => waitFor(() => lines.some((l) => re.test(l)), 3000, `a log line matching ${re}`);

describe('channel.flow', () => {
  it('active=true is answered with flow-ok; active=false closes the connection with 540 NOT_IMPLEMENTED', async () => {
    const r = await client();
    try {
      await r.openChannel(1);
      r.send(method(1, 20, 20, new Enc().bits(true).buf()));
      const ok = await r.expect(isMethod(20, 21, 1));
      expect(ok.payload.readUInt8(4)).toBe(1);
      r.send(method(1, 20, 20, new Enc().bits(false).buf()));
      const close = await r.expectConnectionClose();
      expect(close).toEqual({ code: 540, text: 'NOT_IMPLEMENTED - active=false', classId: 20, methodId: 20 });
      if (!ON_REF) await logged(/^Error on AMQP connection .*, channel 1:\n operation channel\.flow caused a connection exception not_implemented: "active=false"$/);
    } finally {
      r.destroy();
    }
  });
});

describe.skipIf(ON_REF)('connection-level closes are logged with their reason', () => {
  it('503 (an invalid exchange type) and 530 (a vhost the user may not open)', async () => {
    const r = await client();
    try {
      await r.openChannel(3);
      r.send(method(3, 40, 10, new Enc().short(0).shortstr('x').shortstr('nosuchtype').bits(false, false, false, false, false).table({}).buf()));
      expect((await r.expectConnectionClose()).code).toBe(503);
      await logged(/channel 3:\n operation exchange\.declare caused a connection exception command_invalid: "unknown exchange type 'nosuchtype'"$/);
    } finally {
      r.destroy();
    }
    const r2 = await RawClient.connect(port, host);
    try {
      await r2.start();
      const tune = await r2.login();
      r2.send(method(0, 10, 31, new Enc().short(tune.channelMax).long(tune.frameMax).short(0).buf()));
      r2.send(method(0, 10, 40, new Enc().shortstr('no-such-vhost').shortstr('').bits(false).buf()));
      expect((await r2.expectConnectionClose()).code).toBe(530);
      await logged(/channel 0:\n operation connection\.open caused a connection exception not_allowed: ".*no-such-vhost.*"$/);
    } finally {
      r2.destroy();
    }
  });

  it('a close through the management API logs the reason given', async () => {
    const r = await client();
    try {
      let name = '';
      await waitFor(async () => {
        const res = await fetch(`http://127.0.0.1:${m.port}/api/connections`, { headers: { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}` } });
        const list = (await res.json()) as { name: string }[];
        name = list[0]?.name ?? '';
        return name !== '';
      }, 3000, 'the connection listed');
      const res = await fetch(`http://127.0.0.1:${m.port}/api/connections/${encodeURIComponent(name)}`, {
        method: 'DELETE',
        headers: { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}`, 'x-reason': 'maintenance window' },
      });
      expect(res.status).toBe(204);
      const close = await r.expectConnectionClose();
      expect(close.code).toBe(320);
      await logged(/^Closing connection .* because "maintenance window"$/);
      await logged(/operation none caused a connection exception connection_forced: "maintenance window"$/);
    } finally {
      r.destroy();
    }
  });
});
