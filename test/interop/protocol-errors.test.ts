// Hard errors (AMQP 0-9-1 §1.9 reply codes 5xx) provoked with hand-built frames on a raw socket: each must end in
// connection.close with the right code, and the broker must close the socket after our close-ok.
import { describe, it, expect, beforeAll, afterAll, afterEach } from 'vitest';
import { startTarget, RawClient, method, frame, Enc, args, contentHeader, body, isMethod, FRAME_METHOD, FRAME_BODY, type Target } from './helpers.ts';

let t: Target;
const raws: RawClient[] = [];

beforeAll(async () => {
  t = await startTarget();
});
afterEach(() => {
  for (const r of raws.splice(0)) r.destroy();
});
afterAll(async () => {
  await t.close();
});

/** A handshaken raw connection with channel 1 open. */
async function ready(): Promise<RawClient> {
  const r = await RawClient.connect(t.port, t.host);
  raws.push(r);
  await r.handshake();
  await r.openChannel(1);
  return r;
}

async function expectHardError(r: RawClient, code: number): Promise<void> {
  const c = await r.expectConnectionClose();
  expect(c.code, c.text).toBe(code);
  await r.waitClosed(4000);
}

describe('hard errors close the connection with the right reply code', () => {
  it('501 FRAME_ERROR: a frame whose end octet is not 0xCE', async () => {
    const r = await ready();
    r.send(frame(FRAME_METHOD, 2, new Enc().short(20).short(10).shortstr('').buf(), 0x00));
    await expectHardError(r, 501);
  });

  it('501 FRAME_ERROR: a frame larger than the negotiated frame_max', async () => {
    const r = await ready();
    const size = r.tune.frameMax + 100;
    r.send(method(1, 60, 40, args.basicPublish('', 'nowhere')), contentHeader(1, size));
    r.send(frame(FRAME_BODY, 1, Buffer.alloc(size)));
    await expectHardError(r, 501);
  });

  it('a method frame whose arguments are truncated is a hard frame/syntax error (RabbitMQ: 501)', async () => {
    const r = await ready();
    // queue.declare: reserved short, then a shortstr that claims 50 bytes but has 3
    r.send(frame(FRAME_METHOD, 1, Buffer.concat([new Enc().short(50).short(10).short(0).octet(50).buf(), Buffer.from('abc')])));
    // RabbitMQ 3.10 answers 501 FRAME_ERROR "cannot decode"; Warren answers 502 SYNTAX_ERROR (see the report)
    const c = await r.expectConnectionClose();
    expect([501, 502]).toContain(c.code);
    await r.waitClosed(4000);
  });

  it('503 COMMAND_INVALID: exchange.declare of an unknown exchange type', async () => {
    const r = await ready();
    r.send(method(1, 40, 10, new Enc().short(0).shortstr('x-bogus-type').shortstr('bogus').bits(false, false, false, false, false).table({}).buf()));
    const c = await r.expectConnectionClose();
    expect(c.code).toBe(503);
    expect([c.classId, c.methodId]).toEqual([40, 10]);
  });

  it('504 CHANNEL_ERROR: connection.open or tune-ok again after the connection is open', async () => {
    const r = await ready();
    r.send(method(0, 10, 40, new Enc().shortstr('/').shortstr('').octet(0).buf()));
    await expectHardError(r, 504);
    const r2 = await ready();
    r2.send(method(0, 10, 31, new Enc().short(0).long(131072).short(0).buf()));
    await expectHardError(r2, 504);
  });

  it('505 UNEXPECTED_FRAME: a heartbeat frame on a non-zero channel', async () => {
    const r = await ready();
    r.send(frame(8, 1, Buffer.alloc(0)));
    await expectHardError(r, 505);
  });

  it('504 CHANNEL_ERROR: a method on a channel that was never opened', async () => {
    const r = await ready();
    r.send(method(5, 50, 10, args.queueDeclare('x-on-unopened-channel')));
    await expectHardError(r, 504);
  });

  it('504 CHANNEL_ERROR: channel.open twice on the same channel', async () => {
    const r = await ready();
    r.send(method(1, 20, 10, new Enc().shortstr('').buf()));
    await expectHardError(r, 504);
  });

  it('504 CHANNEL_ERROR: a channel or queue method sent on channel 0', async () => {
    const r = await ready();
    r.send(method(0, 20, 10, new Enc().shortstr('').buf()));
    await expectHardError(r, 504);
    const r2 = await ready();
    r2.send(method(0, 50, 10, args.queueDeclare('on-channel-zero')));
    await expectHardError(r2, 504);
  });

  it('505 UNEXPECTED_FRAME: a body frame without a content header', async () => {
    const r = await ready();
    r.send(body(1, 'orphan body'));
    await expectHardError(r, 505);
  });

  it('505 UNEXPECTED_FRAME: a method where the content header of a publish should be', async () => {
    const r = await ready();
    r.send(method(1, 60, 40, args.basicPublish('', 'nowhere')));
    r.send(method(1, 60, 10, args.basicQos(0, 1, false)));
    await expectHardError(r, 505);
  });

  it('540 NOT_IMPLEMENTED: basic.qos with prefetch_size != 0, naming basic.qos', async () => {
    const r = await ready();
    r.send(method(1, 60, 10, args.basicQos(1024, 0, false)));
    const c = await r.expectConnectionClose();
    expect(c.code).toBe(540);
    expect([c.classId, c.methodId]).toEqual([60, 10]);
    await r.waitClosed(4000);
  });

  it('540 NOT_IMPLEMENTED: basic.publish with immediate=true', async () => {
    const r = await ready();
    r.send(method(1, 60, 40, args.basicPublish('', 'nowhere', false, true)), contentHeader(1, 2), body(1, 'hi'));
    await expectHardError(r, 540);
  });

  it('540 NOT_IMPLEMENTED: basic.recover with requeue=false', async () => {
    const r = await ready();
    r.send(method(1, 60, 110, new Enc().bits(false).buf()));
    await expectHardError(r, 540);
  });

  it('a soft error closes only the channel: the connection and other channels keep working', async () => {
    const r = await ready();
    await r.openChannel(2);
    r.send(method(1, 50, 10, args.queueDeclare('no-such-queue-passive', { passive: true })));
    const c = await r.expectChannelClose(1);
    expect(c.code).toBe(404);
    expect([c.classId, c.methodId]).toEqual([50, 10]);
    r.send(method(2, 50, 10, args.queueDeclare('', { exclusive: true })));
    await r.expect(isMethod(50, 11, 2), 3000, 'queue.declare-ok on channel 2');
    // the closed channel number can be opened again after close-ok
    await r.openChannel(1);
    expect(r.closed).toBe(false);
  });
});
