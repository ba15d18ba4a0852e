// Failover and start-up time, vrrpd vs keepalived, same keepalived.conf for both.
//
//   node --conditions=warren-source --import tsx bench/vrrp/failover.ts [--quick] [--runs N] [--only v2|v3] [--kinds crash,graceful,startup]
//
// Each failover run builds fresh namespaces (master, backup, client on one bridge), starts the implementation on
// master (priority 150) and backup (100), waits for a steady state, then starts `ping -D -i 0.01` from the client
// to the VIP and, CRASH_AFTER_ADVERT_MS after one of the master's adverts:
//  - crash: kill -9 of the daemon (and keepalived's VRRP child) plus link down, so that nothing but the backup can
//    answer; the backup takes over after Master_Down_Interval;
//  - graceful: SIGTERM to the daemon; it sends a priority 0 advert and removes the VIP, the backup takes over after
//    Skew_Time.
// Failover time = first echo reply after the kill - kill time; it includes detection, adding the VIP and the
// gratuitous ARP that repoints the client. A sniffer on the client (test/vrrp/tools/sniff-frames.pl, kernel
// timestamps) also gives the new master's first GARP relative to its first advert.
// Start-up: one node alone, from spawning the daemon to its "Entering BACKUP STATE" log line.
// Implementations are interleaved (alternating order per run); medians are reported.
// Writes bench/results/vrrp-failover.json and .md.

import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { keepalivedUnavailable, Lab, labUnavailable, REPO, sleep, stateOf, VRRPD_BIN, waitFor, type Proc } from '../../test/vrrp/lab.ts';

type Impl = 'vrrpd' | 'keepalived';
type Kind = 'crash' | 'graceful';

const SNIFFER = join(REPO, 'test/vrrp/tools/recv-vrrp.cjs');
const FRAMES = join(REPO, 'test/vrrp/tools/sniff-frames.pl');
const CRASH_AFTER_ADVERT_MS = 20;
const REPLY_GUARD_MS = 50;

interface Scenario {
  name: string;
  version: 2 | 3;
  advertInt: number;
  subnet: number;
}

const SCENARIOS: Scenario[] = [
  { name: 'v2, advert_int 1', version: 2, advertInt: 1, subnet: 21 },
  { name: 'v3, advert_int 0.1', version: 3, advertInt: 0.1, subnet: 22 },
];

const mdiMs = (s: Scenario, prio: number): number =>
  (3 * s.advertInt + (s.version === 3 ? ((256 - prio) * s.advertInt) / 256 : (256 - prio) / 256)) * 1000;

function conf(s: Scenario, node: string, priority: number, vip: string): string {
  const auth = s.version === 2 ? '    authentication {\n        auth_type PASS\n        auth_pass 123456\n    }\n' : '';
  return `global_defs {
    router_id ${node}
}
vrrp_instance VI_1 {
    state BACKUP
    interface eth0
    virtual_router_id 51
    version ${s.version}
    priority ${priority}
    advert_int ${s.advertInt}
${auth}    virtual_ipaddress {
        ${vip}/24
    }
}
`;
}

function start(lab: Lab, impl: Impl, node: string, text: string): Proc & { statusSock?: string } {
  return impl === 'vrrpd' ? lab.vrrpd(node, text) : lab.keepalived(node, text);
}

async function isBackup(impl: Impl, p: Proc & { statusSock?: string }): Promise<boolean> {
  if (impl === 'vrrpd') return (await stateOf(p.statusSock!)) === 'BACKUP';
  return /Entering BACKUP STATE/.test(p.output());
}

interface RunResult {
  scenario: string;
  kind: Kind;
  impl: Impl;
  run: number;
  failoverMs: number | null;
  vipOnBackupMs: number | null;
  /** The new master's first GARP minus its first advert (negative: the GARP went first). */
  garpAfterAdvertMs: number | null;
}

