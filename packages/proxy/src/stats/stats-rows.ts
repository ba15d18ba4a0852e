/**
 * The statistics as rows, one per frontend, server and backend, with haproxy's CSV column names
 * (haproxy: management.txt §9.1 "CSV format"). The CSV, JSON and HTML renderers all read these rows.
 */
import type { Backend } from '../backend.ts';
import { CHECK_DESCRIPTION } from '../health/check-result.ts';
import type { LoadBalancer } from '../load-balancer.ts';
import type { Server } from '../server.ts';

export const STAT_COLUMNS = [
  'pxname', 'svname', 'qcur', 'qmax', 'scur', 'smax', 'slim', 'stot', 'bin', 'bout', 'dreq', 'dresp', 'ereq', 'econ',
  'eresp', 'wretr', 'wredis', 'status', 'weight', 'act', 'bck', 'chkfail', 'chkdown', 'lastchg', 'downtime', 'qlimit',
  'pid', 'iid', 'sid', 'throttle', 'lbtot', 'tracked', 'type', 'rate', 'rate_lim', 'rate_max', 'check_status',
  'check_code', 'check_duration', 'hrsp_1xx', 'hrsp_2xx', 'hrsp_3xx', 'hrsp_4xx', 'hrsp_5xx', 'hrsp_other', 'hanafail',
  'req_rate', 'req_rate_max', 'req_tot', 'cli_abrt', 'srv_abrt', 'comp_in', 'comp_out', 'comp_byp', 'comp_rsp',
  'lastsess', 'last_chk', 'last_agt', 'qtime', 'ctime', 'rtime', 'ttime', 'agent_status', 'agent_code',
  'agent_duration', 'check_desc', 'agent_desc', 'check_rise', 'check_fall', 'check_health', 'agent_rise',
  'agent_fall', 'agent_health', 'addr', 'cookie', 'mode', 'algo',
] as const;

export type StatColumn = (typeof STAT_COLUMNS)[number];
export type StatRow = Partial<Record<StatColumn, string | number>>;

const TYPE_FRONTEND = 0;
const TYPE_BACKEND = 1;
const TYPE_SERVER = 2;

export function collectStats(lb: LoadBalancer): StatRow[] {
  const now = lb.clock.now();
  const rows: StatRow[] = [];
  let iid = 0;
  const pid = process.pid;
  for (const p of lb.config.proxies) {
    iid++;
    const fe = lb.frontends.get(p.name);
    if (fe) {
      rows.push({
        pxname: p.name,
        svname: 'FRONTEND',
        scur: fe.cur,
        smax: fe.smax,
        slim: fe.maxconn,
        stot: fe.stot,
        bin: fe.bytesIn(),
        bout: fe.bytesOut(),
        dreq: 0,
        dresp: 0,
        ereq: fe.dropped,
        status: fe.stopped ? 'STOP' : fe.cur >= fe.maxconn ? 'FULL' : 'OPEN',
        pid,
        iid,
        sid: 0,
        type: TYPE_FRONTEND,
        qcur: fe.waitingCount,
        mode: p.mode,
      });
    }
    const be = lb.backends.get(p.name);
    if (!be) continue;
    be.servers.forEach((s, i) => rows.push(serverRow(be, s, i + 1, iid, pid, now)));
    rows.push(backendRow(be, iid, pid, now));
  }
  return rows;
}

function serverRow(be: Backend, s: Server, sid: number, iid: number, pid: number, now: number): StatRow {
  const c = s.config;
  const chk = s.lastCheck;
  const downtime = s.downtimeMs + (s.downSince !== null ? now - s.downSince : 0);
  return {
    pxname: be.name,
    svname: s.name,
    qcur: s.queued,
    qmax: s.qmax,
    scur: s.cur,
    smax: s.smax,
    slim: c.maxconn || '',
    stot: s.stot,
    bin: s.bytesIn(),
    bout: s.bytesOut(),
    dresp: 0,
    econ: s.econ,
    eresp: s.eresp,
    wretr: s.wretr,
    wredis: s.wredis,
    status: s.status(),
    weight: s.weight,
    act: c.backup ? 0 : 1,
    bck: c.backup ? 1 : 0,
    chkfail: c.check ? s.chkfail : '',
    chkdown: c.check ? s.chkdown : '',
    lastchg: Math.floor((now - s.lastChange) / 1000),
    downtime: c.check ? Math.floor(downtime / 1000) : '',
    qlimit: c.maxqueue || '',
    pid,
    iid,
    sid,
    lbtot: s.lbtot,
    type: TYPE_SERVER,
    check_status: c.check ? (chk?.status ?? 'INI') : '',
    check_code: chk?.code ?? '',
    check_duration: chk ? chk.durationMs : '',
    last_chk: chk?.info ?? '',
    check_desc: c.check ? CHECK_DESCRIPTION[chk?.status ?? 'INI'] : '',
    check_rise: c.check ? c.rise : '',
    check_fall: c.check ? c.fall : '',
    check_health: c.check ? s.health.health : '',
    addr: `${c.host}:${c.port ?? ''}`,
    mode: be.config.mode,
  };
}

function backendRow(be: Backend, iid: number, pid: number, now: number): StatRow {
  const act = be.servers.filter((s) => !s.config.backup && s.usable).reduce((n, s) => n + s.weight, 0);
  const bck = be.servers.filter((s) => s.config.backup && s.usable).reduce((n, s) => n + s.weight, 0);
  return {
    pxname: be.name,
    svname: 'BACKEND',
    qcur: be.queued,
    qmax: be.qmax,
    scur: be.cur,
    smax: be.smax,
    stot: be.stot,
    bin: be.bytesIn(),
    bout: be.bytesOut(),
    dreq: 0,
    dresp: 0,
    econ: be.econ,
    eresp: 0,
    wretr: be.wretr,
    wredis: be.wredis,
    status: be.up ? 'UP' : 'DOWN',
    weight: act + bck,
    act: be.servers.filter((s) => !s.config.backup && s.usable).length,
    bck: be.servers.filter((s) => s.config.backup && s.usable).length,
    chkdown: be.servers.reduce((n, s) => n + s.chkdown, 0),
    lastchg: Math.floor((now - be.lastChange) / 1000),
    pid,
    iid,
    sid: 0,
    lbtot: be.lbtot,
    type: TYPE_BACKEND,
    mode: be.config.mode,
    algo: be.config.balance,
  };
}
