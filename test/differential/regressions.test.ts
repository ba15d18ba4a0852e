// Differences the differential tester found between Warren and RabbitMQ 3.10, each shrunk to a few operations and
// kept here with what RabbitMQ 3.10 answered (the lines are the tester's observations). They run on Warren alone.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Op } from './ops.ts';
import { observe } from './differ.ts';
import { startWarren, type RunningTarget } from './targets.ts';

let warren: RunningTarget;
beforeAll(async () => {
  warren = await startWarren();
});
afterAll(async () => {
  await warren.stop();
});

const C = { c: 0, ch: 1 };
const qdecl = (q: string, args: Record<string, unknown> = {}, o: Partial<{ durable: boolean; exclusive: boolean; c: number; ch: number }> = {}): Op =>
  ({ t: 'qdecl', ...C, q, durable: false, exclusive: false, autoDelete: false, passive: false, args, ...o }) as Op;
const xdecl = (x: string, type: string, args: Record<string, unknown> = {}, o: Partial<{ passive: boolean }> = {}): Op =>
  ({ t: 'xdecl', ...C, x, type, durable: false, autoDelete: false, internal: false, passive: false, args, ...o }) as Op;
const pub = (x: string, rk: string, body: string, props: Record<string, unknown> = {}, c = C): Op => ({ t: 'pub', ...c, x, rk, body, props, mandatory: false });
const consume = (q: string, tag: string, c = C, exclusive = false): Op => ({ t: 'consume', ...c, q, tag, noAck: true, exclusive, args: {} });
const count = (q: string, c = C): Op => ({ t: 'count', ...c, q });

async function run(ops: Op[]): Promise<string[]> {
  return observe(warren, ops);
}

