/**
 * The runtime API: haproxy's CLI commands (haproxy: management.txt §9.3 "Unix Socket commands"), the subset that
 * matters for a TCP balancer. Used by the stats socket and by the stats page's admin POSTs.
 */
import type { Backend } from '../backend.ts';
import type { LoadBalancer } from '../load-balancer.ts';
import type { AdminState, Server } from '../server.ts';
import { statsCsv, statsJson } from '../stats/stats-format.ts';
import { collectStats } from '../stats/stats-rows.ts';

export type Level = 'user' | 'operator' | 'admin';

const HELP = `The following commands are valid at this level:
  help                                    : this message
  show info                               : report information about the running process
  show stat [json]                        : report counters for each proxy and server (CSV or JSON)
  show servers state [<backend>]          : dump server states
  show backend                            : list backends
  get weight <bk>/<srv>                   : report a server's current weight
  set weight <bk>/<srv> <w>[%]            : change a server's weight
  set server <bk>/<srv> state <state>     : ready | drain | maint
  set server <bk>/<srv> weight <w>[%]     : change a server's weight
  set server <bk>/<srv> health <state>    : up | stopping | down (force the check result)
  set maxconn server <bk>/<srv> <n>       : change a server's maxconn
  enable server <bk>/<srv>                : set a server to READY
  disable server <bk>/<srv>               : put a server into maintenance
  shutdown sessions server <bk>/<srv>     : kill a server's sessions
`;

const MODIFYING = /^(set|enable|disable|shutdown)\b/;

export function runCommand(lb: LoadBalancer, line: string, level: Level): string {
  const words = line.trim().split(/\s+/).filter(Boolean);
  const cmd = words.join(' ');
  if (words.length === 0) return '';
  if (MODIFYING.test(cmd) && level === 'user') return 'Permission denied\n';
  const [w0, w1, w2] = words;
  if (w0 === 'help') return HELP;
  if (w0 === 'show' && w1 === 'info') return showInfo(lb);
  if (w0 === 'show' && w1 === 'stat') return w2 === 'json' ? statsJson(collectStats(lb)) + '\n' : statsCsv(collectStats(lb)) + '\n';
  if (w0 === 'show' && w1 === 'servers' && w2 === 'state') return showServersState(lb, words[3]);
  if (w0 === 'show' && w1 === 'backend') return `# name\n${[...lb.backends.keys()].join('\n')}\n\n`;
  if (w0 === 'get' && w1 === 'weight') return withServer(lb, w2, (_be, s) => `${s.weight} (initial ${s.config.weight})\n`);
  if (w0 === 'set' && w1 === 'weight') return withServer(lb, w2, (be, s) => setWeight(lb, be, s, words[3]));
  if (w0 === 'enable' && w1 === 'server') return withServer(lb, w2, (be, s) => setState(lb, be, s, 'ready'));
  if (w0 === 'disable' && w1 === 'server') return withServer(lb, w2, (be, s) => setState(lb, be, s, 'maint'));
  if (w0 === 'shutdown' && w1 === 'sessions' && w2 === 'server') return withServer(lb, words[3], (_be, s) => shutdownSessions(s));
  if (w0 === 'set' && w1 === 'maxconn' && w2 === 'server') {
    return withServer(lb, words[3], (be, s) => {
      const n = Number(words[4]);
      if (!Number.isInteger(n) || n < 0) return 'Require <maxconn>.\n';
      s.config.maxconn = n;
      be.drainQueue();
      return '';
    });
  }
  if (w0 === 'set' && w1 === 'server') {
    const what = words[3];
    const arg = words[4];
    return withServer(lb, w2, (be, s) => {
      if (what === 'state') {
        if (arg !== 'ready' && arg !== 'drain' && arg !== 'maint') return "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n";
        return setState(lb, be, s, arg);
      }
      if (what === 'weight') return setWeight(lb, be, s, arg);
      if (what === 'health') return setHealth(lb, be, s, arg);
      return "'set server <srv>' only supports 'state', 'weight' and 'health'.\n";
    });
  }
  return `Unknown command: '${cmd}'\n${HELP}`;
}

function withServer(lb: LoadBalancer, spec: string | undefined, fn: (be: Backend, s: Server) => string): string {
  if (!spec) return "Require 'backend/server'.\n";
  const found = lb.findServer(spec);
  if (typeof found === 'string') return `${found}\n`;
  return fn(found.be, found.srv);
}

export function setState(lb: LoadBalancer, be: Backend, s: Server, state: AdminState): string {
  if (s.admin === state) return '';
  s.admin = state;
  const what = state === 'maint' ? 'going DOWN for maintenance' : state === 'drain' ? 'set to DRAIN' : 'UP (leaving maintenance)';
  lb.adminChanged(be, s, what);
  return '';
}

function setWeight(lb: LoadBalancer, be: Backend, s: Server, arg: string | undefined): string {
  const m = arg === undefined ? null : /^(\d+)(%?)$/.exec(arg);
  if (!m) return 'Require <weight>.\n';
  // haproxy: a percentage is relative to the initial weight; absolute weights are 0..256.
  const w = m[2] ? Math.round((s.config.weight * Number(m[1])) / 100) : Number(m[1]);
  if (w > 256) return 'Absolute weight can only be between 0 and 256 inclusive.\n';
  s.weight = w;
  lb.adminChanged(be, s, `now weighted ${w}`);
  return '';
}

function setHealth(lb: LoadBalancer, be: Backend, s: Server, arg: string | undefined): string {
  if (arg !== 'up' && arg !== 'down' && arg !== 'stopping') return "'set server <srv> health' expects 'up', 'stopping', or 'down'.\n";
  const t = s.health.force(arg === 'up');
  if (t) lb.adminChanged(be, s, t === 'up' ? 'UP (forced)' : 'DOWN (forced)');
  return '';
}

function shutdownSessions(s: Server): string {
  for (const x of [...s.sessions]) x.shutdown('killed by admin');
  return '';
}

function showInfo(lb: LoadBalancer): string {
  const up = Math.floor((lb.clock.now() - lb.startedAt) / 1000);
  return [
    'Name: warren-proxy',
    'Version: 0.1.0',
    `Pid: ${process.pid}`,
    `Uptime_sec: ${up}`,
    `Maxconn: ${lb.config.global.maxconn ?? ''}`,
    `CurrConns: ${lb.sessionCount}`,
    `Reloads: ${lb.reloads}`,
    `Stopping: ${lb.isStopping ? 1 : 0}`,
    '',
  ].join('\n') + '\n';
}

function showServersState(lb: LoadBalancer, only: string | undefined): string {
  let out = '1\n# be_name srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_check_status srv_check_health srv_cur_sess\n';
  for (const be of lb.backends.values()) {
    if (only && be.name !== only) continue;
    for (const s of be.servers) {
      const op = s.up ? 2 : 0; // haproxy: SRV_ST_RUNNING = 2, SRV_ST_STOPPED = 0
      const admin = s.admin === 'maint' ? 1 : s.admin === 'drain' ? 8 : 0;
      out += `${be.name} ${s.name} ${s.config.host}:${s.config.port ?? ''} ${op} ${admin} ${s.weight} ${s.config.weight} ${s.lastCheck?.status ?? 'INI'} ${s.health.health} ${s.cur}\n`;
    }
  }
  return out + '\n';
}