/** First frame times from the new master after `after` (unix ms): its first advert and its first GARP for `vip`. */
function newMasterFrames(out: string, ip: string, mac: string, vip: string, after: number): { advert?: number; garp?: number; reply?: number } {
  const ipHex = ip.split('.').map((x) => Number(x).toString(16).padStart(2, '0')).join('');
  const vipHex = vip.split('.').map((x) => Number(x).toString(16).padStart(2, '0')).join('');
  const macHex = mac.replace(/:/g, '');
  const r: { advert?: number; garp?: number; reply?: number } = {};
  for (const line of out.split('\n')) {
    const [t, h] = line.split(' ');
    if (h === undefined || !/^\d/.test(line)) continue;
    const at = Number(t) * 1000;
    if (at < after) continue;
    const type = h.slice(24, 28);
    if (r.advert === undefined && type === '0800' && h.slice(52, 60) === ipHex) r.advert = at;
    if (r.garp === undefined && type === '0806' && h.slice(12, 24) === macHex && h.slice(56, 64) === vipHex) r.garp = at;
    // The first echo reply from the VIP sent by the new master's MAC (the old one may answer until it stops).
    if (r.reply === undefined && type === '0800' && h.slice(46, 48) === '01' && h.slice(12, 24) === macHex && h.slice(52, 60) === vipHex) r.reply = at;
  }
  return r;
}

