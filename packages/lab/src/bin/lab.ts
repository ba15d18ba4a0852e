// lab: the seeds' whole topology on one machine (see packages/lab/README.md and docs/lab.md).
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Lab, down, up, leftovers } from '../lab.ts';
import { BROKERS, HOSTS, LBS, host, nodeName } from '../topology.ts';
import { DEFAULT_DIR, readState } from '../state.ts';
import { snapshot, formatSnapshot } from '../observe.ts';
import { SCENARIOS, runScenarios } from '../scenarios.ts';
import { serve } from '../serve.ts';

const USAGE = `usage: lab <command> [options]

The seeds' RabbitMQ cluster (rabbitmq01 ram, rabbitmq02 disc, rabbitmq03 ram) behind two load balancers (haproxy01,
haproxy02: proxy + vrrpd sharing a virtual IP) and a client host, in network namespaces on this machine.

Commands:
  up [--loopback] [--real-haproxy H,..] [--real-keepalived H,..] [--no-page]
                     build the lab and start everything; prints the configs' paths and the live page's address.
                     --loopback: no namespaces (no root needed): brokers and proxies on loopback ports, no VRRP.
                     --real-haproxy / --real-keepalived: Debian's haproxy / keepalived on these load-balancer
                     hosts (haproxy01, haproxy02, or all) instead of Warren's proxy / vrrpd
  status [--json]    nodes, virtual IP, proxies' backend states, queues
  down               stop every process, delete every namespace and file the lab made (also after a crash)
  shell HOST         a shell in HOST's namespace, brokerctl (and rabbitmqctl) pointed at its node
  run NAME|all [--svg-dir DIR]
                     run scenarios while a client publishes and consumes through the virtual IP; a verdict each
  list               the scenarios
  kill|hang|resume|restart HOST [broker|proxy|vrrp]
  cut|uncut HOST     take HOST's network link down / up
  configs            print the generated configs

Options: --dir DIR (default ${DEFAULT_DIR}, or WARREN_LAB_DIR), --prefix P (namespace prefix, default wlab),
         --subnet A.B.C (default 10.221.21)`;

function parse(argv: string[]): { cmd: string; pos: string[]; opt: Map<string, string | true> } {
  const opt = new Map<string, string | true>();
  const pos: string[] = [];
  const withValue = new Set(['--dir', '--prefix', '--subnet', '--real-haproxy', '--real-keepalived', '--port', '--svg-dir']);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a.startsWith('--')) {
      if (withValue.has(a)) {
        const v = argv[++i];
        if (v === undefined) fail(`${a} needs a value`);
        opt.set(a, v);
      } else opt.set(a, true);
    } else pos.push(a);
  }
  return { cmd: pos.shift() ?? 'help', pos, opt };
}

function fail(msg: string): never {
  process.stderr.write(`lab: ${msg}\n`);
  process.exit(64);
}

function hostsList(v: string | true | undefined): string[] {
  if (v === undefined) return [];
  if (v === true || v === 'all') return LBS.map((h) => h.name);
  const list = v.split(',');
  for (const h of list) if (!LBS.some((l) => l.name === h)) fail(`${h} is not a load-balancer host (${LBS.map((l) => l.name).join(', ')})`);
  return list;
}