describe('matches RabbitMQ 3.10', () => {
  it('bind: a missing source exchange is reported before a missing queue; unbinding what does not exist succeeds', async () => {
    const out = await run([{ t: 'qbind', ...C, q: 'q1', x: 'x1', rk: 'a', args: {} }, { t: 'qunbind', ...C, q: 'q1', x: 'x1', rk: 'a', args: {} }]);
    expect(out).toContain("0 qbind: error 404 NOT_FOUND - no exchange 'x1' in vhost 'VH'");
    expect(out).toContain('1 qunbind: ok');
  });

  it('exchange.declare checks the type first; amq.* cannot be deleted; alternate-exchange must be equivalent', async () => {
    const out = await run([xdecl('x2', 'topic'), xdecl('x2', 'x-unknown'), { t: 'xdel', ...C, x: 'amq.direct', ifUnused: false }, xdecl('x0', 'headers'), xdecl('x0', 'headers', { 'alternate-exchange': 'x1' })]);
    expect(out).toContain("1 xdecl: error 503 COMMAND_INVALID - unknown exchange type 'x-unknown'");
    expect(out).toContain("2 xdel: error 403 ACCESS_REFUSED - deletion of system exchange 'amq.direct' in vhost 'VH' not allowed");
    expect(out).toContain("4 xdecl: error 406 PRECONDITION_FAILED - inequivalent arg 'alternate-exchange' for exchange 'x0' in vhost 'VH': received the value 'x1' of type 'longstr' but current is none");
  });

  it('queue arguments are checked and compared in RabbitMQ\'s order with its wording', async () => {
    const out = await run([
      qdecl('q2', { 'x-dead-letter-exchange': 'nowhere' }),
      qdecl('q2', { 'x-overflow': 'reject-publish-dlx', 'x-dead-letter-exchange': 'x1' }),
      qdecl('q3', { 'x-overflow': 'sometimes', 'x-dead-letter-routing-key': 'q0' }),
      qdecl('q1'),
      qdecl('q1', { 'x-expires': 60000 }),
      qdecl('q4', { 'x-max-length': 'ten' }),
    ]);
    expect(out).toContain("1 qdecl: error 406 PRECONDITION_FAILED - inequivalent arg 'x-dead-letter-exchange' for queue 'q2' in vhost 'VH': received 'x1' but current is 'nowhere'");
    expect(out).toContain("2 qdecl: error 406 PRECONDITION_FAILED - invalid arg 'x-dead-letter-routing-key' for queue 'q3' in vhost 'VH': routing_key_but_no_dlx_defined");
    expect(out).toContain("4 qdecl: error 406 PRECONDITION_FAILED - inequivalent arg 'x-expires' for queue 'q1' in vhost 'VH': received the value '60000' of type 'signedint' but current is none");
    expect(out).toContain("5 qdecl: error 406 PRECONDITION_FAILED - invalid arg 'x-max-length' for queue 'q4' in vhost 'VH': \"expected integer, got longstr\"");
  });

  it('an exclusive queue is never durable; exclusive use is checked before durable', async () => {
    const out = await run([qdecl('q1', { 'x-max-length': 3 }, { durable: true, exclusive: true }), qdecl('q1', {}, { durable: false, exclusive: false })]);
    expect(out).toContain('mgmt queue: {"arguments":{"x-max-length":3},"auto_delete":false,"durable":false,"exclusive":true,"name":"q1"}');
    expect(out.find((l) => l.startsWith('1 qdecl'))).toMatch(/^1 qdecl: error 405 RESOURCE_LOCKED/);
  });

  it('a waiting consumer gets a message an x-max-length 0 queue would drop', async () => {
    const out = await run([qdecl('q0', { 'x-max-length': 0 }), consume('q0', 't2'), pub('', 'q0', 'b29')]);
    expect(out).toContain('deliveries c0.1 t2: tag=1 |q0|b29|r=false|{}');
  });

  it('consumer tag reuse (530) comes before a missing queue; a single-active-consumer queue takes no exclusive consumer', async () => {
    const a = await run([qdecl('q0'), consume('q0', 't2'), consume('q1', 't2')]);
    expect(a).toContain("2 consume: error 530 NOT_ALLOWED - attempt to reuse consumer tag 't2'");
    const b = await run([qdecl('q1', { 'x-single-active-consumer': true }), consume('q1', 't2', { c: 2, ch: 2 }, true)]);
    expect(b).toContain("1 consume: error 403 ACCESS_REFUSED - queue 'q1' in vhost 'VH' in exclusive use");
  });

  it('a connection\'s exclusive queues are gone when its close is answered', async () => {
    const out = await run([qdecl('q0', {}, { exclusive: true, c: 1 }), { t: 'connclose', c: 1 }, count('q0')]);
    expect(out).toContain("2 count: error 404 NOT_FOUND - no queue 'q0' in vhost 'VH'");
  });

  it('expiration 0 behind another message waits, counted; a queue dead-lettering to itself drops at the first pass', async () => {
    const a = await run([qdecl('q1'), pub('', 'q1', 'b6'), pub('', 'q1', 'b21', { expiration: '0' }), count('q1')]);
    expect(a).toContain('3 count: m=2 c=0');
    const b = await run([qdecl('q0', { 'x-dead-letter-exchange': '' }), pub('', 'q0', 'b26', { expiration: '0' }), count('q0')]);
    expect(b).toContain('2 count: m=0 c=0');
  });

  it('a connection the broker closed (540 for flow active=false) has lost its exclusive queues once close-ok is sent', async () => {
    // soak seed 49: Warren deleted them only when the socket had finished closing, so another connection found them
    const out = await run([qdecl('q0', {}, { c: 1 }), qdecl('q4', {}, { exclusive: true, c: 2 }), { t: 'flow', c: 2, ch: 2, active: false }, count('q4', { c: 1, ch: 1 })]);
    expect(out).toContain('2 flow: error 540 NOT_IMPLEMENTED - active=false');
    expect(out).toContain("3 count: error 404 NOT_FOUND - no queue 'q4' in vhost 'VH'");
  });

  it('immediate=true is refused (540, a connection error) before the exchange is looked up', async () => {
    // soak seeds 29, 37: Warren closed the channel with 404 for a missing exchange first
    const out = await run([{ t: 'pub', ...C, x: 'x0', rk: 'a', body: 'b', props: {}, mandatory: false, immediate: true }, count('q0', { c: 1, ch: 1 })]);
    expect(out).toContain('conn c0: closed: 540 connection closed: NOT_IMPLEMENTED - immediate=true');
    expect(out.some((l) => l.includes('no exchange'))).toBe(false);
  });

  it('an unknown x-queue-mode is named in RabbitMQ\'s words', async () => {
    // soak seeds 45, 56, 65: Warren said invalid_queue_mode
    const out = await run([qdecl('q2', { 'x-queue-mode': 'eager' })]);
    expect(out).toContain(`0 qdecl: error 406 PRECONDITION_FAILED - invalid arg 'x-queue-mode' for queue 'q2' in vhost 'VH': "unsupported queue mode 'eager'"`);
  });

  it('a message returned unroutable has lost its BCC header, as a delivered one', async () => {
    // soak seeds 110033, 110118, 200093 and more: Warren returned it with BCC
    const out = await run([{ t: 'pub', ...C, x: 'amq.topic', rk: 'q2', body: 'b19', props: { headers: { BCC: ['b'], h1: 'a' } }, mandatory: true }]);
    expect(out).toContain('returns c0.1: 312 NO_ROUTE amq.topic|q2|b19|r=false|{"headers":{"h1":"a"}}');
  });

  it('x-queue-type classic and no x-queue-type are equivalent on redeclare, both ways', async () => {
    // soak seed 110359: Warren refused with 406 inequivalent arg 'x-queue-type'
    const out = await run([qdecl('q1'), qdecl('q1', { 'x-queue-type': 'classic' }), qdecl('q2', { 'x-queue-type': 'classic' }), qdecl('q2')]);
    expect(out.slice(0, 4)).toEqual(['0 qdecl: m=0 c=0', '1 qdecl: m=0 c=0', '2 qdecl: m=0 c=0', '3 qdecl: m=0 c=0']);
  });

  it('a message of a TTL 0 queue handed straight to a consumer keeps its expiry: requeued, it is gone', async () => {
    // soak seed 200429: Warren delivered it again to the queue's other consumer
    const consumeAck = (q: string, tag: string, c = C): Op => ({ t: 'consume', ...c, q, tag, noAck: false, exclusive: false, args: {} });
    const out = await run([qdecl('q4', { 'x-message-ttl': 0 }), consumeAck('q4', 't0'), pub('', 'q4', 'b1'), consumeAck('q4', 't1', { c: 1, ch: 1 }), { t: 'nack', ...C, which: 0, multiple: false, requeue: true }, count('q4', { c: 2, ch: 1 })]);
    expect(out).toContain('5 count: m=0 c=2');
    expect(out.filter((l) => l.startsWith('deliveries'))).toEqual(['deliveries c0.1 t0: tag=1 |q4|b1|r=false|{}']);
  });

  it('a dead letter keeps its CC header and goes to every key it was published with, unless a dead-letter routing key replaces them', async () => {
    // soak seed 202282: Warren removed CC always, so a queue named in CC did not get the dead letter
    const out = await run([
      qdecl('q4', { 'x-dead-letter-exchange': '' }),
      qdecl('q2'),
      pub('', 'q4', 'b22', { headers: { CC: ['q2'] } }),
      { t: 'get', ...C, q: 'q4', noAck: false },
      { t: 'nack', ...C, which: 0, multiple: false, requeue: false },
      count('q2'),
      { t: 'get', ...C, q: 'q4', noAck: true },
      qdecl('q1', { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': 'q3' }),
      qdecl('q3'),
      pub('', 'q1', 'b23', { headers: { CC: ['q2'] } }),
      { t: 'get', ...C, q: 'q1', noAck: false },
      { t: 'reject', ...C, which: 0, requeue: false },
      { t: 'get', ...C, q: 'q3', noAck: true },
      count('q2', C),
    ]);
    expect(out).toContain('5 count: m=2 c=0');
    expect(out.find((l) => l.startsWith('6 get:'))).toContain('"headers":{"CC":["q2"],"x-death":[{"count":1,"exchange":"","queue":"q4","reason":"rejected","routing-keys":["q4","q2"]}]');
    expect(out.find((l) => l.startsWith('12 get:'))).toContain('|q3|b23|r=false|{"headers":{"x-death":[{"count":1,"exchange":"","queue":"q1","reason":"rejected","routing-keys":["q1","q2"]}]');
    expect(out).toContain('13 count: m=3 c=0');
  });

  it('a new consumer joins the round robin at its tail', async () => {
    const out = await run([qdecl('q2'), pub('', 'q2', 'b5'), consume('q2', 't2', { c: 2, ch: 1 }), consume('q2', 't3'), pub('', 'q2', 'b16'), pub('', 'q2', 'b23')]);
    expect(out).toContain('deliveries c2.1 t2: tag=2 |q2|b16|r=false|{}');
    expect(out).toContain('deliveries c0.1 t3: tag=1 |q2|b23|r=false|{}');
  });
});