async function oneRun(s: Scenario, kind: Kind, impl: Impl, run: number): Promise<RunResult> {
  const lab = new Lab(`b${s.subnet}${impl[0]}`, s.subnet);
  const vip = lab.ip(100);
  const res: RunResult = { scenario: s.name, kind, impl, run, failoverMs: null, vipOnBackupMs: null, garpAfterAdvertMs: null };
  try {
    lab.up();
    lab.addNode('m', 1);
    lab.addNode('b', 2);
    lab.addNode('c', 9);
    const backup = start(lab, impl, 'b', conf(s, 'b', 100, vip));
    const master = start(lab, impl, 'm', conf(s, 'm', 150, vip));
    const ready = await waitFor(async () => lab.hasAddr('m', vip) && (await isBackup(impl, backup)) && lab.ping('c', vip), 30_000, 100);
    if (ready === undefined) throw new Error(`${impl}: no steady state\n${lab.dump()}`);
    await sleep(Math.max(1000, s.advertInt * 2000));
    // Client probe: 100 echo requests per second, each reply stamped with the wall clock (-D).
    const ping = spawn('ip', ['netns', 'exec', lab.ns('c'), 'ping', '-n', '-D', '-i', '0.01', vip], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    ping.stdout.on('data', (d: Buffer) => (out += d.toString()));
    // Crash at a fixed phase: CRASH_AFTER_ADVERT_MS after an advert from the master reaches the client, so the
    // result does not swing by up to one advert interval with where in the cycle the crash happens.
    const sniff = spawn('ip', ['netns', 'exec', lab.ns('c'), process.execPath, SNIFFER, 'eth0', '60000'], { stdio: ['ignore', 'pipe', 'ignore'] });
    // Adverts printed before we are ready are read and dropped: only one that arrives after arming counts.
    let armed = false;
    let onAdvert: () => void = () => undefined;
    sniff.stdout.on('data', (d: Buffer) => {
      if (armed && d.toString().includes(`"src":"${lab.ip(1)}"`)) onAdvert();
    });
    await sleep(300);
    await new Promise<void>((resolve) => {
      onAdvert = resolve;
      armed = true;
    });
    sniff.kill('SIGKILL');
    const frames = spawn('ip', ['netns', 'exec', lab.ns('c'), 'perl', FRAMES, 'eth0', '60', 'icmp'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let frameOut = '';
    frames.stdout.on('data', (d: Buffer) => (frameOut += d.toString()));
    await waitFor(() => frameOut.includes('ready'), 10_000);
    await sleep(CRASH_AFTER_ADVERT_MS);
    const t0 = Date.now();
    const p0 = performance.now();
    if (kind === 'crash') {
      lab.kill(master);
      lab.setPort('m', false);
    } else {
      lab.kill(master, 'SIGTERM');
    }
    // Until the link is down the dead master's kernel still answers for the VIP, and a reply it sent just before
    // can be read by ping a few ms later: only replies from REPLY_GUARD_MS after the link went down count (no
    // real takeover is that fast: it takes at least Master_Down_Interval minus one advert interval).
    // Graceful: the old master answers until it has removed the VIP, so only replies from the backup's MAC
    // would be exact; the first reply after the old master's priority 0 advert plus the guard is close enough
    // (no takeover is faster than Skew_Time, 61 ms at 0.1 s).
    const tDown = Date.now() + REPLY_GUARD_MS;
    const vipAt = await waitFor(() => lab.hasAddr('b', vip), mdiMs(s, 100) + 10_000, 5);
    if (vipAt !== undefined) res.vipOnBackupMs = performance.now() - p0;
    const firstReply = (): number | undefined => {
      for (const m of out.matchAll(/^\[(\d+\.\d+)\] \d+ bytes from/gm)) {
        const ts = Number(m[1]) * 1000;
        if (ts > tDown) return ts;
      }
      return undefined;
    };
    await waitFor(() => firstReply() !== undefined, 10_000, 10);
    const fr = firstReply();
    if (fr !== undefined) res.failoverMs = fr - t0;
    ping.kill('SIGKILL');
    await sleep(200);
    frames.kill('SIGKILL');
    const f = newMasterFrames(frameOut, lab.ip(2), lab.mac('b'), vip, t0);
    if (f.advert !== undefined && f.garp !== undefined) res.garpAfterAdvertMs = f.garp - f.advert;
    // Exact when the sniffer saw it: the first reply from the new master's MAC, on the client's kernel clock.
    if (f.reply !== undefined) res.failoverMs = f.reply - t0;
    void backup;
  } finally {
    await lab.down();
  }
  return res;
}

const median = (xs: number[]): number | null => {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** Spawn to the "Entering BACKUP STATE" log line, one node alone (a fresh namespace per run). */
async function oneStartup(impl: Impl, run: number): Promise<{ impl: Impl; run: number; startupMs: number | null }> {
  const lab = new Lab(`b23${impl[0]}`, 23);
  try {
    lab.up();
    lab.addNode('m', 1);
    const text = conf(SCENARIOS[1]!, 'm', 100, lab.ip(100));
    const t0 = performance.now();
    const p = start(lab, impl, 'm', text);
    const at = await waitFor(() => /Entering BACKUP STATE/.test(p.output()), 60_000, 2);
    return { impl, run, startupMs: at === undefined ? null : performance.now() - t0 };
  } finally {
    await lab.down();
  }
}

async function main(): Promise<void> {
  const why = labUnavailable() ?? keepalivedUnavailable();
  if (why !== undefined) {
    console.error(`vrrp failover bench needs root, ip netns, ping, arping and keepalived: ${why}`);
    process.exit(2);
  }
  const quick = process.argv.includes('--quick');
  const ri = process.argv.indexOf('--runs');
  const runs = ri > 0 ? Number(process.argv[ri + 1]) : quick ? 3 : 7;
  const oi = process.argv.indexOf('--only');
  const only = oi > 0 ? process.argv[oi + 1] : undefined; // e.g. --only v3
  const scenarios = SCENARIOS.filter((s) => only === undefined || s.name.startsWith(only));
  const ki = process.argv.indexOf('--kinds');
  const kinds = (ki > 0 ? process.argv[ki + 1]! : 'crash,graceful,startup').split(',');
  const failoverKinds = (['crash', 'graceful'] as Kind[]).filter((k) => kinds.includes(k));
  const results: RunResult[] = [];
  for (const kind of failoverKinds) {
    for (const s of scenarios) {
      for (let r = 0; r < runs; r++) {
        const order: Impl[] = r % 2 === 0 ? ['vrrpd', 'keepalived'] : ['keepalived', 'vrrpd'];
        for (const impl of order) {
          const res = await oneRun(s, kind, impl, r);
          results.push(res);
          console.log(
            `${kind} ${s.name} run ${r} ${impl}: failover ${res.failoverMs?.toFixed(0) ?? 'n/a'} ms (VIP on backup after ${res.vipOnBackupMs?.toFixed(0) ?? 'n/a'} ms, GARP - advert ${res.garpAfterAdvertMs?.toFixed(1) ?? 'n/a'} ms)`,
          );
        }
      }
    }
  }
  const startups: { impl: Impl; run: number; startupMs: number | null }[] = [];
  if (kinds.includes('startup')) {
    // The wrapper rebuilds its bundle when a source is newer: do that before timing anything.
    spawnSync(VRRPD_BIN, ['-h'], { stdio: 'ignore' });
    for (let r = 0; r < runs; r++) {
      for (const impl of (r % 2 === 0 ? ['vrrpd', 'keepalived'] : ['keepalived', 'vrrpd']) as Impl[]) {
        const res = await oneStartup(impl, r);
        startups.push(res);
        console.log(`startup run ${r} ${impl}: ${res.startupMs?.toFixed(0) ?? 'n/a'} ms`);
      }
    }
  }
  const summary = failoverKinds.flatMap((kind) =>
    scenarios.flatMap((s) =>
      (['vrrpd', 'keepalived'] as Impl[]).map((impl) => {
        const rs = results.filter((r) => r.kind === kind && r.scenario === s.name && r.impl === impl);
        const f = rs.flatMap((r) => (r.failoverMs === null ? [] : [r.failoverMs]));
        const v = rs.flatMap((r) => (r.vipOnBackupMs === null ? [] : [r.vipOnBackupMs]));
        const g = rs.flatMap((r) => (r.garpAfterAdvertMs === null ? [] : [r.garpAfterAdvertMs]));
        return {
          kind,
          scenario: s.name,
          impl,
          runs: rs.length,
          failed: rs.length - f.length,
          medianFailoverMs: median(f),
          minFailoverMs: f.length > 0 ? Math.min(...f) : null,
          maxFailoverMs: f.length > 0 ? Math.max(...f) : null,
          medianVipOnBackupMs: median(v),
          medianGarpAfterAdvertMs: median(g),
          expectedMs: kind === 'crash' ? mdiMs(s, 100) : s.version === 3 ? ((256 - 100) * s.advertInt * 1000) / 256 : ((256 - 100) * 1000) / 256,
        };
      }),
    ),
  );
  const startupSummary = (['vrrpd', 'keepalived'] as Impl[]).map((impl) => {
    const xs = startups.filter((x) => x.impl === impl).flatMap((x) => (x.startupMs === null ? [] : [x.startupMs]));
    return { impl, runs: xs.length, medianStartupMs: median(xs), minStartupMs: xs.length > 0 ? Math.min(...xs) : null, maxStartupMs: xs.length > 0 ? Math.max(...xs) : null };
  });
  const dir = join(REPO, 'bench/results');
  mkdirSync(dir, { recursive: true });
  const meta = { date: new Date().toISOString(), runs, quick, node: process.version, host: `${process.platform} ${process.arch}` };
  writeFileSync(join(dir, 'vrrp-failover.json'), `${JSON.stringify({ meta, summary, startupSummary, results, startups }, null, 2)}\n`);
  const fmt = (x: number | null, d = 0): string => (x === null ? 'n/a' : x.toFixed(d));
  const md = [
    '# VRRP failover and start-up: vrrpd vs keepalived',
    '',
    `${meta.date}, ${runs} runs per cell, interleaved; ${meta.node}. Crash: kill -9 + link down of the master, ${CRASH_AFTER_ADVERT_MS} ms`,
    'after one of its adverts; graceful: SIGTERM to the master at the same point. Failover = the first echo reply from the VIP',
    'seen by a client pinging every 10 ms (includes detection, VIP add and the gratuitous ARP). Expected: Master_Down_Interval',
    '(crash) or Skew_Time (graceful) for the backup\'s priority 100, minus the crash phase, plus the takeover work.',
    '"GARP - advert": the new master\'s first GARP minus its first advert as the client\'s kernel timestamps them.',
    '',
    '| kind | scenario | implementation | median ms | min | max | VIP on backup (median ms) | GARP - advert (median ms) | expected ms | failed runs |',
    '|---|---|---|---|---|---|---|---|---|---|',
    ...summary.map(
      (x) =>
        `| ${x.kind} | ${x.scenario} | ${x.impl} | ${fmt(x.medianFailoverMs)} | ${fmt(x.minFailoverMs)} | ${fmt(x.maxFailoverMs)} | ${fmt(x.medianVipOnBackupMs)} | ${fmt(x.medianGarpAfterAdvertMs, 2)} | ${x.expectedMs.toFixed(0)} | ${x.failed} |`,
    ),
    '',
    ...(startupSummary.some((x) => x.runs > 0)
      ? [
          'Start-up: spawning the daemon (vrrpd: `packages/vrrp/bin/vrrpd`) to its "Entering BACKUP STATE" log line, one node alone.',
          '',
          '| implementation | median ms | min | max | runs |',
          '|---|---|---|---|---|',
          ...startupSummary.map((x) => `| ${x.impl} | ${fmt(x.medianStartupMs)} | ${fmt(x.minStartupMs)} | ${fmt(x.maxStartupMs)} | ${x.runs} |`),
          '',
        ]
      : []),
    'Reproduce: `node --conditions=warren-source --import tsx bench/vrrp/failover.ts [--quick] [--runs N] [--only v3] [--kinds crash,graceful,startup]` as root.',
    '',
  ].join('\n');
  writeFileSync(join(dir, 'vrrp-failover.md'), md);
  console.log(md);
}

await main();
// Exit even if a killed helper's pipe still holds the event loop open (a finished run kept the lock otherwise).
process.exit(0);
