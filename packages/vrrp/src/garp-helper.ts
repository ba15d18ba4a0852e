// Gratuitous ARPs through a long-lived helper holding an AF_PACKET socket, so the first GARP of a takeover leaves
// within a fraction of a millisecond of the transition, as keepalived's (which sends them from its own process).
//
// Why a helper, and why perl: an ARP frame needs an AF_PACKET socket, which the raw-socket addon (AF_INET and
// AF_INET6 only) cannot open and Node cannot open at all; starting iputils `arping` for every burst costs a fork
// and an exec per GARP, 10-55 ms on a busy machine, and clients only switch to the new master when its GARP
// arrives. perl is part of Debian's essential set (perl-base), and the script below uses no module: it opens the
// socket once at start (socket(AF_PACKET, SOCK_RAW, 0): protocol 0 receives nothing) and then only sends. It runs
// in the real-time scheduling class where allowed (realtime.ts), so it is not left waiting for a CPU.
//
// Protocol: we write "<id> <ifindex> <count> <frame hex> [<frame hex> ...]\n"; the helper sends each frame
// `count` times back to back to the broadcast address on that interface and answers "<id> <error text or
// nothing>\n". If perl is missing or the helper dies, `available` turns false and the caller falls back to arping.

import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { childProcess } from './builtins.ts';
import { realtimeArgv } from './realtime.ts';

const HELPER_SCRIPT = `$| = 1;
socket(my $s, 17, 3, 0) or die "socket(AF_PACKET): $!\\n";
print "ready\\n";
while (my $l = <STDIN>) {
  chomp $l;
  my ($id, $ifindex, $count, @frames) = split / /, $l;
  my $to = pack('S n i S C C a8', 17, 0x0806, $ifindex, 1, 0, 6, "\\xff" x 6);
  my $err = '';
  for my $f (@frames) {
    my $b = pack('H*', $f);
    for (1 .. $count) { defined(send($s, $b, 0, $to)) or $err = "$!"; }
  }
  print "$id $err\\n";
}`;

export const GARP_HELPER_TIMEOUT_MS = 5000;

interface Pending {
  resolve: (err: string | undefined) => void;
  timer: NodeJS.Timeout;
}

export class GarpHelper {
  private child: ChildProcessWithoutNullStreams | undefined;
  private failed = false;
  private seq = 0;
  private buf = '';
  private stderr = '';
  private readonly pending = new Map<number, Pending>();
  /** Requests made before the helper said "ready": written once it has, if still wanted then. */
  private early: { line: string; wanted: () => boolean; id: number }[] = [];
  private ready = false;

  /** `onFail` hears once why the helper cannot be used (then GARPs go another way). */
  constructor(private readonly onFail: (why: string) => void = () => undefined) {}

  /** Start the helper ahead of the first takeover. */
  warm(): void {
    this.ensure();
  }

  /** False once the helper could not be started or has died: use another way to send GARPs. */
  get available(): boolean {
    return !this.failed;
  }

  /** Why the helper is unavailable (its stderr), for the log. */
  get failure(): string {
    return this.stderr.trim() || 'perl not available';
  }

  private ensure(): ChildProcessWithoutNullStreams | undefined {
    if (this.failed) return undefined;
    if (this.child !== undefined) return this.child;
    try {
      const [cmd, args] = realtimeArgv(['perl', '-e', HELPER_SCRIPT]);
      const c = childProcess().spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
      c.stdout.setEncoding('utf8');
      c.stdout.on('data', (d: string) => this.onData(d));
      c.stderr.setEncoding('utf8');
      c.stderr.on('data', (d: string) => (this.stderr += d));
      c.on('error', () => this.fail(c));
      c.on('exit', () => this.fail(c));
      c.stdin.on('error', () => this.fail(c));
      this.child = c;
      return c;
    } catch (e) {
      this.failed = true;
      this.onFail((e as Error).message);
      return undefined;
    }
  }

  private fail(c: ChildProcessWithoutNullStreams): void {
    if (this.child !== c) return;
    this.child = undefined;
    this.failed = true;
    this.early = [];
    this.onFail(this.failure);
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      this.pending.delete(id);
      p.resolve(`GARP helper exited: ${this.failure}`);
    }
  }

  private onData(d: string): void {
    this.buf += d;
    for (;;) {
      const nl = this.buf.indexOf('\n');
      if (nl < 0) return;
      const line = this.buf.slice(0, nl);
      this.buf = this.buf.slice(nl + 1);
      const sp = line.indexOf(' ');
      if (sp < 0) {
        if (line === 'ready') this.onReady();
        continue;
      }
      const err = line.slice(sp + 1);
      this.answer(Number(line.slice(0, sp)), err === '' ? undefined : err);
    }
  }

  // A burst asked for while the helper was still starting goes out now, unless it is stale (the instance left
  // MASTER meanwhile): sent late, it would repoint the clients to a router that no longer holds the VIP.
  private onReady(): void {
    this.ready = true;
    const c = this.child;
    for (const e of this.early.splice(0)) {
      if (c !== undefined && e.wanted()) c.stdin.write(e.line);
      else this.answer(e.id, undefined);
    }
  }

  private answer(id: number, err: string | undefined): void {
    const p = this.pending.get(id);
    if (p === undefined) return;
    this.pending.delete(id);
    clearTimeout(p.timer);
    p.resolve(err);
  }

  /**
   * Send `count` copies of each frame on interface `ifindex`. The line is written before this returns (the frames
   * leave as soon as the helper reads it); resolves to the helper's error text, or undefined when all were sent.
   * Returns undefined when the helper is unavailable.
   */
  send(ifindex: number, frames: readonly Buffer[], count: number, wanted: () => boolean = () => true): Promise<string | undefined> | undefined {
    const c = this.ensure();
    if (c === undefined) return undefined;
    const id = ++this.seq;
    const done = new Promise<string | undefined>((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        resolve('GARP helper did not answer');
      }, GARP_HELPER_TIMEOUT_MS);
      this.pending.set(id, { resolve, timer });
    });
    const line = `${id} ${ifindex} ${count} ${frames.map((f) => f.toString('hex')).join(' ')}\n`;
    if (this.ready) c.stdin.write(line);
    else this.early.push({ line, wanted, id });
    return done;
  }

  close(): void {
    const c = this.child;
    this.child = undefined;
    c?.stdin.end();
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      this.pending.delete(id);
      p.resolve(undefined);
    }
  }
}