async function main(): Promise<number> {
  const { cmd, pos, opt } = parse(process.argv.slice(2));
  const dir = (opt.get('--dir') as string | undefined) ?? DEFAULT_DIR;
  const prefix = (opt.get('--prefix') as string | undefined) ?? readState(dir)?.prefix ?? 'wlab';
  const subnet = (opt.get('--subnet') as string | undefined) ?? '10.221.21';
  if (!/^[a-z][a-z0-9]{0,6}$/.test(prefix)) fail(`--prefix must be 1-7 lower-case letters or digits, starting with a letter (namespace and link names are limited to 15 characters)`);
  if (!/^\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(subnet)) fail(`--subnet takes the first three octets of a /24, as 10.221.21`);
  const log = (l: string): void => void process.stdout.write(`${l}\n`);
  switch (cmd) {
    case 'up': {
      const t0 = Date.now();
      const lab = await up({
        dir,
        prefix,
        subnet,
        loopback: opt.has('--loopback'),
        realHaproxy: hostsList(opt.get('--real-haproxy')),
        realKeepalived: hostsList(opt.get('--real-keepalived')),
        page: !opt.has('--no-page'),
        log,
      }).catch(async (e: Error) => {
        process.stderr.write(`lab: ${e.message}\n`);
        if (readState(dir) !== null && !e.message.startsWith('a lab is already up')) {
          process.stderr.write('lab: taking down what was made (logs are kept until then in the lab directory)\n');
          await down(dir, prefix, () => {});
        }
        process.exit(1);
      });
      log(`lab up in ${((Date.now() - t0) / 1000).toFixed(1)} s (${lab.s.mode}), directory ${dir}`);
      printConfigsIndex(lab);
      if (!lab.netns) log('VRRP needs root (raw sockets and addresses in network namespaces): this loopback lab has no virtual IP; clients connect to haproxy02\'s frontend.');
      log(`client URL: ${lab.clientUrl()}`);
      if (lab.s.pagePort !== null) log(`live page: http://127.0.0.1:${lab.s.pagePort}/`);
      log(formatSnapshot(await snapshot(lab)));
      return 0;
    }
    case 'down':
      await down(dir, prefix, log);
      if (process.getuid?.() === 0) {
        const left = leftovers(dir, prefix);
        if (left.length > 0) {
          log(`left behind: ${left.join(', ')}`);
          return 1;
        }
      }
      log('lab down: nothing left behind');
      return 0;
    case 'status': {
      const lab = Lab.open(dir);
      const snap = await snapshot(lab);
      log(opt.has('--json') ? JSON.stringify(snap, null, 2) : formatSnapshot(snap));
      return 0;
    }
    case 'configs': {
      const lab = Lab.open(dir);
      for (const f of configFiles(lab)) log(`===== ${f}\n${readFileSync(f, 'utf8')}`);
      return 0;
    }
    case 'shell': {
      const lab = Lab.open(dir);
      const h = pos[0] ?? fail('lab shell HOST');
      host(h);
      const env = { ...process.env, ...lab.hostEnv(h), PATH: `${join(dir, 'bin')}:${process.env['PATH'] ?? ''}`, PS1: `[lab ${h}] \\w# `, WARREN_LAB_DIR: dir };
      const argv = lab.wrap(h, ['bash', '--norc', '-i']);
      process.stdout.write(`${h}: ${lab.netns ? `namespace ${lab.ns(h)}, address ${lab.addr(h)}` : 'loopback lab (no namespace)'}; brokerctl talks to ${nodeName(h.startsWith('rabbit') ? h : BROKERS.find((b) => b.type === 'disc')!.name)}. exit to leave.\n`);
      const r = spawnSync(argv[0]!, argv.slice(1), { stdio: 'inherit', env, cwd: join(dir, h) });
      return r.status ?? 0;
    }
    case 'kill':
    case 'hang':
    case 'resume':
    case 'restart':
    case 'cut':
    case 'uncut': {
      const lab = Lab.open(dir);
      const h = pos[0] ?? fail(`lab ${cmd} HOST`);
      host(h);
      const kind = pos[1];
      if (kind !== undefined && !['broker', 'proxy', 'vrrp', 'vrrpd', 'haproxy', 'keepalived'].includes(kind)) fail(`unknown process ${kind} (broker, proxy, vrrp)`);
      const k = kind === 'vrrp' ? (lab.s.real.keepalived.includes(h) ? 'keepalived' : 'vrrpd') : kind === 'proxy' && lab.s.real.haproxy.includes(h) ? 'haproxy' : kind;
      if (cmd === 'kill') await lab.kill(h, k);
      else if (cmd === 'hang') lab.hang(h, k);
      else if (cmd === 'resume') lab.resume(h);
      else if (cmd === 'restart') lab.restart(h, k);
      else lab.cut(h, cmd === 'cut');
      log(`${cmd} ${h}${kind ? ` ${kind}` : ''}: done`);
      return 0;
    }
    case 'list':
      for (const sc of SCENARIOS) log(`${sc.name.padEnd(22)} ${sc.claim}`);
      return 0;
    case 'run': {
      const lab = Lab.open(dir);
      const name = pos[0] ?? fail('lab run NAME|all (lab list shows the scenarios)');
      const names = name === 'all' ? SCENARIOS.map((s) => s.name) : pos;
      const results = await runScenarios(lab, names, { svgDir: (opt.get('--svg-dir') as string | undefined) ?? join(dir, 'runs'), log });
      return results.every((r) => r.pass) ? 0 : 1;
    }
    case 'serve':
      await serve(dir, Number(opt.get('--port') ?? 0));
      return await new Promise<number>(() => {});
    case 'help':
    case '--help':
    case '-h':
      log(USAGE);
      return 0;
    default:
      fail(`unknown command ${cmd}\n${USAGE}`);
  }
}

function configFiles(lab: Lab): string[] {
  const out = [join(lab.s.dir, 'rabbitmq.conf')];
  for (const lb of LBS) out.push(join(lab.s.dir, lb.name, 'haproxy.cfg'), join(lab.s.dir, lb.name, 'keepalived.conf'), join(lab.s.dir, lb.name, 'chk_haproxy.sh'));
  return out;
}

function printConfigsIndex(lab: Lab): void {
  process.stdout.write('configs (lab configs prints them):\n');
  for (const f of configFiles(lab)) process.stdout.write(`  ${f}\n`);
  process.stdout.write(`hosts: ${HOSTS.map((h) => `${h.name} ${lab.addr(h.name)}${h.type ? ` (${h.type})` : ''}`).join(', ')}${lab.netns ? `; virtual IP ${lab.vip}` : ''}\n`);
}

// the AMQP client library reports some socket errors (ECONNRESET while a load balancer dies) as rejections nobody
// awaits; a scenario must note them and go on, not die with its lab half-broken
process.on('unhandledRejection', (e) => {
  process.stderr.write(`lab: (ignored) ${(e as Error)?.message ?? String(e)}\n`);
});

main().then(
  (code) => process.exit(code),
  (e: Error) => {
    process.stderr.write(`lab: ${e.message}\n`);
    process.exit(1);
  },
);
