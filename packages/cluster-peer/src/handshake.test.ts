import { describe, expect, it } from 'vitest';
import { FrameDecoder, FrameKind, packr } from './codec.ts';
import { Handshake, NONCE_BYTES } from './handshake.ts';
import type { AdmitDecision, HandshakeParams, HandshakeStep } from './handshake.ts';
import { SeededRandom } from './random.ts';

const random = new SeededRandom(7);

function party(role: 'initiator' | 'acceptor', cookie: string, extra: Partial<HandshakeParams> = {}): Handshake {
  return new Handshake({
    role,
    localNode: role === 'initiator' ? 'rabbit@a' : 'rabbit@b',
    localIncarnation: role === 'initiator' ? 11 : 22,
    cookie: Buffer.from(cookie),
    nonce: random.bytes(NONCE_BYTES),
    ...(role === 'initiator' ? { expectedRemote: 'rabbit@b' } : {}),
    ...extra,
  });
}

/** Splits an encoded frame into kind and body. */
function parse(frame: Buffer): [number, Buffer] {
  let out: [number, Buffer] | undefined;
  new FrameDecoder({ onFrame: (kind, body) => (out = [kind, Buffer.from(body)]) }, 4096).push(frame);
  return out!;
}

function feed(to: Handshake, frame: Buffer | null): HandshakeStep {
  const [kind, body] = parse(frame!);
  return to.receive(kind, body);
}

/** Runs a whole exchange; returns both sides' last steps and every frame that crossed. */
function exchange(a: Handshake, b: Handshake) {
  const wire: Buffer[] = [];
  const hello = a.start()!;
  wire.push(hello);
  const challenge = feed(b, hello);
  wire.push(challenge.reply!);
  if (challenge.failure) return { a: null, b: challenge, wire };
  const proof = feed(a, challenge.reply);
  if (proof.failure) return { a: proof, b: challenge, wire };
  wire.push(proof.reply!);
  const accept = feed(b, proof.reply);
  wire.push(accept.reply!);
  const end = feed(a, accept.reply);
  return { a: end, b: accept, wire };
}

