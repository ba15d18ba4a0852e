// Failover time, vrrpd vs keepalived, same keepalived.conf for both.
//
//   node --conditions=warren-source --import tsx bench/vrrp/failover.ts [--quick] [--runs N] [--only v2|v3]
//
// Each run builds fresh namespaces (master, backup, client on one bridge), starts the implementation on master
// (priority 150) and backup (100), waits for a steady state, then starts `ping -D -i 0.01` from the client to the
// VIP and crashes the master host CRASH_AFTER_ADVERT_MS after one of its adverts: kill -9 of the daemon (and keepalived's VRRP child) plus link down, so that
// nothing but the backup can answer. Failover time = first echo reply after the crash - crash time; it includes
// Master_Down_Interval detection, adding the VIP and the gratuitous ARP that repoints the client.
// Implementations are interleaved (alternating order per run); medians are reported.
// Writes bench/results/vrrp-failover.json and .md.

import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { keepalivedUnavailable, Lab, labUnavailable, REPO, sleep, stateOf, waitFor, type Proc } from '../../test/vrrp/lab.ts';

type Impl = 'vrrpd' | 'keepalived';

const SNIFFER = join(REPO, 'test/vrrp/tools/recv-vrrp.cjs');
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
  impl: Impl;
  run: number;
  failoverMs: number | null;
  vipOnBackupMs: number | null;
}

async function oneRun(s: Scenario, impl: Impl, run: number): Promise<RunResult> {
  const lab = new Lab(`b${s.subnet}${impl[0]}`, s.subnet);
  const vip = lab.ip(100);
  const res: RunResult = { scenario: s.name, impl, run, failoverMs: null, vipOnBackupMs: null };
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
    await sleep(CRASH_AFTER_ADVERT_MS);
    const t0 = Date.now();
    const p0 = performance.now();
    lab.kill(master);
    lab.setPort('m', false);
    // Until the link is down the dead master's kernel still answers for the VIP, and a reply it sent just before
    // can be read by ping a few ms later: only replies from REPLY_GUARD_MS after the link went down count (no
    // real takeover is that fast: it takes at least Master_Down_Interval minus one advert interval).
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
  const results: RunResult[] = [];
  for (const s of scenarios) {
    for (let r = 0; r < runs; r++) {
      const order: Impl[] = r % 2 === 0 ? ['vrrpd', 'keepalived'] : ['keepalived', 'vrrpd'];
      for (const impl of order) {
        const res = await oneRun(s, impl, r);
        results.push(res);
        console.log(`${s.name} run ${r} ${impl}: failover ${res.failoverMs?.toFixed(0) ?? 'n/a'} ms (VIP on backup after ${res.vipOnBackupMs?.toFixed(0) ?? 'n/a'} ms)`);
      }
    }
  }
  const summary = scenarios.flatMap((s) =>
    (['vrrpd', 'keepalived'] as Impl[]).map((impl) => {
      const rs = results.filter((r) => r.scenario === s.name && r.impl === impl);
      const f = rs.flatMap((r) => (r.failoverMs === null ? [] : [r.failoverMs]));
      const v = rs.flatMap((r) => (r.vipOnBackupMs === null ? [] : [r.vipOnBackupMs]));
      return {
        scenario: s.name,
        impl,
        runs: rs.length,
        failed: rs.length - f.length,
        medianFailoverMs: median(f),
        minFailoverMs: f.length > 0 ? Math.min(...f) : null,
        maxFailoverMs: f.length > 0 ? Math.max(...f) : null,
        medianVipOnBackupMs: median(v),
        masterDownIntervalMs: mdiMs(s, 100),
      };
    }),
  );
  const dir = join(REPO, 'bench/results');
  mkdirSync(dir, { recursive: true });
  const meta = { date: new Date().toISOString(), runs, quick, node: process.version, host: `${process.platform} ${process.arch}` };
  writeFileSync(join(dir, 'vrrp-failover.json'), `${JSON.stringify({ meta, summary, results }, null, 2)}\n`);
  const fmt = (x: number | null): string => (x === null ? 'n/a' : x.toFixed(0));
  const md = [
    '# VRRP failover: vrrpd vs keepalived',
    '',
    `${meta.date}, ${runs} runs per cell, interleaved; ${meta.node}. Master crash (kill -9 + link down, ${CRASH_AFTER_ADVERT_MS} ms after`,
    'one of its adverts) to the first echo reply from the VIP seen by a client pinging every 10 ms (includes detection,',
    'VIP add and the gratuitous ARP). Expected: Master_Down_Interval minus the crash phase, plus the takeover work.',
    'Backup priority 100; Master_Down_Interval is the RFC value for that priority.',
    '',
    '| scenario | implementation | median ms | min | max | VIP on backup (median ms) | Master_Down_Interval ms | failed runs |',
    '|---|---|---|---|---|---|---|---|',
    ...summary.map(
      (x) =>
        `| ${x.scenario} | ${x.impl} | ${fmt(x.medianFailoverMs)} | ${fmt(x.minFailoverMs)} | ${fmt(x.maxFailoverMs)} | ${fmt(x.medianVipOnBackupMs)} | ${x.masterDownIntervalMs.toFixed(0)} | ${x.failed} |`,
    ),
    '',
    'Reproduce: `node --conditions=warren-source --import tsx bench/vrrp/failover.ts [--quick] [--runs N]` as root.',
    '',
  ].join('\n');
  writeFileSync(join(dir, 'vrrp-failover.md'), md);
  console.log(md);
}

await main();