describe('Handshake', () => {
  it('succeeds with the same cookie, each side learning the other name and incarnation', () => {
    const { a, b } = exchange(party('initiator', 'COOKIE'), party('acceptor', 'COOKIE'));
    expect(a!.done).toEqual({ remoteNode: 'rabbit@b', remoteIncarnation: 22 });
    expect(b.done).toEqual({ remoteNode: 'rabbit@a', remoteIncarnation: 11 });
    expect(a!.failure).toBeNull();
  });

  it('fails on both sides with a different cookie: the acceptor refuses, the initiator learns why', () => {
    const { a, b } = exchange(party('initiator', 'COOKIE-A'), party('acceptor', 'COOKIE-B'));
    expect(b.failure?.code).toBe('COOKIE_MISMATCH');
    expect(b.done).toBeNull();
    const [kind, body] = parse(b.reply!);
    expect(kind).toBe(FrameKind.REFUSE);
    expect(packr.unpack(body)).toMatchObject({ reason: 'cookie' });
    expect(a!.failure?.code).toBe('COOKIE_MISMATCH');
    expect(a!.done).toBeNull();
  });

  it('never puts the cookie on the wire', () => {
    const cookie = 'VERYSECRETCOOKIEVALUE';
    const { wire } = exchange(party('initiator', cookie), party('acceptor', cookie));
    const bytes = Buffer.concat(wire);
    expect(bytes.length).toBeGreaterThan(100);
    expect(bytes.includes(Buffer.from(cookie))).toBe(false);
  });

  it('rejects a proof reflected back to the initiator as if it were the acceptor proof', () => {
    const a = party('initiator', 'COOKIE');
    const b = party('acceptor', 'COOKIE');
    const challenge = feed(b, a.start());
    const proof = feed(a, challenge.reply);
    const [, proofBody] = parse(proof.reply!);
    // An attacker without the cookie answers A's PROOF with A's own MAC.
    const reflected = a.receive(FrameKind.ACCEPT, proofBody);
    expect(reflected.failure?.code).toBe('COOKIE_MISMATCH');
  });

  it('rejects a proof replayed on another connection (fresh nonces)', () => {
    const a1 = party('initiator', 'COOKIE');
    const b1 = party('acceptor', 'COOKIE');
    const hello1 = a1.start();
    const proof1 = feed(a1, feed(b1, hello1).reply);
    expect(feed(b1, proof1.reply).done).not.toBeNull();
    // The attacker replays connection 1's HELLO and PROOF to a fresh acceptor.
    const b2 = party('acceptor', 'COOKIE');
    expect(feed(b2, hello1).failure).toBeNull();
    expect(feed(b2, proof1.reply).failure?.code).toBe('COOKIE_MISMATCH');
  });

  it('refuses a dialer that meant another node, and an initiator reaching the wrong node closes', () => {
    const wrongTarget = party('initiator', 'COOKIE', { expectedRemote: 'rabbit@c' });
    const step = feed(party('acceptor', 'COOKIE'), wrongTarget.start());
    expect(step.failure?.code).toBe('WRONG_NODE');
    expect(packr.unpack(parse(step.reply!)[1])).toMatchObject({ reason: 'wrong-node' });
    expect(feed(wrongTarget, step.reply).failure?.code).toBe('WRONG_NODE');
  });

  it('asks the registry after authentication and refuses a duplicate link', () => {
    const decisions: string[] = [];
    const admit = (node: string, inc: number): AdmitDecision => {
      decisions.push(`${node}/${inc}`);
      return 'duplicate';
    };
    const { a, b } = exchange(party('initiator', 'COOKIE'), party('acceptor', 'COOKIE', { admit }));
    expect(decisions).toEqual(['rabbit@a/11']);
    expect(b.failure?.code).toBe('DUPLICATE_LINK');
    expect(a!.failure?.code).toBe('DUPLICATE_LINK');
    // A wrong cookie never reaches the registry.
    decisions.length = 0;
    exchange(party('initiator', 'X'), party('acceptor', 'Y', { admit }));
    expect(decisions).toEqual([]);
  });

  it('treats garbage and out-of-order frames as protocol errors', () => {
    expect(party('acceptor', 'C').receive(FrameKind.HELLO, Buffer.from([0xc1])).failure?.code).toBe('PROTOCOL_ERROR');
    expect(party('acceptor', 'C').receive(FrameKind.PROOF, packr.pack({ mac: Buffer.alloc(32) })).failure?.code).toBe('PROTOCOL_ERROR');
    const step = party('acceptor', 'C').receive(FrameKind.HELLO, packr.pack({ p: 'warren-peer', v: 99 }));
    expect(step.failure?.code).toBe('PROTOCOL_ERROR');
    expect(packr.unpack(parse(step.reply!)[1])).toMatchObject({ reason: 'version' });
  });

  it('never throws on random input, and never completes without the cookie (fuzzed frames and flipped bits)', () => {
    const fuzz = new SeededRandom(99);
    for (let i = 0; i < 2000; i++) {
      const role = i % 2 === 0 ? 'initiator' : 'acceptor';
      const target = party(role, 'COOKIE');
      target.start();
      const body = Buffer.from(fuzz.bytes(fuzz.uint32() % 80));
      const kind = 1 + (fuzz.uint32() % 6);
      const result = target.receive(kind, body);
      expect(result.done).toBeNull();
    }
    // Flip one bit anywhere in a genuine exchange: it must fail, never succeed with altered data.
    let checked = 0;
    for (let i = 0; i < 300; i++) {
      const a = party('initiator', 'COOKIE');
      const b = party('acceptor', 'COOKIE');
      const frames = [a.start()!];
      const flipIn = fuzz.uint32() % 3;
      const flip = (frame: Buffer, n: number): Buffer => {
        if (n !== flipIn) return frame;
        const copy = Buffer.from(frame);
        const at = 5 + (fuzz.uint32() % (copy.length - 5));
        copy[at]! ^= 1 << fuzz.uint32() % 8;
        return copy;
      };
      const challenge = feed(b, flip(frames[0]!, 0));
      if (challenge.failure !== null) continue;
      const proof = feed(a, flip(challenge.reply!, 1));
      if (proof.failure !== null) continue;
      const accept = feed(b, flip(proof.reply!, 2));
      expect(accept.done).toBeNull();
      expect(accept.failure).not.toBeNull();
      checked++;
    }
    expect(checked).toBeGreaterThan(50);
  });
});
